// matmul_b_f16.wgsl — matmul.wgsl's B operand stored as f16 (binding 1),
// two elements per 32-bit word, element 2w in the low half:
//   b_at(i) is element i of B widened to f32 (exactly). Needs no shader-f16
//   feature: unpack2x16float is core WGSL.
@group(0) @binding(1) var<storage, read> b: array<u32>;

fn b_at(i: u32) -> f32 {
    return unpack2x16float(b[i >> 1u])[i & 1u];
}
