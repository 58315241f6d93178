// flash_attention_backward_kv_coop.wgsl — flash_attention_backward_kv.wgsl
// (same bindings, layouts, math, padding rules and outputs: dK and dV; see
// its header) for head dim D = 64 on cooperative matrices: q (pre-scaled),
// k, v, dO, P and dS rounded to f16, products summed in f32, the scores, dK
// and dV in f32. Runs after flash_attention_backward_q(_coop).wgsl, which
// writes D. Prepended: common/coop_enable.wgsl, common/coop_16.wgsl or
// _8.wgsl (CS, CoopA/B/C), common/act_f32.wgsl or act_f16.wgsl (the storage
// of qkv), common/attention_params.wgsl, common/attention_backward_coop.wgsl
// (the tiles and the steps shared with the query side).
//   qkv: [B, T, 3H] act; mask: [B, T] u32; slopes: [heads]; lse, delta:
//   [B, heads, T] f32; dout: [B, T, H] f32; dqkv: [B, T, 3H] f32 (this kernel
//   writes the dk and dv columns).
// Work: a workgroup of WG = 4 x the subgroup size (exactly 4 subgroups)
// owns TK = 2CS keys of one (b, h), staged as f16, and walks the query rows
// in tiles of TR = 2CS:
//   1. the tile's q and dO (f16; 0 on rows that are not live), lse_i, D_i;
//   2. S = Q K^T; 3. P; 4. dP = dO V^T; 5. dS = P (dP - D_i) (the snippet);
//   6. dV += P^T dO and dK += dS^T (scale Q), 2 x (D / CS) output blocks
//      each, O_PER of each per subgroup (f32).
// Finally dk and dv are written (0 for padded keys).
// Workgroup memory: 43.5 KiB (CS 16) or 19.8 KiB (CS 8).
// Grid: (ceil(T / TK), B * heads, 1).

override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<act4>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params; // common/attention_params.wgsl

var<workgroup> dks: array<f32, TK * D>;   // dK [TK][D]
var<workgroup> dvs: array<f32, TK * D>;   // dV [TK][D]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32) {
    let p = params;
    let b = wg.y / p.heads;
    let h = wg.y % p.heads;
    let j0 = wg.x * TK;
    let slope = slopes[h];
    let hid = p.heads * D;

    stage_keys(li, b, h, j0);
    for (var e = li; e < TK * D; e += WG) {
        dks[e] = 0.0;
        dvs[e] = 0.0;
    }

    for (var q0 = 0u; q0 < p.seq; q0 += TR) {
        // 1. The query tile: lse, liveness, D_i, then q and dO.
        workgroupBarrier();
        for (var r = li; r < TR; r += WG) {
            let i = q0 + r;
            var live = false;
            var l = 0.0;
            var di = 0.0;
            if (i < p.seq) {
                l = lse[(b * p.heads + h) * p.seq + i];
                di = delta[(b * p.heads + h) * p.seq + i];
                live = mask[b * p.seq + i] != 0u && l > NEG_BIG;
            }
            row_lse[r] = l;
            row_d[r] = di;
            row_live[r] = u32(live);
        }
        workgroupBarrier();
        stage_rows(li, b, h, q0);
        workgroupBarrier();
        // 2.-5.
        scores_qk(sid);
        workgroupBarrier();
        probabilities(li, q0, j0, slope);
        workgroupBarrier();
        scores_dov(sid);
        workgroupBarrier();
        score_grads(li);
        workgroupBarrier();
        // 6. dV += P^T dO, dK += dS^T (scale Q): blocks sid + 4n of
        // 2 x (D / CS) for each. P^T and dS^T: P [query][key] read
        // column-major.
        for (var n = 0u; n < O_PER; n++) {
            let blk = sid + 4u * n;
            let mi = blk / (D / CS);
            let nd = blk % (D / CS);
            var acc_v = coopLoadT<CoopC>(&dvs[mi * CS * D + nd * CS], D);
            var acc_k = coopLoadT<CoopC>(&dks[mi * CS * D + nd * CS], D);
            for (var kq = 0u; kq < TR; kq += CS) {
                let fp = coopLoad<CoopA>(&ps[kq * SP + mi * CS], SP);
                let fg = coopLoadT<CoopB>(&dos[kq * SQ + nd * CS], SQ);
                acc_v = coopMultiplyAdd(fp, fg, acc_v);
                let fs = coopLoad<CoopA>(&dss[kq * SP + mi * CS], SP);
                let fq = coopLoadT<CoopB>(&qs[kq * SQ + nd * CS], SQ);
                acc_k = coopMultiplyAdd(fs, fq, acc_k);
            }
            coopStoreT(acc_v, &dvs[mi * CS * D + nd * CS], D);
            coopStoreT(acc_k, &dks[mi * CS * D + nd * CS], D);
        }
    }
    workgroupBarrier();

    for (var e = li; e < TK * D / 4u; e += WG) {
        let j = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let key = j0 + j;
        if (key < p.seq) {
            var dk = vec4<f32>(0.0);
            var dv = vec4<f32>(0.0);
            if (key_ok[j] != 0u) {
                let at = j * D + d;
                dk = vec4<f32>(dks[at], dks[at + 1u], dks[at + 2u], dks[at + 3u]);
                dv = vec4<f32>(dvs[at], dvs[at + 1u], dvs[at + 2u], dvs[at + 3u]);
            }
            let o = ((b * p.seq + key) * 3u * hid + h * D + d) >> 2u;
            dqkv[o + hid / 4u] = dk;
            dqkv[o + 2u * hid / 4u] = dv;
        }
    }
}
