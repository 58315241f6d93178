// matmul_tiled_b_f16.wgsl — matmul_tiled.wgsl's B operand stored as f16
// (binding 1), two elements per 32-bit word, element 2w in the low half:
//   b4_at(v) is B's elements 4v .. 4v + 3 (one 8-byte load) widened to f32
//   (exactly). Needs no shader-f16 feature: unpack2x16float is core WGSL.
@group(0) @binding(1) var<storage, read> b: array<vec2<u32>>;

fn b4_at(v: u32) -> vec4<f32> {
    let w = b[v];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
