// to_f32.wgsl — an f16 tensor (DType::F16's layout: element 2i in the low
// half of word i) widened to f32, exactly: half-precision activations back
// to f32 where the encoder's output leaves it. Needs no shader-f16
// (unpack2x16float is core WGSL).
//   x: ceil(n / 2) u32 words -> y: [n] f32.
// Bindings: 0 x, 1 y, 2 params (n). Grid: one invocation per word, groups
// of 256 folded into 2-D: word w = (wg.y * num_wg.x + wg.x) * 256 + lid.

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let w = (wg.y * nwg.x + wg.x) * 256u + li;
    let n = params.n;
    if (2u * w >= n) {
        return;
    }
    let v = unpack2x16float(x[w]);
    y[2u * w] = v.x;
    if (2u * w + 1u < n) {
        y[2u * w + 1u] = v.y;
    }
}
