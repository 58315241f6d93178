// to_f32.wgsl — an f16 tensor (DType::F16's layout: element 2i in the low
// half of word i) widened to f32, exactly: half-precision activations back
// to f32 where the encoder's output leaves it. Computed on the bits (as
// to_f16.wgsl): unpack2x16float may flush subnormals. Needs no shader-f16.
//   x: ceil(n / 2) u32 words -> y: [n] f32.
// Bindings: 0 x, 1 y, 2 params (n). Grid: one invocation per word, groups
// of 256 folded into 2-D: word w = (wg.y * num_wg.x + wg.x) * 256 + lid.

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// The f32 of f16 bits `h`: inf and NaN kept, subnormals normalised.
fn f32_of(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let exp = (h >> 10u) & 0x1fu;
    var mant = h & 0x3ffu;
    if (exp == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (mant << 13u));
    }
    if (exp == 0u) {
        if (mant == 0u) {
            return bitcast<f32>(sign);
        }
        // Subnormal: shift the leading 1 up to bit 10, lowering the exponent.
        var e = 113u; // 127 - 15 + 1
        while ((mant & 0x400u) == 0u) {
            mant <<= 1u;
            e -= 1u;
        }
        return bitcast<f32>(sign | (e << 23u) | ((mant & 0x3ffu) << 13u));
    }
    return bitcast<f32>(sign | ((exp + 112u) << 23u) | (mant << 13u));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let w = (wg.y * nwg.x + wg.x) * 256u + li;
    let n = params.n;
    if (2u * w >= n) {
        return;
    }
    let word = x[w];
    y[2u * w] = f32_of(word & 0xffffu);
    if (2u * w + 1u < n) {
        y[2u * w + 1u] = f32_of(word >> 16u);
    }
}
