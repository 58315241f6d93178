// to_f16.wgsl — an f32 tensor rounded to f16 (to nearest, ties to even, as
// IEEE 754 and the CPU twin's `half::f16::from_f32`; overflow gives ±inf,
// values below half the smallest subnormal ±0, NaN stays NaN), computed on
// the bits so that every device rounds alike (WGSL leaves the rounding of
// f16() and pack2x16float to the implementation).
//   x: [n] f32 -> y: ceil(n / 2) u32 words, element 2i in the low half of
//   word i (DType::F16's layout); the high half of a last odd word is 0.
// Bindings: 0 x, 1 y, 2 params (n). Grid: one invocation per word, groups
// of 256 folded into 2-D: word w = (wg.y * num_wg.x + wg.x) * 256 + lid.

struct Params {
    n: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

// Rounds `bits` (a significand with `drop` bits below the kept ones) to
// nearest, ties to even; a carry may run into the exponent, as it should.
fn round_drop(bits: u32, drop: u32) -> u32 {
    let kept = bits >> drop;
    let rest = bits & ((1u << drop) - 1u);
    let half = 1u << (drop - 1u);
    return kept + u32(rest > half || (rest == half && (kept & 1u) == 1u));
}

fn f16_bits(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    let sign = (b >> 16u) & 0x8000u;
    let exp = i32((b >> 23u) & 0xffu);
    let mant = b & 0x7fffffu;
    if (exp == 255) {
        // Inf, or NaN kept quiet.
        return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u);
    }
    let e = exp - 112; // the f16 exponent field: exp - 127 + 15
    if (e >= 31) {
        return sign | 0x7c00u;
    }
    if (e <= 0) {
        if (e < -10) {
            return sign;
        }
        // Subnormal: the significand with its leading 1, 14 - e bits dropped.
        return sign | round_drop(mant | 0x800000u, u32(14 - e));
    }
    return sign | round_drop((u32(e) << 23u) | mant, 13u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let w = (wg.y * nwg.x + wg.x) * 256u + li;
    let n = params.n;
    if (2u * w >= n) {
        return;
    }
    var hi = 0u;
    if (2u * w + 1u < n) {
        hi = f16_bits(x[2u * w + 1u]);
    }
    y[w] = f16_bits(x[2u * w]) | (hi << 16u);
}
