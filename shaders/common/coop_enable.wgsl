// coop_enable.wgsl — the extensions of the cooperative-matrix kernels
// (matmul_coop.wgsl, flash_attention_coop.wgsl, the two
// flash_attention_backward_*_coop.wgsl), first in their source
// (WGSL wants them before any declaration): f16 arithmetic and wgpu's
// cooperative matrices (native only; subgroup builtins need no `enable` in
// naga). The device must have SHADER_F16, SUBGROUP and
// EXPERIMENTAL_COOPERATIVE_MATRIX (src/gpu/coop.rs).
enable f16;
enable wgpu_cooperative_matrix;
