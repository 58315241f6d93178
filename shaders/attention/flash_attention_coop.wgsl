// flash_attention_coop.wgsl — the forward of flash_attention.wgsl (same
// bindings, layouts, scores, padding rules and outputs; see its header) for
// head dim D = 64 on cooperative matrices: q (pre-scaled), k, v and the
// probabilities rounded to f16, products summed in f32, softmax statistics
// and the output in f32. Prepended: common/coop_enable.wgsl, then
// common/coop_16.wgsl or _8.wgsl (the block size CS, types CoopA/B/C),
// common/act_f32.wgsl or act_f16.wgsl (the storage of qkv and out, `act4`),
// common/attention_params.wgsl.
//   qkv: [B, T, 3H] packed q | k | v; mask: [B, T] u32; slopes: [heads];
//   out: [B, T, H]; lse: [B, heads, T] (-3.4e38 for a row with no valid key).
// Work: a workgroup of WG = 4 x the subgroup size (exactly 4 subgroups: the
// host uses this kernel only where the subgroup size is fixed) owns BR = 4CS
// query rows of one (b, h) and walks the keys in tiles of BC = 2CS:
//   1. K's tile (f16) and the keys' validity to workgroup memory;
//   2. S = Q K^T: the tile's (BR / CS) x (BC / CS) = 8 blocks, subgroup s
//      computing blocks s and s + 4, to workgroup memory (f32);
//   3. per row (invocation r, r + WG, ..): ALiBi, the running max m,
//      P = exp(s - m) rounded to f16 and the sum l of those rounded values,
//      the output row rescaled by exp(m_old - m_new), all in f32;
//   4. V's tile (f16) over K's;
//   5. O += P V: the (BR / CS) x (D / CS) output blocks, each owned by one
//      subgroup (blocks s, s + 4, ..), loaded from workgroup memory, summed
//      and stored back.
// Finally each row is divided by l and written, with lse = m + ln l.
// Workgroup memory: 43.1 KiB (CS 16) or 18.6 KiB (CS 8).
// Grid: (ceil(T / BR), B * heads, 1).

override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> qkv: array<act4>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<act4>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params; // common/attention_params.wgsl

const D: u32 = 64u;
const BR: u32 = 4u * CS;
const BC: u32 = 2u * CS;
// Row strides (elements) of the f16 tiles, padded against bank conflicts;
// rows stay 16-byte aligned.
const SQ: u32 = D + 8u;
const SP: u32 = BC + 8u;
// Output blocks per subgroup.
const O_PER: u32 = (BR / CS) * (D / CS) / 4u;

var<workgroup> qs: array<f16, BR * SQ>;   // Q * scale [BR][D]
var<workgroup> kv: array<f16, BC * SQ>;   // K, then V [BC][D]
var<workgroup> ss: array<f32, BR * BC>;   // S [BR][BC]
var<workgroup> ps: array<f16, BR * SP>;   // P [BR][BC]
var<workgroup> os: array<f32, BR * D>;    // O [BR][D], unnormalised
var<workgroup> row_max: array<f32, BR>;
var<workgroup> row_sum: array<f32, BR>;
var<workgroup> key_ok: array<u32, BC>;

// Token t's part (0 q, 1 k, 2 v) of head h: features d .. d + 3, zero past T.
fn load4(b: u32, t: u32, part: u32, h: u32, d: u32) -> vec4<f32> {
    let p = params;
    if (t >= p.seq) {
        return vec4<f32>(0.0);
    }
    let hid = p.heads * D;
    return vec4<f32>(qkv[((b * p.seq + t) * 3u * hid + part * hid + h * D + d) >> 2u]);
}

// Part `part` (1 k, 2 v) of keys k0 .. k0 + BC into kv as f16.
fn stage_keys(li: u32, b: u32, h: u32, k0: u32, part: u32) {
    for (var e = li; e < BC * D / 4u; e += WG) {
        let j = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let v = load4(b, k0 + j, part, h, d);
        for (var q = 0u; q < 4u; q++) {
            kv[j * SQ + d + q] = f16(v[q]);
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32) {
    let p = params;
    let b = wg.y / p.heads;
    let h = wg.y % p.heads;
    let q0 = wg.x * BR;
    let slope = slopes[h];

    for (var e = li; e < BR * D / 4u; e += WG) {
        let r = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let v = load4(b, q0 + r, 0u, h, d) * p.scale;
        for (var q = 0u; q < 4u; q++) {
            qs[r * SQ + d + q] = f16(v[q]);
            os[r * D + d + q] = 0.0;
        }
    }
    for (var r = li; r < BR; r += WG) {
        row_max[r] = NEG_BIG;
        row_sum[r] = 0.0;
    }

    for (var k0 = 0u; k0 < p.seq; k0 += BC) {
        // 1. K and the keys' validity.
        stage_keys(li, b, h, k0, 1u);
        for (var j = li; j < BC; j += WG) {
            let key = k0 + j;
            key_ok[j] = u32(key < p.seq && mask[b * p.seq + min(key, p.seq - 1u)] != 0u);
        }
        workgroupBarrier();
        // 2. S = Q K^T, blocks sid and sid + 4 of (BR / CS) x 2.
        for (var i = 0u; i < 2u; i++) {
            let blk = sid + 4u * i;
            let mi = blk >> 1u;
            let nj = blk & 1u;
            var acc = CoopC();
            for (var dk = 0u; dk < D; dk += CS) {
                let fq = coopLoadT<CoopA>(&qs[mi * CS * SQ + dk], SQ);
                // K^T: K [key][d] read column-major.
                let fk = coopLoad<CoopB>(&kv[nj * CS * SQ + dk], SQ);
                acc = coopMultiplyAdd(fq, fk, acc);
            }
            coopStoreT(acc, &ss[mi * CS * BC + nj * CS], BC);
        }
        workgroupBarrier();
        // 3. Online softmax per row.
        for (var r = li; r < BR; r += WG) {
            let qi = f32(q0 + r);
            let m_old = row_max[r];
            var m_new = m_old;
            for (var j = 0u; j < BC; j++) {
                if (key_ok[j] != 0u) {
                    let s = ss[r * BC + j] - slope * abs(qi - f32(k0 + j));
                    ss[r * BC + j] = s;
                    m_new = max(m_new, s);
                }
            }
            let alpha = exp(m_old - m_new);
            var sum = 0.0;
            for (var j = 0u; j < BC; j++) {
                var pj = 0.0;
                if (key_ok[j] != 0u) {
                    pj = exp(ss[r * BC + j] - m_new);
                }
                // The sum of what P V multiplies (a driver may flush f16
                // subnormals: numerator and normaliser then agree).
                let ph = f16(pj);
                ps[r * SP + j] = ph;
                sum += f32(ph);
            }
            row_sum[r] = row_sum[r] * alpha + sum;
            row_max[r] = m_new;
            for (var d = 0u; d < D; d++) {
                os[r * D + d] *= alpha;
            }
        }
        workgroupBarrier();
        // 4. V over K.
        stage_keys(li, b, h, k0, 2u);
        workgroupBarrier();
        // 5. O += P V, output blocks sid + 4 i of (BR / CS) x (D / CS).
        for (var i = 0u; i < O_PER; i++) {
            let blk = sid + 4u * i;
            let mi = blk / (D / CS);
            let nd = blk % (D / CS);
            var acc = coopLoadT<CoopC>(&os[mi * CS * D + nd * CS], D);
            for (var kj = 0u; kj < BC; kj += CS) {
                let fp = coopLoadT<CoopA>(&ps[mi * CS * SP + kj], SP);
                let fv = coopLoadT<CoopB>(&kv[kj * SQ + nd * CS], SQ);
                acc = coopMultiplyAdd(fp, fv, acc);
            }
            coopStoreT(acc, &os[mi * CS * D + nd * CS], D);
        }
        workgroupBarrier();
    }

    let hid = p.heads * D;
    for (var e = li; e < BR * D / 4u; e += WG) {
        let r = e / (D / 4u);
        let d = (e % (D / 4u)) * 4u;
        let i = q0 + r;
        if (i < p.seq) {
            let l = row_sum[r];
            var v = vec4<f32>(0.0);
            if (l > 0.0) {
                let at = r * D + d;
                v = vec4<f32>(os[at], os[at + 1u], os[at + 2u], os[at + 3u]) / l;
            }
            out[((b * p.seq + i) * hid + h * D + d) >> 2u] = act4(v);
            if (d == 0u) {
                var m = NEG_BIG;
                if (l > 0.0) {
                    m = row_max[r] + log(l);
                }
                lse[(b * p.heads + h) * p.seq + i] = m;
            }
        }
    }
}
