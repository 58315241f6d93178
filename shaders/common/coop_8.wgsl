// coop_8.wgsl — the cooperative-matrix kernels on 8 x 8 x 8 blocks (f16
// A/B, f32 C): Apple GPUs, Mesa's lavapipe. After coop_enable.wgsl.
const CS: u32 = 8u;
alias CoopA = coop_mat8x8<f16, A>;
alias CoopB = coop_mat8x8<f16, B>;
alias CoopC = coop_mat8x8<f32, C>;
