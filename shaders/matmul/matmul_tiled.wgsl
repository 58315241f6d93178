// matmul_tiled.wgsl — batched C = op(A) · op(B) (+ bias) (then GELU), f32
// arithmetic, the fast path for operands whose contiguous dimensions are
// multiples of 4. B is read through b4_at() from a prepended snippet that
// declares binding 1 (matmul_tiled_b_f32.wgsl, or matmul_tiled_b_f16.wgsl:
// f16 weights). A is array<act4> (common/act_f32.wgsl or act_f16.wgsl:
// half-precision activations) and C array<out4> (matmul_c_f32.wgsl or
// matmul_c_f16.wgsl), both from prepended snippets; sums are f32.
//   For each batch z: C[z] (M x N, row-major) = sum_k A(z, m, k) * B(z, k, n)
//   A is [M, K] row-major, or [K, M] when TRANS_A = 1 (A^T stored);
//   B is [K, N] row-major, or [N, K] when TRANS_B = 1 (a Linear weight).
//   a_batch / b_batch: elements between batches (0 broadcasts one matrix).
//   Requires N % 4 == 0, and the contiguous dimension of each operand (K or
//   M for A, N or K for B) % 4 == 0: every vec4 is wholly inside or outside.
//   BIAS = 1 adds bias[n] ([N]); GELU = 1 applies exact GELU after it.
// Split K: with splits = S > 1 (batch 1, no epilogue), workgroup layer z
//   sums k in [z * k_chunk, min(K, (z + 1) * k_chunk)) into c[z] ([S, M, N]);
//   the caller adds the S partial products. k_chunk is a multiple of BK.
// Bindings: 0 a, 1 b, 2 bias (bind a when unused), 3 c: [batch, M, N], 4 params.
// Tiling: a 16 x 16 workgroup computes a 128 x 128 tile of C, 8 x 8 outputs
// per invocation (rows ty*4 + {0..3} + {0, 64}, columns likewise with tx),
// over K in steps of BK (8, or 16 where workgroup memory allows: 2 x BK x
// 528 bytes). Each step's A and B slices are staged k-major in
// workgroup memory (rows padded to 132 floats against bank conflicts); the
// next step's slices are loaded into registers while this one is computed.
// Any M, N, K (within the multiples above): out-of-range vec4s read 0 and are
// not stored. Grid: (ceil(N / 128), ceil(M / 128), batch * S).

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

@group(0) @binding(0) var<storage, read> a: array<act4>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<out4>;
@group(0) @binding(4) var<uniform> params: Params;

const BM: u32 = 128u;
const BN: u32 = 128u;
override BK: u32 = 8u;
// Padded row length (floats) of the staged slices, a multiple of 4.
const STRIDE: u32 = 132u;
const STRIDE4: u32 = 33u;

var<workgroup> as4: array<vec4<f32>, BK * STRIDE4>;
var<workgroup> bs4: array<vec4<f32>, BK * STRIDE4>;

// Vec4s of the A and B slices each invocation stages per step.
const LOADS_MAX: u32 = 2u;

// Vec4 `e` (0 .. 256 * LOADS) of the A slice at k0, zero outside; ke: the
// end of this workgroup's range of k.
fn load_a(e: u32, row0: u32, k0: u32, ke: u32, base: u32) -> vec4<f32> {
    let p = params;
    if (TRANS_A == 0u) {
        // 128 rows x BK / 4 vec4 along k.
        let r = e / (BK / 4u);
        let kv = (e % (BK / 4u)) * 4u;
        if (row0 + r < p.m && k0 + kv < ke) {
            return vec4<f32>(a[(base + (row0 + r) * p.k + k0 + kv) >> 2u]);
        }
    } else {
        // BK k-rows x 32 vec4 along m.
        let kk = e >> 5u;
        let mv = (e & 31u) * 4u;
        if (k0 + kk < ke && row0 + mv < p.m) {
            return vec4<f32>(a[(base + (k0 + kk) * p.m + row0 + mv) >> 2u]);
        }
    }
    return vec4<f32>(0.0);
}

fn store_a(e: u32, v: vec4<f32>) {
    if (TRANS_A == 0u) {
        let r = e / (BK / 4u);
        let kv = (e % (BK / 4u)) * 4u;
        for (var q = 0u; q < 4u; q++) {
            let at = (kv + q) * STRIDE + r;
            as4[at >> 2u][at & 3u] = v[q];
        }
    } else {
        as4[(e >> 5u) * STRIDE4 + (e & 31u)] = v;
    }
}

fn load_b(e: u32, col0: u32, k0: u32, ke: u32, base: u32) -> vec4<f32> {
    let p = params;
    if (TRANS_B == 1u) {
        // 128 columns (rows of the stored [N, K]) x BK / 4 vec4 along k.
        let cidx = e / (BK / 4u);
        let kv = (e % (BK / 4u)) * 4u;
        if (col0 + cidx < p.n && k0 + kv < ke) {
            return b4_at((base + (col0 + cidx) * p.k + k0 + kv) >> 2u);
        }
    } else {
        // BK k-rows x 32 vec4 along n.
        let kk = e >> 5u;
        let nv = (e & 31u) * 4u;
        if (k0 + kk < ke && col0 + nv < p.n) {
            return b4_at((base + (k0 + kk) * p.n + col0 + nv) >> 2u);
        }
    }
    return vec4<f32>(0.0);
}

fn store_b(e: u32, v: vec4<f32>) {
    if (TRANS_B == 1u) {
        let cidx = e / (BK / 4u);
        let kv = (e % (BK / 4u)) * 4u;
        for (var q = 0u; q < 4u; q++) {
            let at = (kv + q) * STRIDE + cidx;
            bs4[at >> 2u][at & 3u] = v[q];
        }
    } else {
        bs4[(e >> 5u) * STRIDE4 + (e & 31u)] = v;
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let p = params;
    let z = wg.z / p.splits;
    let kb = (wg.z % p.splits) * p.k_chunk;
    let ke = min(p.k, kb + p.k_chunk);
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let a0 = z * p.a_batch;
    let b0 = z * p.b_batch;
    let tx = lid.x;
    let ty = lid.y;

    // acc[(i * 4 + r) * 2 + j]: row ty*4 + r + 64 i, columns tx*4 + 64 j + {0..3}.
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    var ra: array<vec4<f32>, LOADS_MAX>;
    var rb: array<vec4<f32>, LOADS_MAX>;
    for (var q = 0u; q < BK / 8u; q++) {
        ra[q] = load_a(li + 256u * q, row0, kb, ke, a0);
        rb[q] = load_b(li + 256u * q, col0, kb, ke, b0);
    }
    for (var k0 = kb; k0 < ke; k0 += BK) {
        for (var q = 0u; q < BK / 8u; q++) {
            store_a(li + 256u * q, ra[q]);
            store_b(li + 256u * q, rb[q]);
        }
        workgroupBarrier();
        if (k0 + BK < ke) {
            for (var q = 0u; q < BK / 8u; q++) {
                ra[q] = load_a(li + 256u * q, row0, k0 + BK, ke, a0);
                rb[q] = load_b(li + 256u * q, col0, k0 + BK, ke, b0);
            }
        }
        for (var kk = 0u; kk < BK; kk++) {
            let fa0 = as4[kk * STRIDE4 + ty];
            let fa1 = as4[kk * STRIDE4 + 16u + ty];
            let fb0 = bs4[kk * STRIDE4 + tx];
            let fb1 = bs4[kk * STRIDE4 + 16u + tx];
            for (var r = 0u; r < 4u; r++) {
                acc[r * 2u] = fma(vec4<f32>(fa0[r]), fb0, acc[r * 2u]);
                acc[r * 2u + 1u] = fma(vec4<f32>(fa0[r]), fb1, acc[r * 2u + 1u]);
                acc[(4u + r) * 2u] = fma(vec4<f32>(fa1[r]), fb0, acc[(4u + r) * 2u]);
                acc[(4u + r) * 2u + 1u] = fma(vec4<f32>(fa1[r]), fb1, acc[(4u + r) * 2u + 1u]);
            }
        }
        workgroupBarrier();
    }

    let c0 = wg.z * p.m * p.n;
    for (var i = 0u; i < 2u; i++) {
        for (var r = 0u; r < 4u; r++) {
            let row = row0 + ty * 4u + r + 64u * i;
            for (var j = 0u; j < 2u; j++) {
                let col = col0 + tx * 4u + 64u * j;
                if (row < p.m && col < p.n) {
                    var v = acc[(i * 4u + r) * 2u + j];
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
    }
}
