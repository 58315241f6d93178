// flash_attention_tiled.wgsl — the forward of flash_attention.wgsl (same
// bindings, layouts, scores, padding rules and outputs; see its header) for
// head dim D = 64, blocked so that each value staged in workgroup memory
// feeds several FMAs of each invocation.
//   qkv: [B, T, 3H] packed q | k | v (`act4`: f32, or f16 with act_f16.wgsl); mask: [B, T] u32; slopes: [heads];
//   out: [B, T, H]; lse: [B, heads, T] (-3.4e38 for a row with no valid key).
// Work: a workgroup of 256 invocations owns 64 query rows of one (b, h) and
// walks the keys in tiles of 32:
//   scores:  invocation t computes rows 2 (t % 32) + {0, 1} x keys
//            4 (t / 32) + {0..3} from Q^T (staged once, pre-scaled) and K^T;
//            the tile's row maxima go through `red`; every invocation keeps
//            the running max m of the rows it touches (all compute the same
//            values) and its own part of the row sums l, rescaled as m grows;
//   output:  invocation t accumulates rows 4 (t / 16) + {0..3} x head
//            features 4 (t % 16) + {0..3} from P^T (written over K^T) and V
//            (loaded over `red` once the maxima are read), rescaled by each
//            row's alpha = exp(m_old - m_new).
// Workgroup memory: 32 KiB (Q^T 16, K^T / P^T 8, red + key validity / V 8):
// ops/attention/mod.rs uses it where the device allows that much, else
// flash_attention.wgsl.
// Grid: (ceil(T / 64), B * heads, 1).

@group(0) @binding(0) var<storage, read> qkv: array<act4>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<act4>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params; // common/attention_params.wgsl

const D: u32 = 64u;
const BR: u32 = 64u;
const BC: u32 = 32u;

var<workgroup> qt: array<f32, 4096>;       // [D][BR], scaled
var<workgroup> kt: array<vec4<f32>, 512>;  // K^T [D][BC], then P^T [BC][BR]
// First red ([8][BR] row partials, floats 0..511) and the keys' validity
// (floats 512..543, 0 or 1), then V [BC][D].
var<workgroup> vs: array<vec4<f32>, 512>;

fn red_set(at: u32, v: f32) {
    vs[at >> 2u][at & 3u] = v;
}

fn red_get(at: u32) -> f32 {
    return vs[at >> 2u][at & 3u];
}

// The max of a row over the tile (from `red`), and the running max after it.
fn row_max(row: u32, m_old: f32) -> f32 {
    var m_new = m_old;
    for (var c = 0u; c < 8u; c++) {
        m_new = max(m_new, red_get(c * BR + row));
    }
    return m_new;
}

fn rescale(m_old: f32, m_new: f32) -> f32 {
    if (m_new > NEG_BIG) {
        return exp(m_old - m_new);
    }
    return 1.0;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = params.seq;
    let hid4 = params.heads * (D / 4u);  // vec4s per q (or k, v) part of a token row
    let b = wg.y / params.heads;
    let h = wg.y % params.heads;
    let i0 = wg.x * BR;
    let slope = slopes[h];
    let head4 = h * (D / 4u);

    // Q^T, scaled: 64 rows x 16 vec4; row-fastest so stores do not conflict.
    for (var e = li; e < BR * 16u; e += 256u) {
        let r = e % BR;
        let c = e / BR;
        var v = vec4<f32>(0.0);
        if (i0 + r < t) {
            v = vec4<f32>(qkv[(b * t + i0 + r) * 3u * hid4 + head4 + c]) * params.scale;
        }
        for (var q = 0u; q < 4u; q++) {
            qt[(4u * c + q) * BR + r] = v[q];
        }
    }

    // Score-phase roles.
    let sq = 2u * (li % 32u);  // first of two query rows
    let w = li / 32u;          // which four keys of the tile
    let sk = 4u * w;
    var m = array<f32, 2>(NEG_BIG, NEG_BIG);
    var l = array<f32, 2>(0.0, 0.0);
    // Output-phase roles.
    let oq = 4u * (li / 16u);  // first of four query rows
    let oc = li % 16u;         // vec4 of head features
    var acc: array<vec4<f32>, 4>;
    var om: array<f32, 4>;
    for (var r = 0u; r < 4u; r++) {
        acc[r] = vec4<f32>(0.0);
        om[r] = NEG_BIG;
    }

    for (var j0 = 0u; j0 < t; j0 += BC) {
        // K^T (key-fastest: the transposed stores hit distinct banks) and V
        // (feature-fastest: coalesced) of keys j0 .. j0 + 31, zero past T.
        for (var e = li; e < BC * 16u; e += 256u) {
            let kk = e % BC;
            let c = e / BC;
            var kv = vec4<f32>(0.0);
            if (j0 + kk < t) {
                kv = vec4<f32>(qkv[(b * t + j0 + kk) * 3u * hid4 + hid4 + head4 + c]);
            }
            for (var q = 0u; q < 4u; q++) {
                let at = (4u * c + q) * BC + kk;
                kt[at >> 2u][at & 3u] = kv[q];
            }
        }
        if (li < BC) {
            var valid = 0.0;
            if (j0 + li < t && mask[b * t + j0 + li] != 0u) {
                valid = 1.0;
            }
            red_set(512u + li, valid);
        }
        workgroupBarrier();

        // Scores of 2 rows x 4 keys.
        var s: array<vec4<f32>, 2>;
        s[0] = vec4<f32>(0.0);
        s[1] = vec4<f32>(0.0);
        for (var d = 0u; d < D; d++) {
            let kd = kt[d * (BC / 4u) + sk / 4u];
            s[0] = fma(vec4<f32>(qt[d * BR + sq]), kd, s[0]);
            s[1] = fma(vec4<f32>(qt[d * BR + sq + 1u]), kd, s[1]);
        }
        for (var r = 0u; r < 2u; r++) {
            let i = i0 + sq + r;
            var tmax = NEG_BIG;
            for (var c = 0u; c < 4u; c++) {
                let j = j0 + sk + c;
                if (red_get(512u + sk + c) != 0.0) {
                    s[r][c] -= slope * f32(max(i, j) - min(i, j));
                    tmax = max(tmax, s[r][c]);
                } else {
                    s[r][c] = NEG_BIG;
                }
            }
            red_set(w * BR + sq + r, tmax);
        }
        workgroupBarrier();

        // Running maxima, P^T over K^T, this invocation's part of l; the
        // output rows' rescaling.
        for (var r = 0u; r < 4u; r++) {
            let m_new = row_max(oq + r, om[r]);
            acc[r] *= rescale(om[r], m_new);
            om[r] = m_new;
        }
        for (var r = 0u; r < 2u; r++) {
            let row = sq + r;
            let m_new = row_max(row, m[r]);
            let alpha = rescale(m[r], m_new);
            var lsum = 0.0;
            for (var c = 0u; c < 4u; c++) {
                var p = 0.0;
                if (s[r][c] > NEG_BIG) {
                    p = exp(s[r][c] - m_new);
                }
                lsum += p;
                let at = (sk + c) * BR + row;
                kt[at >> 2u][at & 3u] = p;
            }
            l[r] = l[r] * alpha + lsum;
            m[r] = m_new;
        }
        workgroupBarrier();

        // V over `red` (feature-fastest: coalesced).
        for (var e = li; e < BC * 16u; e += 256u) {
            let vk = e / 16u;
            var vv = vec4<f32>(0.0);
            if (j0 + vk < t) {
                vv = vec4<f32>(qkv[(b * t + j0 + vk) * 3u * hid4 + 2u * hid4 + head4 + e % 16u]);
            }
            vs[e] = vv;
        }
        workgroupBarrier();

        // O (4 rows x 4 features) += P V.
        for (var kk = 0u; kk < BC; kk++) {
            let p = kt[kk * (BR / 4u) + oq / 4u];
            let v = vs[kk * 16u + oc];
            acc[0] = fma(vec4<f32>(p.x), v, acc[0]);
            acc[1] = fma(vec4<f32>(p.y), v, acc[1]);
            acc[2] = fma(vec4<f32>(p.z), v, acc[2]);
            acc[3] = fma(vec4<f32>(p.w), v, acc[3]);
        }
        workgroupBarrier();
    }

    // Row sums: the eight parts of each row.
    for (var r = 0u; r < 2u; r++) {
        red_set(w * BR + sq + r, l[r]);
    }
    workgroupBarrier();
    for (var r = 0u; r < 4u; r++) {
        let row = oq + r;
        let i = i0 + row;
        if (i < t) {
            var lt = 0.0;
            for (var c = 0u; c < 8u; c++) {
                lt += red_get(c * BR + row);
            }
            var inv = 0.0;
            if (lt > 0.0) {
                inv = 1.0 / lt;
            }
            out[(b * t + i) * hid4 + head4 + oc] = act4(acc[r] * inv);
        }
    }
    // lse: the row's max is known to its score-phase invocations.
    if (w == 0u) {
        for (var r = 0u; r < 2u; r++) {
            let row = sq + r;
            let i = i0 + row;
            if (i < t) {
                var lt = 0.0;
                for (var c = 0u; c < 8u; c++) {
                    lt += red_get(c * BR + row);
                }
                var v = NEG_BIG;
                if (lt > 0.0) {
                    v = m[r] + log(lt);
                }
                lse[(b * params.heads + h) * t + i] = v;
            }
        }
    }
}
