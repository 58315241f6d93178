// matmul_c_f32.wgsl — the storage type of C in matmul_tiled.wgsl and
// matmul_coop.wgsl: `out4` = vec4<f32> (f32 outputs, and the partial
// products of a split K, which are summed in f32).
alias out4 = vec4<f32>;
