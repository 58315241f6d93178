// matmul_c_f16.wgsl — the storage type of C in matmul_tiled.wgsl and
// matmul_coop.wgsl: `out4` = vec4<f16>, the products of half-precision
// activations (sums in f32, rounded once as they are stored).
alias out4 = vec4<f16>;
