// flash_attention.wgsl — multi-head attention forward with ALiBi and a key
// padding mask, never materialising the T x T score matrix.
// Layout (packed QKV, straight from the fused Wqkv projection):
//   qkv:    [B, T, 3H] f32, token row = [q (H) | k (H) | v (H)], head h at
//           columns h*D .. h*D + D of each part (H = heads * D).
//   mask:   [B, T] u32, nonzero = real token, 0 = padding (any position).
//   slopes: [heads] f32, ALiBi slope m_h (all 0 = no positional bias).
//   out:    [B, T, H] f32, heads concatenated back.
//   lse:    [B, heads, T] f32, natural log-sum-exp of each row's scores, for
//           the backward pass; -3.4e38 for a row with no valid key.
// Scores: s[i, j] = (q_i · k_j) * scale - m_h * |i - j| over valid keys j;
//   out_i = sum_j softmax_j(s[i, :]) v_j. A row with no valid key gives 0.
//   Padded keys are skipped (the reference adds -10000, which underflows to
//   exactly 0 after softmax in f32: same result).
// Work: one invocation per query row, 64 rows per workgroup; K and V tiles of
// BC = min(64, 2048 / D) keys staged in workgroup memory; online softmax
// rescales the running sum once per tile. D <= 128.
// Grid: (ceil(T / 64), B * heads, 1).

struct Params {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    scale: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const BR: u32 = 64u;
const MAX_D: u32 = 128u;
const TILE_FLOATS: u32 = 2048u;
const MAX_BC: u32 = 64u;
const NEG_BIG: f32 = -3.4028235e38;

var<workgroup> ks: array<f32, 2048>;
var<workgroup> vs: array<f32, 2048>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = params.seq;
    let d = params.head_dim;
    let hid = params.heads * d;
    let b = wg.y / params.heads;
    let h = wg.y % params.heads;
    let i = wg.x * BR + li;
    let row_ok = i < t;
    let bc = min(MAX_BC, TILE_FLOATS / d);
    let slope = slopes[h];

    var q: array<f32, 128>;
    var acc: array<f32, 128>;
    for (var dd = 0u; dd < d; dd++) {
        acc[dd] = 0.0;
        q[dd] = 0.0;
        if (row_ok) {
            q[dd] = qkv[(b * t + i) * 3u * hid + h * d + dd] * params.scale;
        }
    }
    var m = NEG_BIG;
    var l = 0.0;
    var s: array<f32, 64>;

    for (var j0 = 0u; j0 < t; j0 += bc) {
        let nk = min(bc, t - j0);
        workgroupBarrier();
        for (var e = li; e < nk * d; e += BR) {
            let jj = e / d;
            let base = (b * t + j0 + jj) * 3u * hid + h * d + e % d;
            ks[e] = qkv[base + hid];
            vs[e] = qkv[base + 2u * hid];
        }
        workgroupBarrier();
        if (row_ok) {
            var tile_max = NEG_BIG;
            for (var jj = 0u; jj < nk; jj++) {
                let j = j0 + jj;
                if (mask[b * t + j] != 0u) {
                    var dot = 0.0;
                    for (var dd = 0u; dd < d; dd++) {
                        dot = fma(q[dd], ks[jj * d + dd], dot);
                    }
                    let dist = f32(max(i, j) - min(i, j));
                    s[jj] = dot - slope * dist;
                    tile_max = max(tile_max, s[jj]);
                } else {
                    s[jj] = NEG_BIG;
                }
            }
            if (tile_max > NEG_BIG) {
                let m_new = max(m, tile_max);
                let alpha = exp(m - m_new);
                l *= alpha;
                for (var dd = 0u; dd < d; dd++) {
                    acc[dd] *= alpha;
                }
                for (var jj = 0u; jj < nk; jj++) {
                    if (s[jj] > NEG_BIG) {
                        let pj = exp(s[jj] - m_new);
                        l += pj;
                        for (var dd = 0u; dd < d; dd++) {
                            acc[dd] = fma(pj, vs[jj * d + dd], acc[dd]);
                        }
                    }
                }
                m = m_new;
            }
        }
    }

    if (row_ok) {
        let o = (b * t + i) * hid + h * d;
        var inv = 0.0;
        if (l > 0.0) {
            inv = 1.0 / l;
            lse[(b * params.heads + h) * t + i] = m + log(l);
        } else {
            lse[(b * params.heads + h) * t + i] = NEG_BIG;
        }
        for (var dd = 0u; dd < d; dd++) {
            out[o + dd] = acc[dd] * inv;
        }
    }
}
