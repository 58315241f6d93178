// flash_attention_backward_q_coop.wgsl — flash_attention_backward_q.wgsl
// (same bindings, layouts, math, padding rules and outputs: D_i and dQ; see
// its header) for head dim D = 64 on cooperative matrices: q (pre-scaled),
// k, v, dO, the probabilities P and dS rounded to f16, products summed in
// f32, D_i, the scores and dQ in f32. Prepended: common/coop_enable.wgsl,
// common/coop_16.wgsl or _8.wgsl (the block size CS, types CoopA/B/C),
// common/act_f32.wgsl or act_f16.wgsl (the storage of qkv and out),
// common/attention_params.wgsl.
//   qkv: [B, T, 3H] act; mask: [B, T] u32; slopes: [heads]; out: [B, T, H]
//   act; lse: [B, heads, T]; dout: [B, T, H] f32; dqkv: [B, T, 3H] f32 (this
//   kernel writes the dq columns); delta: [B, heads, T] f32.
// Work: a workgroup of WG = 4 x the subgroup size (exactly 4 subgroups: the
// host uses this kernel only where the subgroup size is fixed) owns BR = 2CS
// query rows of one (b, h): it stages their q and dO (f16) and computes D_i
// from dO and O (f32), then walks the keys in tiles of BC = 2CS:
//   1. K's and V's tiles (f16) and the keys' validity to workgroup memory;
//   2. S = Q K^T, 2 x 2 blocks, one per subgroup (f32);
//   3. per element: P = exp(s - m_h |i - j| - lse_i) over valid keys of live
//      rows, rounded to f16;
//   4. dP = dO V^T, as 2;
//   5. per element: dS = P (dP - D_i), rounded to f16;
//   6. dQ += dS K, 2 x (D / CS) output blocks, O_PER per subgroup (f32).
// Finally dq = scale * dQ (0 for padded rows) and D (0 for them) are written.
// Workgroup memory: 33.0 KiB (CS 16) or 15.0 KiB (CS 8).
// Grid: (ceil(T / BR), B * heads, 1).

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

const D: u32 = 64u;
const BR: u32 = 2u * CS;
const BC: u32 = 2u * CS;
// Row strides (elements) of the f16 tiles, padded against bank conflicts;
// rows stay 16-byte aligned.
const SQ: u32 = D + 8u;
// Output blocks (of [BR][D]) per subgroup: 2 (CS 16) or 4 (CS 8).
const O_PER: u32 = (BR / CS) * (D / CS) / 4u;
const SP: u32 = BC + 8u;

var<workgroup> qs: array<f16, BR * SQ>;   // Q * scale [BR][D]
var<workgroup> dos: array<f16, BR * SQ>;  // dO [BR][D] (0 on rows that are not live)
var<workgroup> ks: array<f16, BC * SQ>;   // K [BC][D]
var<workgroup> vs: array<f16, BC * SQ>;   // V [BC][D]
var<workgroup> ss: array<f32, BR * BC>;   // S, then dP [BR][BC]
var<workgroup> ps: array<f16, BR * SP>;   // P, then dS [BR][BC]
var<workgroup> dqs: array<f32, BR * D>;   // dQ / scale [BR][D]
var<workgroup> row_lse: array<f32, BR>;
var<workgroup> row_d: array<f32, BR>;
var<workgroup> row_live: array<u32, BR>;
var<workgroup> key_ok: array<u32, BC>;

// Four features d .. d + 3 of head h of token t's part (0 q, 1 k, 2 v).
fn load4(b: u32, t: u32, part: u32, h: u32, d: u32) -> vec4<f32> {
    let hid = params.heads * D;
    return vec4<f32>(qkv[((b * params.seq + t) * 3u * hid + part * hid + h * D + d) >> 2u]);
}

// The [B, T, H] row index of token t, head h, features d .. d + 3.
fn row4(b: u32, t: u32, h: u32, d: u32) -> u32 {
    return ((b * params.seq + t) * params.heads * D + h * D + d) >> 2u;
}

// Block (sid / 2, sid % 2) of the rows (BR) x keys (BC) products, summed
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
    coopStoreT(acc, &ss[mi * CS * BC + nj * CS], BC);
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
    coopStoreT(acc, &ss[mi * CS * BC + nj * CS], BC);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32) {
    let p = params;
    let b = wg.y / p.heads;
    let h = wg.y % p.heads;
    let q0 = wg.x * BR;
    let slope = slopes[h];

    // Rows: lse, liveness (a real query row: its lse is finite) and D_i.
    for (var r = li; r < BR; r += WG) {
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
    workgroupBarrier();
    for (var e = li; e < BR * D / 4u; e += WG) {
        let r = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let i = q0 + r;
        var q = vec4<f32>(0.0);
        var g = vec4<f32>(0.0);
        if (row_live[r] != 0u) {
            q = load4(b, i, 0u, h, d) * p.scale;
            g = dout[row4(b, i, h, d)];
        }
        for (var c = 0u; c < 4u; c++) {
            qs[r * SQ + d + c] = f16(q[c]);
            dos[r * SQ + d + c] = f16(g[c]);
            dqs[r * D + d + c] = 0.0;
        }
    }

    for (var k0 = 0u; k0 < p.seq; k0 += BC) {
        // 1. K, V and the keys' validity.
        for (var e = li; e < BC * D / 4u; e += WG) {
            let j = e / (D / 4u);
            let d = (e % (D / 4u)) * 4u;
            var k = vec4<f32>(0.0);
            var v = vec4<f32>(0.0);
            if (k0 + j < p.seq) {
                k = load4(b, k0 + j, 1u, h, d);
                v = load4(b, k0 + j, 2u, h, d);
            }
            for (var c = 0u; c < 4u; c++) {
                ks[j * SQ + d + c] = f16(k[c]);
                vs[j * SQ + d + c] = f16(v[c]);
            }
        }
        for (var j = li; j < BC; j += WG) {
            let key = k0 + j;
            key_ok[j] = u32(key < p.seq && mask[b * p.seq + min(key, p.seq - 1u)] != 0u);
        }
        workgroupBarrier();
        // 2. S = Q K^T.
        scores_qk(sid);
        workgroupBarrier();
        // 3. P.
        for (var e = li; e < BR * BC; e += WG) {
            let r = e / BC;
            let j = e % BC;
            var pj = 0.0;
            if (row_live[r] != 0u && key_ok[j] != 0u) {
                let dist = abs(f32(q0 + r) - f32(k0 + j));
                pj = exp(ss[e] - slope * dist - row_lse[r]);
            }
            ps[r * SP + j] = f16(pj);
        }
        workgroupBarrier();
        // 4. dP = dO V^T.
        scores_dov(sid);
        workgroupBarrier();
        // 5. dS = P (dP - D_i).
        for (var e = li; e < BR * BC; e += WG) {
            let r = e / BC;
            let j = e % BC;
            ps[r * SP + j] = f16(f32(ps[r * SP + j]) * (ss[e] - row_d[r]));
        }
        workgroupBarrier();
        // 6. dQ += dS K, blocks sid + 4n of 2 x (D / CS).
        for (var n = 0u; n < O_PER; n++) {
            let blk = sid + 4u * n;
            let mi = blk / (D / CS);
            let nd = blk % (D / CS);
            var acc = coopLoadT<CoopC>(&dqs[mi * CS * D + nd * CS], D);
            for (var kj = 0u; kj < BC; kj += CS) {
                let fs = coopLoadT<CoopA>(&ps[mi * CS * SP + kj], SP);
                let fk = coopLoadT<CoopB>(&ks[kj * SQ + nd * CS], SQ);
                acc = coopMultiplyAdd(fs, fk, acc);
            }
            coopStoreT(acc, &dqs[mi * CS * D + nd * CS], D);
        }
        workgroupBarrier();
    }

    let hid = p.heads * D;
    for (var e = li; e < BR * D / 4u; e += WG) {
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
