// flash_attention_backward_q.wgsl — attention backward, query side: for each
// query row i, D_i = dO_i · O_i and dQ_i, with the scores recomputed tile by
// tile from the forward's log-sum-exp (no T x T buffer, no atomics).
// Layout (as flash_attention.wgsl; H = heads * D, head h at columns h*D..):
//   qkv:    [B, T, 3H] act (the forward's saved activation: f32, or f16 in
//           the half-precision variant, act_f16.wgsl), token row =
//           [q (H) | k (H) | v (H)]. Gradients (dout, dqkv) are f32 in both.
//   mask:   [B, T] u32, nonzero = real token, 0 = padding.
//   slopes: [heads] f32, ALiBi slope m_h.
//   out:    [B, T, H] act, the forward's output O.
//   lse:    [B, heads, T] f32, the forward's log-sum-exp.
//   dout:   [B, T, H] f32, dL/dO.
//   dqkv:   [B, T, 3H] f32; this kernel writes the dq columns (0 .. H) of
//           every token, 0 for padded tokens (flash_attention_backward_kv.wgsl
//           writes the dk and dv columns).
//   delta:  [B, heads, T] f32, D_i (0 for padded rows), read by the kv kernel.
// Math: s_ij = scale q_i · k_j - m_h |i - j| over valid keys j (padded keys
//   have P = 0); P_ij = exp(s_ij - lse_i); dP_ij = dO_i · v_j;
//   dS_ij = P_ij (dP_ij - D_i); dQ_i = scale * sum_j dS_ij k_j. Padded query
//   rows contribute nothing (their dO counts as 0) and get dq = 0.
// Work: one invocation per query row, 64 rows per workgroup; K and V tiles of
// BC keys staged in workgroup memory as vec4 (D padded with zeros to 4 * D4).
// Overrides D (head dim), D4, BC, the row count BR and load_qkv4: the
// prepended common/attention_rows.wgsl (constants from ops/attention).
// Grid: (ceil(T / 64), B * heads, 1).

@group(0) @binding(0) var<storage, read> qkv: array<act>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read> out: array<act>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<uniform> params: Params; // common/attention_params.wgsl

// 16 KiB in all: WebGPU's default workgroup storage limit.
var<workgroup> ks: array<vec4<f32>, 512>;
var<workgroup> vs: array<vec4<f32>, 512>;

fn load_out4(base: u32, c: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < D) {
            v[e] = f32(out[base + 4u * c + e]);
        }
    }
    return v;
}

fn load_dout4(base: u32, c: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < D) {
            v[e] = dout[base + 4u * c + e];
        }
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = params.seq;
    let hid = params.heads * D;
    let b = wg.y / params.heads;
    let h = wg.y % params.heads;
    let i = wg.x * BR + li;
    let row_in = i < t;
    let slope = slopes[h];

    // A real query row (its lse is finite: it has at least itself as a key).
    var live = false;
    var lse_i = 0.0;
    if (row_in) {
        lse_i = lse[(b * params.heads + h) * t + i];
        live = mask[b * t + i] != 0u && lse_i > NEG_BIG;
    }

    var q: array<vec4<f32>, 32>;
    var g: array<vec4<f32>, 32>;
    var dq: array<vec4<f32>, 32>;
    var d_i = 0.0;
    for (var c = 0u; c < D4; c++) {
        q[c] = vec4<f32>(0.0);
        g[c] = vec4<f32>(0.0);
        dq[c] = vec4<f32>(0.0);
        if (live) {
            let row = (b * t + i) * hid + h * D;
            q[c] = load_qkv4((b * t + i) * 3u * hid + h * D, c) * params.scale;
            g[c] = load_dout4(row, c);
            d_i += dot(g[c], load_out4(row, c));
        }
    }

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
        if (live) {
            for (var jj = 0u; jj < BC; jj++) {
                let j = j0 + jj;
                // Every invocation reads the same mask word: a broadcast load.
                if (j < t && mask[b * t + j] != 0u) {
                    var sd = vec4<f32>(0.0);
                    var dpd = vec4<f32>(0.0);
                    for (var c = 0u; c < D4; c++) {
                        sd = fma(q[c], ks[jj * D4 + c], sd);
                        dpd = fma(g[c], vs[jj * D4 + c], dpd);
                    }
                    let dist = f32(max(i, j) - min(i, j));
                    let p = exp(sd.x + sd.y + sd.z + sd.w - slope * dist - lse_i);
                    let ds = p * (dpd.x + dpd.y + dpd.z + dpd.w - d_i);
                    for (var c = 0u; c < D4; c++) {
                        dq[c] = fma(vec4<f32>(ds), ks[jj * D4 + c], dq[c]);
                    }
                }
            }
        }
    }

    if (row_in) {
        delta[(b * params.heads + h) * t + i] = select(0.0, d_i, live);
        let o = (b * t + i) * 3u * hid + h * D;
        for (var c = 0u; c < D4; c++) {
            let v = dq[c] * params.scale;
            for (var e = 0u; e < 4u; e++) {
                if (4u * c + e < D) {
                    dqkv[o + 4u * c + e] = v[e];
                }
            }
        }
    }
}
