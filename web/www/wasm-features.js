// Job: says whether this browser's WebAssembly has relaxed SIMD (`self.dnagpuRelaxedSimd`), for worker.js (which build
// to load) and sw.js (which builds to keep offline); a classic script, loaded by importScripts or as a module import.

/** A module whose one function is `f32x4.relaxed_madd` of its three v128 parameters: valid only with relaxed SIMD. */
self.dnagpuRelaxedSimd = WebAssembly.validate(
  new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // magic, version 1
    1, 8, 1, 0x60, 3, 0x7b, 0x7b, 0x7b, 1, 0x7b, // types: (v128, v128, v128) -> v128
    3, 2, 1, 0, // one function of that type
    10, 13, 1, 11, 0, 0x20, 0, 0x20, 1, 0x20, 2, 0xfd, 0x85, 0x02, 0x0b, // local.get 0 1 2, f32x4.relaxed_madd, end
  ]),
);

/**
 * The build folders (pkg/ or pkg-threads/, with -relaxed) to try for the threaded build or not, best first: the
 * relaxed-SIMD build and then the plain one where relaxed SIMD validates, else the plain one alone.
 */
self.dnagpuBuilds = (threaded) => {
  const plain = threaded ? 'pkg-threads' : 'pkg';
  return self.dnagpuRelaxedSimd ? [`${plain}-relaxed`, plain] : [plain];
};
