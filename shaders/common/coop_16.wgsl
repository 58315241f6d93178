// coop_16.wgsl — the cooperative-matrix kernels on 16 x 16 x 16 blocks (f16
// A/B, f32 C): NVIDIA and AMD Vulkan drivers. After coop_enable.wgsl.
const CS: u32 = 16u;
alias CoopA = coop_mat16x16<f16, A>;
alias CoopB = coop_mat16x16<f16, B>;
alias CoopC = coop_mat16x16<f32, C>;
