// flash_attention.wgsl — multi-head attention forward with ALiBi and a key
// padding mask, never materialising the T x T score matrix.
// Layout (packed QKV, straight from the fused Wqkv projection):
//   qkv:    [B, T, 3H] `act`, token row = [q (H) | k (H) | v (H)], head h at
//           columns h*D .. h*D + D of each part (H = heads * D).
//   mask:   [B, T] u32, nonzero = real token, 0 = padding (any position).
//   slopes: [heads] f32, ALiBi slope m_h (all 0 = no positional bias).
//   out:    [B, T, H] `act`, heads concatenated back.
//   `act` is f32, or f16 (common/act_f16.wgsl: half-precision activations;
//   the arithmetic stays f32).
//   lse:    [B, heads, T] f32, natural log-sum-exp of each row's scores, for
//           the backward pass; -3.4e38 for a row with no valid key.
// Scores: s[i, j] = (q_i · k_j) * scale - m_h * |i - j| over valid keys j;
//   out_i = sum_j softmax_j(s[i, :]) v_j. A row with no valid key gives 0.
//   Padded keys are skipped (the reference adds -10000, which underflows to
//   exactly 0 after softmax in f32: same result).
// Work: one invocation per query row, 64 rows per workgroup; K and V tiles of
// BC keys staged in workgroup memory as vec4 (D padded with zeros to 4 * D4);
// online softmax rescales the running sum once per tile.
// Overrides D (head dim), D4, BC, the row count BR and load_qkv4: the
// prepended common/attention_rows.wgsl.
// Grid: (ceil(T / 64), B * heads, 1).

@group(0) @binding(0) var<storage, read> qkv: array<act>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params; // common/attention_params.wgsl

// 16 KiB in all: WebGPU's default workgroup storage limit.
var<workgroup> ks: array<vec4<f32>, 512>;
var<workgroup> vs: array<vec4<f32>, 512>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = params.seq;
    let hid = params.heads * D;
    let b = wg.y / params.heads;
    let h = wg.y % params.heads;
    let i = wg.x * BR + li;
    let row_ok = i < t;
    let slope = slopes[h];

    var q: array<vec4<f32>, 32>;
    var acc: array<vec4<f32>, 32>;
    for (var c = 0u; c < D4; c++) {
        acc[c] = vec4<f32>(0.0);
        q[c] = vec4<f32>(0.0);
        if (row_ok) {
            q[c] = load_qkv4((b * t + i) * 3u * hid + h * D, c) * params.scale;
        }
    }
    var m = NEG_BIG;
    var l = 0.0;
    var s: array<f32, 64>;

    for (var j0 = 0u; j0 < t; j0 += BC) {
        workgroupBarrier();
        for (var r = 0u; r < (BC * D4 + BR - 1u) / BR; r++) {
            let e = li + r * BR;
            let jj = e / D4;
            if (e < BC * D4 && j0 + jj < t) {
                let base = (b * t + j0 + jj) * 3u * hid + h * D;
                ks[e] = load_qkv4(base + hid, e % D4);
                vs[e] = load_qkv4(base + 2u * hid, e % D4);
            }
        }
        workgroupBarrier();
        if (row_ok) {
            var tile_max = NEG_BIG;
            for (var jj = 0u; jj < BC; jj++) {
                s[jj] = NEG_BIG;
                // Every invocation reads the same mask word: a broadcast load.
                if (j0 + jj < t && mask[b * t + j0 + jj] != 0u) {
                    var dot = vec4<f32>(0.0);
                    for (var c = 0u; c < D4; c++) {
                        dot = fma(q[c], ks[jj * D4 + c], dot);
                    }
                    let j = j0 + jj;
                    let dist = f32(max(i, j) - min(i, j));
                    s[jj] = dot.x + dot.y + dot.z + dot.w - slope * dist;
                    tile_max = max(tile_max, s[jj]);
                }
            }
            if (tile_max > NEG_BIG) {
                let m_new = max(m, tile_max);
                let alpha = exp(m - m_new);
                l *= alpha;
                for (var c = 0u; c < D4; c++) {
                    acc[c] *= alpha;
                }
                for (var jj = 0u; jj < BC; jj++) {
                    if (s[jj] > NEG_BIG) {
                        let pj = exp(s[jj] - m_new);
                        l += pj;
                        for (var c = 0u; c < D4; c++) {
                            acc[c] = fma(vec4<f32>(pj), vs[jj * D4 + c], acc[c]);
                        }
                    }
                }
                m = m_new;
            }
        }
    }

    if (row_ok) {
        let o = (b * t + i) * hid + h * D;
        var inv = 0.0;
        if (l > 0.0) {
            inv = 1.0 / l;
            lse[(b * params.heads + h) * t + i] = m + log(l);
        } else {
            lse[(b * params.heads + h) * t + i] = NEG_BIG;
        }
        for (var c = 0u; c < D4; c++) {
            let v = acc[c] * inv;
            for (var e = 0u; e < 4u; e++) {
                if (4u * c + e < D) {
                    out[o + 4u * c + e] = act(v[e]);
                }
            }
        }
    }
}
