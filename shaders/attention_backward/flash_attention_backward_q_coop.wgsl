// flash_attention_backward_q_coop.wgsl — flash_attention_backward_q.wgsl
// (same bindings, layouts, math, padding rules and outputs: D_i and dQ; see
// its header) for head dim D = 64 on cooperative matrices: q (pre-scaled),
// k, v, dO, the probabilities P and dS rounded to f16, products summed in
// f32, D_i, the scores and dQ in f32. Prepended: common/coop_enable.wgsl,
// common/coop_16.wgsl or _8.wgsl (the block size CS, types CoopA/B/C),
// common/act_f32.wgsl or act_f16.wgsl (the storage of qkv and out),
// common/attention_params.wgsl, common/attention_backward_coop.wgsl (the
// tiles and the steps shared with the key side).
//   qkv: [B, T, 3H] act; mask: [B, T] u32; slopes: [heads]; out: [B, T, H]
//   act; lse: [B, heads, T]; dout: [B, T, H] f32; dqkv: [B, T, 3H] f32 (this
//   kernel writes the dq columns); delta: [B, heads, T] f32.
// Work: a workgroup of WG = 4 x the subgroup size (exactly 4 subgroups: the
// host uses this kernel only where the subgroup size is fixed) owns TR = 2CS
// query rows of one (b, h): it stages their q and dO (f16) and computes D_i
// from dO and O (f32), then walks the keys in tiles of TK = 2CS:
//   1. K's and V's tiles (f16) and the keys' validity;
//   2. S = Q K^T; 3. P; 4. dP = dO V^T; 5. dS = P (dP - D_i) (the snippet);
//   6. dQ += dS K, 2 x (D / CS) output blocks, O_PER per subgroup (f32).
// Finally dq = scale * dQ (0 for padded rows) and D (0 for them) are written.
// Workgroup memory: 35.5 KiB (CS 16) or 15.8 KiB (CS 8).
// Grid: (ceil(T / TR), B * heads, 1).

override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<act4>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read> out: array<act4>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<uniform> params: Params; // common/attention_params.wgsl

var<workgroup> dqs: array<f32, TR * D>;   // dQ / scale [TR][D]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32) {
    let p = params;
    let b = wg.y / p.heads;
    let h = wg.y % p.heads;
    let q0 = wg.x * TR;
    let slope = slopes[h];

    // Rows: lse, liveness (a real query row: its lse is finite) and D_i.
    for (var r = li; r < TR; r += WG) {
        let i = q0 + r;
        var live = false;
        var l = 0.0;
        var di = 0.0;
        if (i < p.seq) {
            l = lse[(b * p.heads + h) * p.seq + i];
            live = mask[b * p.seq + i] != 0u && l > NEG_BIG;
        }
        if (live) {
            for (var d = 0u; d < D; d += 4u) {
                di += dot(dout[row4(b, i, h, d)], vec4<f32>(out[row4(b, i, h, d)]));
            }
        }
        row_lse[r] = l;
        row_d[r] = di;
        row_live[r] = u32(live);
    }
    for (var e = li; e < TR * D; e += WG) {
        dqs[e] = 0.0;
    }
    workgroupBarrier();
    stage_rows(li, b, h, q0);

    for (var k0 = 0u; k0 < p.seq; k0 += TK) {
        // 1. K, V and the keys' validity.
        stage_keys(li, b, h, k0);
        workgroupBarrier();
        // 2.-5.
        scores_qk(sid);
        workgroupBarrier();
        probabilities(li, q0, k0, slope);
        workgroupBarrier();
        scores_dov(sid);
        workgroupBarrier();
        score_grads(li);
        workgroupBarrier();
        // 6. dQ += dS K, blocks sid + 4n of 2 x (D / CS).
        for (var n = 0u; n < O_PER; n++) {
            let blk = sid + 4u * n;
            let mi = blk / (D / CS);
            let nd = blk % (D / CS);
            var acc = coopLoadT<CoopC>(&dqs[mi * CS * D + nd * CS], D);
            for (var kj = 0u; kj < TK; kj += CS) {
                let fs = coopLoadT<CoopA>(&dss[mi * CS * SP + kj], SP);
                let fk = coopLoadT<CoopB>(&ks[kj * SQ + nd * CS], SQ);
                acc = coopMultiplyAdd(fs, fk, acc);
            }
            coopStoreT(acc, &dqs[mi * CS * D + nd * CS], D);
        }
        workgroupBarrier();
    }

    let hid = p.heads * D;
    for (var e = li; e < TR * D / 4u; e += WG) {
        let r = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let i = q0 + r;
        if (i < p.seq) {
            var v = vec4<f32>(0.0);
            if (row_live[r] != 0u) {
                let at = r * D + d;
                v = vec4<f32>(dqs[at], dqs[at + 1u], dqs[at + 2u], dqs[at + 3u]) * p.scale;
            }
            dqkv[((b * p.seq + i) * 3u * hid + h * D + d) >> 2u] = v;
            if (d == 0u) {
                delta[(b * p.heads + h) * p.seq + i] = row_d[r];
            }
        }
    }
}
