// dropout.wgsl — inverted dropout with a counter-based RNG:
//   y[i] = x[i] * scale if bits(i) >= threshold, else 0, for i < n, where
//   bits(i) = lowbias32(lowbias32(i ^ key0) ^ key1) >> 8 (24 bits), i.e.
//   uniform(i) = bits(i) * 2^-24 >= p with threshold = ceil(p * 2^24) and
//   scale = 1 / (1 - p). key0, key1 derive from (seed, stream) on the host;
//   the same integer code runs in src/ops/dropout/cpu.rs, so masks are identical.
// Bindings: 0 x: [n] act, 1 y: [n] act (f32, or f16 in the half-precision
// variant for activations: act_f16.wgsl; the product is f32, rounded once), 2 params (n, threshold, key0, key1, scale, first).
// first: x is elements first.. of a larger tensor (a data-parallel rank's rows) and
// element i draws the mask of element first + i (u32, wrapping).
// Grid: groups of 256 folded into 2-D: i = (wg.y * num_wg.x + wg.x) * 256 + lid.

struct Params {
    n: u32,
    threshold: u32,
    key0: u32,
    key1: u32,
    scale: f32,
    first: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read_write> y: array<act>;
@group(0) @binding(2) var<uniform> params: Params;

// Chris Wellons' lowbias32 mixer (u32 arithmetic wraps in WGSL).
fn lowbias32(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n) {
        return;
    }
    let bits = lowbias32(lowbias32((i + params.first) ^ params.key0) ^ params.key1) >> 8u;
    if (bits >= params.threshold) {
        y[i] = act(f32(x[i]) * params.scale);
    } else {
        y[i] = act(0.0);
    }
}
