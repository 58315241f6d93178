// matmul_coop.wgsl — batched C = op(A) · op(B) (+ bias) (then GELU) on
// cooperative matrices (tensor cores): A and B rounded to f16 as they are
// staged, products accumulated in f32 by CS x CS x CS coopMultiplyAdd, C
// and the epilogue in f32 (C stored as `out4`). The same contract as matmul_tiled.wgsl (its
// Params, bindings, split K, layouts and the multiples of 4 it needs), with
// a 4CS x 4CS tile of C per workgroup: grid (ceil(N / 4CS), ceil(M / 4CS),
// batch * S); k_chunk is a multiple of BK (2CS). Prepended, in order:
// common/coop_enable.wgsl; common/coop_16.wgsl or _8.wgsl (CS and the
// CoopA/B/C types); common/act_f32.wgsl or act_f16.wgsl (A's storage,
// `act4`); matmul_tiled_b_f32.wgsl or _b_f16.wgsl (b4_at());
// matmul_c_f32.wgsl or _c_f16.wgsl (C's storage, `out4`).
//   For each batch z: C[z] (M x N, row-major) = sum_k A(z, m, k) * B(z, k, n)
//   A is [M, K] row-major, or [K, M] when TRANS_A = 1; B is [K, N], or
//   [N, K] when TRANS_B = 1. Out-of-range elements stage as 0 and are not
//   stored. Values beyond f16's range (65504) become infinite, as in any
//   half-precision product.
// Work: WG invocations (an override; the host sets 4 x the adapter's
// largest subgroup size, so there are at least 4 subgroups). Each step of
// k stages A [4CS x 2CS] (m-major) and B [2CS x 4CS] (k-major) as f16 in
// workgroup memory; subgroup s owns the CS x CS blocks s, s + S', s + 2S',
// s + 3S' of the tile's 16 (S' subgroups; a block index past 15 is clamped
// to 15 rather than skipped, so that every cooperative operation stays in
// uniform control flow: a subgroup that repeats block 15 stores the same
// values). The blocks go to a 4CS x 4CS f32 tile in workgroup memory, from
// which every invocation writes C with the bias and GELU.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch: u32,
    b_batch: u32,
    splits: u32,
    k_chunk: u32,
    _p0: u32,
}

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override BIAS: u32 = 0u;
override GELU: u32 = 0u;
override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> a: array<act4>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<out4>;
@group(0) @binding(4) var<uniform> params: Params;

const BM: u32 = 4u * CS;
const BN: u32 = 4u * CS;
const BK: u32 = 2u * CS;
// Row strides (elements) of the staged tiles, padded against bank
// conflicts; rows stay 16-byte aligned.
const SA: u32 = BK + 8u;
const SB: u32 = BN + 8u;
const SC: u32 = BN;
// Vec4s of each staged slice, and per row of A (k-major A: per k-row).
const SLICE4: u32 = BM * BK / 4u;
const ROW4: u32 = BK / 4u;
const COL4: u32 = BM / 4u;

var<workgroup> as16: array<f16, BM * SA>;
var<workgroup> bs16: array<f16, BK * SB>;
var<workgroup> cs: array<f32, BM * SC>;

// Vec4 `e` (0 .. SLICE4) of the A slice at k0 into as16[m * SA + k]; zero
// outside the matrix or past ke (the end of this workgroup's range of k).
fn stage_a(e: u32, row0: u32, k0: u32, ke: u32, base: u32) {
    let p = params;
    var v = vec4<f32>(0.0);
    if (TRANS_A == 0u) {
        // BM rows x ROW4 vec4 along k.
        let r = e / ROW4;
        let kv = (e % ROW4) * 4u;
        if (row0 + r < p.m && k0 + kv < ke) {
            v = vec4<f32>(a[(base + (row0 + r) * p.k + k0 + kv) >> 2u]);
        }
        for (var q = 0u; q < 4u; q++) {
            as16[r * SA + kv + q] = f16(v[q]);
        }
    } else {
        // BK k-rows x COL4 vec4 along m.
        let kk = e / COL4;
        let mv = (e % COL4) * 4u;
        if (k0 + kk < ke && row0 + mv < p.m) {
            v = vec4<f32>(a[(base + (k0 + kk) * p.m + row0 + mv) >> 2u]);
        }
        for (var q = 0u; q < 4u; q++) {
            as16[(mv + q) * SA + kk] = f16(v[q]);
        }
    }
}

// Vec4 `e` (0 .. SLICE4) of the B slice at k0 into bs16[k * SB + n].
fn stage_b(e: u32, col0: u32, k0: u32, ke: u32, base: u32) {
    let p = params;
    var v = vec4<f32>(0.0);
    if (TRANS_B == 1u) {
        // BN columns (rows of the stored [N, K]) x ROW4 vec4 along k.
        let cidx = e / ROW4;
        let kv = (e % ROW4) * 4u;
        if (col0 + cidx < p.n && k0 + kv < ke) {
            v = b4_at((base + (col0 + cidx) * p.k + k0 + kv) >> 2u);
        }
        for (var q = 0u; q < 4u; q++) {
            bs16[(kv + q) * SB + cidx] = f16(v[q]);
        }
    } else {
        // BK k-rows x COL4 vec4 along n.
        let kk = e / COL4;
        let nv = (e % COL4) * 4u;
        if (k0 + kk < ke && col0 + nv < p.n) {
            v = b4_at((base + (k0 + kk) * p.n + col0 + nv) >> 2u);
        }
        for (var q = 0u; q < 4u; q++) {
            bs16[kk * SB + nv + q] = f16(v[q]);
        }
    }
}

// The product of the staged A rows of block `blk` (row blk / 4, column
// blk % 4 of the 4 x 4 blocks) and its B columns, k in [kk, kk + CS),
// added to acc.
fn block_mma(blk: u32, kk: u32, acc: CoopC) -> CoopC {
    let fa = coopLoadT<CoopA>(&as16[(blk >> 2u) * CS * SA + kk], SA);
    let fb = coopLoadT<CoopB>(&bs16[kk * SB + (blk & 3u) * CS], SB);
    return coopMultiplyAdd(fa, fb, acc);
}

fn block_store(blk: u32, acc: CoopC) {
    coopStoreT(acc, &cs[(blk >> 2u) * CS * SC + (blk & 3u) * CS], SC);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32) {
    let p = params;
    let z = wg.z / p.splits;
    let kb = (wg.z % p.splits) * p.k_chunk;
    let ke = min(p.k, kb + p.k_chunk);
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let a0 = z * p.a_batch;
    let b0 = z * p.b_batch;

    let blk0 = min(sid, 15u);
    let blk1 = min(sid + nsg, 15u);
    let blk2 = min(sid + 2u * nsg, 15u);
    let blk3 = min(sid + 3u * nsg, 15u);
    var acc0 = CoopC();
    var acc1 = CoopC();
    var acc2 = CoopC();
    var acc3 = CoopC();

    for (var k0 = kb; k0 < ke; k0 += BK) {
        for (var e = li; e < SLICE4; e += WG) {
            stage_a(e, row0, k0, ke, a0);
            stage_b(e, col0, k0, ke, b0);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += CS) {
            acc0 = block_mma(blk0, kk, acc0);
            acc1 = block_mma(blk1, kk, acc1);
            acc2 = block_mma(blk2, kk, acc2);
            acc3 = block_mma(blk3, kk, acc3);
        }
        workgroupBarrier();
    }
    block_store(blk0, acc0);
    block_store(blk1, acc1);
    block_store(blk2, acc2);
    block_store(blk3, acc3);
    workgroupBarrier();

    let c0 = wg.z * p.m * p.n;
    for (var e = li; e < BM * BN / 4u; e += WG) {
        let r = e / (BN / 4u);
        let cv = (e % (BN / 4u)) * 4u;
        let row = row0 + r;
        let col = col0 + cv;
        if (row < p.m && col < p.n) {
            let at = r * SC + cv;
            var v = vec4<f32>(cs[at], cs[at + 1u], cs[at + 2u], cs[at + 3u]);
            if (BIAS == 1u) {
                v += bias[col >> 2u];
            }
            if (GELU == 1u) {
                v = vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w));
            }
            c[(c0 + row * p.n + col) >> 2u] = out4(v);
        }
    }
}
