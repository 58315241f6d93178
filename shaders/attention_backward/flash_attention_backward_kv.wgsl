// flash_attention_backward_kv.wgsl — attention backward, key side: dK_j and
// dV_j for each key row j, with the scores recomputed tile by tile from the
// forward's log-sum-exp (no T x T buffer, no atomics). Runs after
// flash_attention_backward_q.wgsl, which writes D.
// Layout (as flash_attention.wgsl; H = heads * D, head h at columns h*D..):
//   qkv:    [B, T, 3H] act (the forward's saved activation: f32, or f16 in
//           the half-precision variant, act_f16.wgsl), token row =
//           [q (H) | k (H) | v (H)]. Gradients (dout, dqkv) are f32 in both.
//   mask:   [B, T] u32, nonzero = real token, 0 = padding.
//   slopes: [heads] f32, ALiBi slope m_h.
//   lse:    [B, heads, T] f32, the forward's log-sum-exp.
//   dout:   [B, T, H] f32, dL/dO.
//   delta:  [B, heads, T] f32, D_i = dO_i · O_i.
//   dqkv:   [B, T, 3H] f32; this kernel writes the dk (H .. 2H) and dv
//           (2H .. 3H) columns of every token, 0 for padded tokens.
// Math: s_ij = scale q_i · k_j - m_h |i - j|; P_ij = exp(s_ij - lse_i) over
//   real query rows i (padded rows contribute nothing); dP_ij = dO_i · v_j;
//   dS_ij = P_ij (dP_ij - D_i); dV_j = sum_i P_ij dO_i;
//   dK_j = scale * sum_i dS_ij q_i.
// Work: one invocation per key row, 64 keys per workgroup; tiles of BC query
// rows (q and dO) staged in workgroup memory as vec4 (D padded with zeros to
// 4 * D4); lse_i, D_i and mask_i are broadcast loads.
// Overrides D (head dim), D4, BC, the row count BR and load_qkv4: the
// prepended common/attention_rows.wgsl (constants from ops/attention).
// Grid: (ceil(T / 64), B * heads, 1).

@group(0) @binding(0) var<storage, read> qkv: array<act>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(7) var<uniform> params: Params; // common/attention_params.wgsl

// 16 KiB in all: WebGPU's default workgroup storage limit.
var<workgroup> qs: array<vec4<f32>, 512>;
var<workgroup> gs: array<vec4<f32>, 512>;

fn load_dout4(base: u32, c: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < D) {
            v[e] = dout[base + 4u * c + e];
        }
    }
    return v;
}

fn store4(base: u32, c: u32, v: vec4<f32>) {
    for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < D) {
            dqkv[base + 4u * c + e] = v[e];
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = params.seq;
    let hid = params.heads * D;
    let b = wg.y / params.heads;
    let h = wg.y % params.heads;
    let stats = (b * params.heads + h) * t;
    let j = wg.x * BR + li;
    let row_in = j < t;
    let live = row_in && mask[b * t + j] != 0u;
    let slope = slopes[h];

    var k: array<vec4<f32>, 32>;
    var v: array<vec4<f32>, 32>;
    var dk: array<vec4<f32>, 32>;
    var dv: array<vec4<f32>, 32>;
    for (var c = 0u; c < D4; c++) {
        k[c] = vec4<f32>(0.0);
        v[c] = vec4<f32>(0.0);
        dk[c] = vec4<f32>(0.0);
        dv[c] = vec4<f32>(0.0);
        if (live) {
            let base = (b * t + j) * 3u * hid + h * D;
            k[c] = load_qkv4(base + hid, c) * params.scale;
            v[c] = load_qkv4(base + 2u * hid, c);
        }
    }

    for (var i0 = 0u; i0 < t; i0 += BC) {
        workgroupBarrier();
        for (var r = 0u; r < (BC * D4 + BR - 1u) / BR; r++) {
            let e = li + r * BR;
            let ii = e / D4;
            if (e < BC * D4 && i0 + ii < t) {
                let row = b * t + i0 + ii;
                qs[e] = load_qkv4(row * 3u * hid + h * D, e % D4);
                gs[e] = load_dout4(row * hid + h * D, e % D4);
            }
        }
        workgroupBarrier();
        if (live) {
            for (var ii = 0u; ii < BC; ii++) {
                let i = i0 + ii;
                // Broadcast loads: every invocation reads the same words.
                if (i < t && mask[b * t + i] != 0u) {
                    let lse_i = lse[stats + i];
                    if (lse_i > NEG_BIG) {
                        var sd = vec4<f32>(0.0);
                        var dpd = vec4<f32>(0.0);
                        for (var c = 0u; c < D4; c++) {
                            sd = fma(k[c], qs[ii * D4 + c], sd);
                            dpd = fma(v[c], gs[ii * D4 + c], dpd);
                        }
                        let dist = f32(max(i, j) - min(i, j));
                        let p = exp(sd.x + sd.y + sd.z + sd.w - slope * dist - lse_i);
                        let ds = p * (dpd.x + dpd.y + dpd.z + dpd.w - delta[stats + i]);
                        for (var c = 0u; c < D4; c++) {
                            dv[c] = fma(vec4<f32>(p), gs[ii * D4 + c], dv[c]);
                            dk[c] = fma(vec4<f32>(ds), qs[ii * D4 + c], dk[c]);
                        }
                    }
                }
            }
        }
    }

    if (row_in) {
        let base = (b * t + j) * 3u * hid + h * D;
        for (var c = 0u; c < D4; c++) {
            store4(base + hid, c, dk[c] * params.scale);
            store4(base + 2u * hid, c, dv[c]);
        }
    }
}
