// matmul_b_f32.wgsl — matmul.wgsl's B operand stored as f32 (binding 1):
//   b_at(i) is element i of B.
@group(0) @binding(1) var<storage, read> b: array<f32>;

fn b_at(i: u32) -> f32 {
    return b[i];
}
