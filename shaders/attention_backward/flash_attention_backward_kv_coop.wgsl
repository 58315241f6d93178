// flash_attention_backward_kv_coop.wgsl — flash_attention_backward_kv.wgsl
// (same bindings, layouts, math, padding rules and outputs: dK and dV; see
// its header) for head dim D = 64 on cooperative matrices: q (pre-scaled),
// k, v, dO, P and dS rounded to f16, products summed in f32, the scores, dK
// and dV in f32. Runs after flash_attention_backward_q(_coop).wgsl, which
// writes D. Prepended: common/coop_enable.wgsl, common/coop_16.wgsl or
// _8.wgsl (CS, CoopA/B/C), common/act_f32.wgsl or act_f16.wgsl (the storage
// of qkv), common/attention_params.wgsl.
//   qkv: [B, T, 3H] act; mask: [B, T] u32; slopes: [heads]; lse, delta:
//   [B, heads, T] f32; dout: [B, T, H] f32; dqkv: [B, T, 3H] f32 (this kernel
//   writes the dk and dv columns).
// Work: a workgroup of WG = 4 x the subgroup size (exactly 4 subgroups)
// owns BK = 2CS keys of one (b, h), staged as f16, and walks the query rows
// in tiles of BQ = 2CS:
//   1. the tile's q and dO (f16; 0 on rows that are not live), lse_i, D_i;
//   2. S = Q K^T, 2 x 2 blocks, one per subgroup (f32);
//   3. per element: P = exp(s - m_h |i - j| - lse_i) over live rows and
//      valid keys, rounded to f16;
//   4. dP = dO V^T, as 2;
//   5. per element: dS = P (dP - D_i), rounded to f16;
//   6. dV += P^T dO and dK += dS^T (scale Q), 2 x (D / CS) output blocks
//      each, O_PER of each per subgroup (f32).
// Finally dk and dv are written (0 for padded keys).
// Workgroup memory: 43.5 KiB (CS 16) or 19.8 KiB (CS 8).
// Grid: (ceil(T / BK), B * heads, 1).

override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<act4>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params; // common/attention_params.wgsl

const D: u32 = 64u;
const BK: u32 = 2u * CS;
const BQ: u32 = 2u * CS;
// Row strides (elements) of the f16 tiles, padded against bank conflicts;
// rows stay 16-byte aligned.
const SQ: u32 = D + 8u;
// Output blocks (of [BK][D]) per subgroup: 2 (CS 16) or 4 (CS 8).
const O_PER: u32 = (BK / CS) * (D / CS) / 4u;
const SP: u32 = BK + 8u;

var<workgroup> ks: array<f16, BK * SQ>;   // K [BK][D]
var<workgroup> vs: array<f16, BK * SQ>;   // V [BK][D]
var<workgroup> qs: array<f16, BQ * SQ>;   // Q * scale [BQ][D]
var<workgroup> dos: array<f16, BQ * SQ>;  // dO [BQ][D]
var<workgroup> ss: array<f32, BQ * BK>;   // S, then dP [BQ][BK]
var<workgroup> ps: array<f16, BQ * SP>;   // P [BQ][BK]
var<workgroup> dss: array<f16, BQ * SP>;  // dS [BQ][BK]
var<workgroup> dks: array<f32, BK * D>;   // dK [BK][D]
var<workgroup> dvs: array<f32, BK * D>;   // dV [BK][D]
var<workgroup> row_lse: array<f32, BQ>;
var<workgroup> row_d: array<f32, BQ>;
var<workgroup> row_live: array<u32, BQ>;
var<workgroup> key_ok: array<u32, BK>;

// Four features d .. d + 3 of head h of token t's part (0 q, 1 k, 2 v).
fn load4(b: u32, t: u32, part: u32, h: u32, d: u32) -> vec4<f32> {
    let hid = params.heads * D;
    return vec4<f32>(qkv[((b * params.seq + t) * 3u * hid + part * hid + h * D + d) >> 2u]);
}

// Block (sid / 2, sid % 2) of the queries (BQ) x keys (BK) products, summed
// over D, into ss: S = Q K^T (qk), or dP = dO V^T (dov).
fn scores_qk(sid: u32) {
    let mi = sid >> 1u;
    let nj = sid & 1u;
    var acc = CoopC();
    for (var dk = 0u; dk < D; dk += CS) {
        let fa = coopLoadT<CoopA>(&qs[mi * CS * SQ + dk], SQ);
        // K^T: K [key][d] read column-major.
        let fb = coopLoad<CoopB>(&ks[nj * CS * SQ + dk], SQ);
        acc = coopMultiplyAdd(fa, fb, acc);
    }
    coopStoreT(acc, &ss[mi * CS * BK + nj * CS], BK);
}

fn scores_dov(sid: u32) {
    let mi = sid >> 1u;
    let nj = sid & 1u;
    var acc = CoopC();
    for (var dk = 0u; dk < D; dk += CS) {
        let fa = coopLoadT<CoopA>(&dos[mi * CS * SQ + dk], SQ);
        let fb = coopLoad<CoopB>(&vs[nj * CS * SQ + dk], SQ);
        acc = coopMultiplyAdd(fa, fb, acc);
    }
    coopStoreT(acc, &ss[mi * CS * BK + nj * CS], BK);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32) {
    let p = params;
    let b = wg.y / p.heads;
    let h = wg.y % p.heads;
    let j0 = wg.x * BK;
    let slope = slopes[h];
    let hid = p.heads * D;

    for (var e = li; e < BK * D / 4u; e += WG) {
        let j = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        var k = vec4<f32>(0.0);
        var v = vec4<f32>(0.0);
        if (j0 + j < p.seq) {
            k = load4(b, j0 + j, 1u, h, d);
            v = load4(b, j0 + j, 2u, h, d);
        }
        for (var c = 0u; c < 4u; c++) {
            ks[j * SQ + d + c] = f16(k[c]);
            vs[j * SQ + d + c] = f16(v[c]);
            dks[j * D + d + c] = 0.0;
            dvs[j * D + d + c] = 0.0;
        }
    }
    for (var j = li; j < BK; j += WG) {
        let key = j0 + j;
        key_ok[j] = u32(key < p.seq && mask[b * p.seq + min(key, p.seq - 1u)] != 0u);
    }

    for (var q0 = 0u; q0 < p.seq; q0 += BQ) {
        // 1. The query tile: lse, liveness, D_i, then q and dO.
        workgroupBarrier();
        for (var r = li; r < BQ; r += WG) {
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
        for (var e = li; e < BQ * D / 4u; e += WG) {
            let r = e / (D / 4u);
            let d = (e % (D / 4u)) * 4u;
            let i = q0 + r;
            var q = vec4<f32>(0.0);
            var g = vec4<f32>(0.0);
            if (row_live[r] != 0u) {
                q = load4(b, i, 0u, h, d) * p.scale;
                g = dout[((b * p.seq + i) * hid + h * D + d) >> 2u];
            }
            for (var c = 0u; c < 4u; c++) {
                qs[r * SQ + d + c] = f16(q[c]);
                dos[r * SQ + d + c] = f16(g[c]);
            }
        }
        workgroupBarrier();
        // 2. S = Q K^T.
        scores_qk(sid);
        workgroupBarrier();
        // 3. P.
        for (var e = li; e < BQ * BK; e += WG) {
            let r = e / BK;
            let j = e % BK;
            var pj = 0.0;
            if (row_live[r] != 0u && key_ok[j] != 0u) {
                let dist = abs(f32(q0 + r) - f32(j0 + j));
                pj = exp(ss[e] - slope * dist - row_lse[r]);
            }
            ps[r * SP + j] = f16(pj);
        }
        workgroupBarrier();
        // 4. dP = dO V^T.
        scores_dov(sid);
        workgroupBarrier();
        // 5. dS = P (dP - D_i).
        for (var e = li; e < BQ * BK; e += WG) {
            let r = e / BK;
            let j = e % BK;
            dss[r * SP + j] = f16(f32(ps[r * SP + j]) * (ss[e] - row_d[r]));
        }
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
            for (var kq = 0u; kq < BQ; kq += CS) {
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

    for (var e = li; e < BK * D / 4u; e += WG) {
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
