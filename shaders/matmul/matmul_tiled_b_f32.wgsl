// matmul_tiled_b_f32.wgsl — matmul_tiled.wgsl's B operand stored as f32
// (binding 1): b4_at(v) is B's v-th vec4 (elements 4v .. 4v + 3).
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;

fn b4_at(v: u32) -> vec4<f32> {
    return b[v];
}
