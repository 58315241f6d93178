// matmul_coop_16.wgsl — matmul_coop.wgsl on 16 x 16 x 16 cooperative
// matrices (f16 A/B, f32 C): NVIDIA, AMD and Intel Vulkan drivers. After
// matmul_coop_enable.wgsl.
const CS: u32 = 16u;
alias CoopA = coop_mat16x16<f16, A>;
alias CoopB = coop_mat16x16<f16, B>;
alias CoopC = coop_mat16x16<f32, C>;
