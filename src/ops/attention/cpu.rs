//! Attention forward on the CPU: same contract as flash_attention.wgsl
//! (packed QKV, ALiBi slopes, key padding mask, log-sum-exp out). Each task
//! takes one head and a block of query rows: S = Q K^T and O = P V go
//! through the `gemm` crate, with the ALiBi bias and the softmax in between.
//! Memory is linear in T: a task holds one head's valid K and V and a
//! ROWS x T block of scores.

use rayon::prelude::*;

use crate::params::AttentionDims;

/// Query rows per task.
const ROWS: usize = 64;

/// `dst = scale * lhs · rhs` for row-major `dst` [m, n], with the operands'
/// (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn gemm_into(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
    scale: f32,
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || (m - 1) * lhs_rs + k <= lhs.len());
    debug_assert!(n == 0 || k == 0 || (k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len());
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // SAFETY: the callers slice `lhs` and `rhs` so that every index above is
    // in bounds (checked in debug builds); `dst` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Returns (out [B, T, H], lse [B, heads, T]).
#[multiversion::multiversion(targets = "simd")]
pub fn attention(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    d: &AttentionDims,
) -> (Vec<f32>, Vec<f32>) {
    let (t, hd, heads) = (d.seq, d.head_dim, d.heads);
    let hid = heads * hd;
    let mut out = vec![0f32; d.batch * t * hid];
    let mut lse = vec![f32::MIN; d.batch * heads * t];
    // Each (b, h)'s valid keys and their K and V rows, contiguous.
    let kv: Vec<(Vec<usize>, Vec<f32>, Vec<f32>)> = (0..d.batch * heads)
        .into_par_iter()
        .map(|bh| {
            let (b, h) = (bh / heads, bh % heads);
            let keys: Vec<usize> = (0..t).filter(|&j| mask[b * t + j] != 0).collect();
            let mut k = Vec::with_capacity(keys.len() * hd);
            let mut v = Vec::with_capacity(keys.len() * hd);
            for &j in &keys {
                let base = (b * t + j) * 3 * hid + h * hd;
                k.extend_from_slice(&qkv[base + hid..base + hid + hd]);
                v.extend_from_slice(&qkv[base + 2 * hid..base + 2 * hid + hd]);
            }
            (keys, k, v)
        })
        .collect();
    let blocks = t.div_ceil(ROWS);
    let results: Vec<(Vec<f32>, Vec<f32>)> = (0..d.batch * heads * blocks)
        .into_par_iter()
        .map(|task| {
            let (bh, blk) = (task / blocks, task % blocks);
            let (b, h) = (bh / heads, bh % heads);
            let (keys, k, v) = &kv[bh];
            let (i0, rows) = (blk * ROWS, ROWS.min(t - blk * ROWS));
            let n = keys.len();
            let mut o = vec![0f32; rows * hd];
            let mut l = vec![f32::MIN; rows];
            if n == 0 {
                return (o, l);
            }
            // S = scale * Q K^T: Q rows straight from qkv (stride 3H).
            let q = &qkv[(b * t + i0) * 3 * hid + h * hd..];
            let mut s = vec![0f32; rows * n];
            gemm_into(&mut s, rows, n, hd, q, 3 * hid, k, 1, hd, d.scale);
            let slope = slopes[h];
            // Positions as f32 (exact below 2^24) so the ALiBi term vectorises.
            let key_pos: Vec<f32> = keys.iter().map(|&j| j as f32).collect();
            for (r, srow) in s.chunks_mut(n).enumerate() {
                let i = (i0 + r) as f32;
                for (sv, &j) in srow.iter_mut().zip(&key_pos) {
                    *sv -= slope * (i - j).abs();
                }
                let (m, sum) = crate::simd::softmax_in_place(srow);
                l[r] = m + sum.ln();
            }
            // O = P V.
            gemm_into(&mut o, rows, hd, n, &s, n, v, hd, 1, 1.0);
            (o, l)
        })
        .collect();
    for (task, (o, l)) in results.into_iter().enumerate() {
        let (bh, blk) = (task / blocks, task % blocks);
        let (b, h) = (bh / heads, bh % heads);
        for (r, (orow, lv)) in o.chunks(hd).zip(l).enumerate() {
            let i = blk * ROWS + r;
            out[(b * t + i) * hid + h * hd..][..hd].copy_from_slice(orow);
            lse[(b * heads + h) * t + i] = lv;
        }
    }
    (out, lse)
}

/// The attention probabilities of heads `heads_out`: [B, NH, T, T], same
/// contract as attention_probs.wgsl (0 at padded keys, padded query rows
/// all 0). Scores as [`attention`] forms them, each (b, head, row) a task.
#[multiversion::multiversion(targets = "simd")]
pub fn probs(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    d: &AttentionDims,
    heads_out: std::ops::Range<usize>,
) -> Vec<f32> {
    let (t, hd, hid) = (d.seq, d.head_dim, d.heads * d.head_dim);
    let nh = heads_out.len();
    let mut out = vec![0f32; d.batch * nh * t * t];
    out.par_chunks_mut(t.max(1))
        .enumerate()
        .for_each(|(row, p)| {
            let (bn, i) = (row / t, row % t);
            let (b, h) = (bn / nh, heads_out.start + bn % nh);
            if mask[b * t + i] == 0 {
                return;
            }
            let q = &qkv[(b * t + i) * 3 * hid + h * hd..][..hd];
            // Padded keys score -inf, which the softmax turns into 0.
            for (j, pj) in p.iter_mut().enumerate() {
                *pj = if mask[b * t + j] != 0 {
                    let k = &qkv[(b * t + j) * 3 * hid + hid + h * hd..][..hd];
                    let dot: f32 = q.iter().zip(k).map(|(a, c)| a * c).sum();
                    dot * d.scale - slopes[h] * (i.abs_diff(j) as f32)
                } else {
                    f32::NEG_INFINITY
                };
            }
            crate::simd::softmax_in_place(p);
        });
    out
}
