// matmul.wgsl — batched C = op(A) · op(B) (+ bias) (then GELU), f32
// arithmetic; B is read through b_at() from a prepended snippet that
// declares binding 1 (matmul_b_f32.wgsl, or matmul_b_f16.wgsl: f16 weights);
// A and C are array<act> (common/act_f32.wgsl, or act_f16.wgsl: half-precision
// activations, summed in f32 and rounded once as stored).
//   For each batch z: C[z] (M x N, row-major, contiguous) =
//     sum_k A(z, m, k) * B(z, k, n)
//   where A(z, m, k) = a[z * a_batch + m * a_rs + k * a_cs] and
//         B(z, k, n) = b[z * b_batch + k * b_rs + n * b_cs].
//   Strides express op ∈ {identity, transpose}: A row-major [M, K] is
//   (a_rs, a_cs) = (K, 1), A^T stored [K, M] is (1, M); a_batch = 0
//   broadcasts one matrix over the batch (shared weights).
//   flags bit 0: add bias[n] (bias: [N]); bit 1: apply exact GELU after it.
// Bindings: 0 a, 1 b, 2 bias (bind a when unused), 3 c: [batch, M, N], 4 params.
// Tiling: a 16 x 16 workgroup computes a 64 x 64 tile of C, 4 x 4 outputs per
// invocation, staging 64 x 16 slices of A and B through workgroup memory.
// Any M, N, K: out-of-range loads read 0 and out-of-range stores are skipped.
// Grid: (ceil(N / 64), ceil(M / 64), batch).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_batch: u32,
    a_rs: u32,
    a_cs: u32,
    b_batch: u32,
    b_rs: u32,
    b_cs: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<act>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<act>;
@group(0) @binding(4) var<uniform> params: Params;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

// Tiles stored k-major: as_[kk * TM + m], bs[kk * TN + n].
var<workgroup> as_: array<f32, 1024>;
var<workgroup> bs: array<f32, 1024>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let p = params;
    let z = wg.z;
    let row0 = wg.y * TM;
    let col0 = wg.x * TN;
    let a0 = z * p.a_batch;
    let b0 = z * p.b_batch;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }

    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        // Each invocation stages 4 elements of each tile; the mapping follows
        // the contiguous direction of memory so neighbours read neighbours.
        for (var e = 0u; e < 4u; e++) {
            let idx = li + e * 256u;
            var kk: u32;
            var mm: u32;
            if (p.a_cs == 1u) {
                kk = idx % TK;
                mm = idx / TK;
            } else {
                mm = idx % TM;
                kk = idx / TM;
            }
            var va = 0.0;
            if (row0 + mm < p.m && k0 + kk < p.k) {
                va = f32(a[a0 + (row0 + mm) * p.a_rs + (k0 + kk) * p.a_cs]);
            }
            as_[kk * TM + mm] = va;

            var nn: u32;
            if (p.b_cs == 1u) {
                nn = idx % TN;
                kk = idx / TN;
            } else {
                kk = idx % TK;
                nn = idx / TK;
            }
            var vb = 0.0;
            if (col0 + nn < p.n && k0 + kk < p.k) {
                vb = b_at(b0 + (k0 + kk) * p.b_rs + (col0 + nn) * p.b_cs);
            }
            bs[kk * TN + nn] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            var fa: array<f32, 4>;
            var fb: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                fa[i] = as_[kk * TM + lid.y + 16u * i];
                fb[i] = bs[kk * TN + lid.x + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(fa[i], fb[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }

    let c0 = z * p.m * p.n;
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x + 16u * j;
            if (row < p.m && col < p.n) {
                var v = acc[i * 4u + j];
                if ((p.flags & 1u) != 0u) {
                    v += bias[col];
                }
                if ((p.flags & 2u) != 0u) {
                    v = gelu(v);
                }
                c[c0 + row * p.n + col] = act(v);
            }
        }
    }
}
