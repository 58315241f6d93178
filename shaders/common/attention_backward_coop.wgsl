// attention_backward_coop.wgsl — a snippet, not a kernel: prepended to the
// two cooperative-matrix attention-backward kernels (after coop_16/_8.wgsl,
// act_f32/_f16.wgsl and attention_params.wgsl), which bind `qkv:
// array<act4>`, `mask`, `dout: array<vec4<f32>>` and `params`. A tile of TR = 2CS query rows by TK = 2CS keys
// of one (b, h), head dim D = 64, in workgroup memory, and the steps both
// kernels take on it with their 4 subgroups:
//   stage_keys: K and V of keys k0.. (f16, zero past T) and their validity;
//   stage_rows: q * scale and dO of rows q0.. (f16, zero on rows that are
//     not live: the kernel fills row_live first);
//   scores_qk / scores_dov: S = Q K^T or dP = dO V^T into ss, 2 x 2 blocks,
//     one per subgroup (f32 sums of f16 products);
//   probabilities: P = exp(s - m_h |i - j| - lse_i) over live rows and
//     valid keys (0 elsewhere), rounded to f16, into ps;
//   score_grads: dS = P (dP - D_i), rounded to f16, into dss.
// The kernels fill the rows' lse, D and liveness, and keep their own f32
// accumulators ([TR or TK][D] blocks, O_PER per subgroup).

const D: u32 = 64u;
const TR: u32 = 2u * CS;
const TK: u32 = 2u * CS;
// Row strides (elements) of the f16 tiles, padded against bank conflicts;
// rows stay 16-byte aligned.
const SQ: u32 = D + 8u;
const SP: u32 = TK + 8u;
// Accumulator blocks ([2CS][D]) per subgroup: 2 (CS 16) or 4 (CS 8).
const O_PER: u32 = (TR / CS) * (D / CS) / 4u;

var<workgroup> qs: array<f16, TR * SQ>;   // Q * scale [TR][D]
var<workgroup> dos: array<f16, TR * SQ>;  // dO [TR][D]
var<workgroup> ks: array<f16, TK * SQ>;   // K [TK][D]
var<workgroup> vs: array<f16, TK * SQ>;   // V [TK][D]
var<workgroup> ss: array<f32, TR * TK>;   // S, then dP [TR][TK]
var<workgroup> ps: array<f16, TR * SP>;   // P [TR][TK]
var<workgroup> dss: array<f16, TR * SP>;  // dS [TR][TK]
var<workgroup> row_lse: array<f32, TR>;
var<workgroup> row_d: array<f32, TR>;
var<workgroup> row_live: array<u32, TR>;
var<workgroup> key_ok: array<u32, TK>;

// Four features d .. d + 3 of head h of token t's part (0 q, 1 k, 2 v).
fn load4(b: u32, t: u32, part: u32, h: u32, d: u32) -> vec4<f32> {
    let hid = params.heads * D;
    return vec4<f32>(qkv[((b * params.seq + t) * 3u * hid + part * hid + h * D + d) >> 2u]);
}

// The [B, T, H] vec4 index of token t, head h, features d .. d + 3.
fn row4(b: u32, t: u32, h: u32, d: u32) -> u32 {
    return ((b * params.seq + t) * params.heads * D + h * D + d) >> 2u;
}

// K and V of keys k0 .. k0 + TK into ks, vs (f16), and their validity.
fn stage_keys(li: u32, b: u32, h: u32, k0: u32) {
    for (var e = li; e < TK * D / 4u; e += WG) {
        let j = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        var k = vec4<f32>(0.0);
        var v = vec4<f32>(0.0);
        if (k0 + j < params.seq) {
            k = load4(b, k0 + j, 1u, h, d);
            v = load4(b, k0 + j, 2u, h, d);
        }
        for (var c = 0u; c < 4u; c++) {
            ks[j * SQ + d + c] = f16(k[c]);
            vs[j * SQ + d + c] = f16(v[c]);
        }
    }
    for (var j = li; j < TK; j += WG) {
        let key = k0 + j;
        key_ok[j] = u32(key < params.seq && mask[b * params.seq + min(key, params.seq - 1u)] != 0u);
    }
}

// q * scale and dO of rows q0 .. q0 + TR into qs, dos (f16; zero on rows
// that are not live, from row_live).
fn stage_rows(li: u32, b: u32, h: u32, q0: u32) {
    for (var e = li; e < TR * D / 4u; e += WG) {
        let r = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        var q = vec4<f32>(0.0);
        var g = vec4<f32>(0.0);
        if (row_live[r] != 0u) {
            q = load4(b, q0 + r, 0u, h, d) * params.scale;
            g = dout[row4(b, q0 + r, h, d)];
        }
        for (var c = 0u; c < 4u; c++) {
            qs[r * SQ + d + c] = f16(q[c]);
            dos[r * SQ + d + c] = f16(g[c]);
        }
    }
}

// Block (sid / 2, sid % 2) of S = Q K^T into ss.
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
    coopStoreT(acc, &ss[mi * CS * TK + nj * CS], TK);
}

// Block (sid / 2, sid % 2) of dP = dO V^T into ss.
fn scores_dov(sid: u32) {
    let mi = sid >> 1u;
    let nj = sid & 1u;
    var acc = CoopC();
    for (var dk = 0u; dk < D; dk += CS) {
        let fa = coopLoadT<CoopA>(&dos[mi * CS * SQ + dk], SQ);
        let fb = coopLoad<CoopB>(&vs[nj * CS * SQ + dk], SQ);
        acc = coopMultiplyAdd(fa, fb, acc);
    }
    coopStoreT(acc, &ss[mi * CS * TK + nj * CS], TK);
}

// P of the tile of rows q0.. and keys k0.. from S in ss.
fn probabilities(li: u32, q0: u32, k0: u32, slope: f32) {
    for (var e = li; e < TR * TK; e += WG) {
        let r = e / TK;
        let j = e % TK;
        var pj = 0.0;
        if (row_live[r] != 0u && key_ok[j] != 0u) {
            let dist = abs(f32(q0 + r) - f32(k0 + j));
            pj = exp(ss[e] - slope * dist - row_lse[r]);
        }
        ps[r * SP + j] = f16(pj);
    }
}

// dS = P (dP - D_i) from P in ps and dP in ss.
fn score_grads(li: u32) {
    for (var e = li; e < TR * TK; e += WG) {
        let r = e / TK;
        let j = e % TK;
        dss[r * SP + j] = f16(f32(ps[r * SP + j]) * (ss[e] - row_d[r]));
    }
}
