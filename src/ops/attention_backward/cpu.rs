//! Attention backward on the CPU: the twin of flash_attention_backward_q.wgsl
//! and flash_attention_backward_kv.wgsl (same contract as
//! `ops::attention_backward`). Scores are recomputed block by block from the
//! forward's log-sum-exp, never stored whole. Each rayon task takes one
//! (batch, head) and one chunk of its valid keys, walks that head's valid
//! query rows `ROWS` at a time and runs the five products of a block through
//! the `gemm` crate:
//!   S = scale Q K^T, P = exp(S - bias - lse), dP = dO V^T,
//!   dS = P * (dP - D), dV += P^T dO, dK += scale dS^T Q, dQ = scale dS K.
//! The chunk's dK and dV are final; its dQ is a partial sum over its keys,
//! and the (few) chunks' partials are added afterwards. Memory per task is
//! linear in T: one head's valid rows, a ROWS x chunk block of scores and a
//! partial dQ.

use rayon::prelude::*;

use crate::params::AttentionDims;

/// Query rows per block.
const ROWS: usize = 64;
/// At most this many key chunks per (batch, head): bounds the partial dQs.
const MAX_CHUNKS: usize = 8;

/// A strided read-only matrix operand: element (r, c) at `r * rs + c * cs`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    fn rows(data: &'a [f32], width: usize) -> Self {
        Mat {
            data,
            rs: width,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix `width` wide.
    fn transposed(data: &'a [f32], width: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: width,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = scale * lhs · rhs` (or `dst += ...` when `accumulate`), with `dst`
/// row-major [m, n], `lhs` [m, k], `rhs` [k, n].
#[allow(clippy::too_many_arguments)]
fn gemm(
    dst: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat,
    rhs: Mat,
    scale: f32,
    accumulate: bool,
) {
    assert!(dst.len() >= m * n && lhs.fits(m, k) && rhs.fits(k, n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the assert above keeps every element gemm touches in bounds;
    // `dst` is exclusively borrowed and does not alias the operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// One (batch, head)'s valid rows, gathered contiguous ([n, D] each).
struct Head {
    /// Positions (in 0..T) of the valid tokens, ascending.
    pos: Vec<usize>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    dout: Vec<f32>,
    lse: Vec<f32>,
    /// D_i = dO_i · O_i.
    delta: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
fn gather(
    qkv: &[f32],
    mask: &[u32],
    out: &[f32],
    lse: &[f32],
    dout: &[f32],
    d: &AttentionDims,
    b: usize,
    h: usize,
) -> Head {
    let (t, hd) = (d.seq, d.head_dim);
    let hid = d.heads * hd;
    let pos: Vec<usize> = (0..t).filter(|&j| mask[b * t + j] != 0).collect();
    let n = pos.len();
    let mut head = Head {
        q: Vec::with_capacity(n * hd),
        k: Vec::with_capacity(n * hd),
        v: Vec::with_capacity(n * hd),
        dout: Vec::with_capacity(n * hd),
        lse: Vec::with_capacity(n),
        delta: Vec::with_capacity(n),
        pos,
    };
    for &j in &head.pos {
        let base = (b * t + j) * 3 * hid + h * hd;
        head.q.extend_from_slice(&qkv[base..base + hd]);
        head.k.extend_from_slice(&qkv[base + hid..base + hid + hd]);
        head.v
            .extend_from_slice(&qkv[base + 2 * hid..base + 2 * hid + hd]);
        let row = (b * t + j) * hid + h * hd;
        let (o, g) = (&out[row..row + hd], &dout[row..row + hd]);
        head.dout.extend_from_slice(g);
        head.delta.push(o.iter().zip(g).map(|(a, b)| a * b).sum());
        head.lse.push(lse[(b * d.heads + h) * t + j]);
    }
    head
}

/// What one task computes for its key chunk `k0 .. k0 + kc` of a head.
struct Chunk {
    /// [kc, D]
    dk: Vec<f32>,
    /// [kc, D]
    dv: Vec<f32>,
    /// [n, D]: this chunk's share of dQ.
    dq: Vec<f32>,
}

fn chunk_backward(head: &Head, slope: f32, k0: usize, kc: usize, d: &AttentionDims) -> Chunk {
    let hd = d.head_dim;
    let n = head.pos.len();
    let (kk, vv) = (&head.k[k0 * hd..], &head.v[k0 * hd..]);
    let mut c = Chunk {
        dk: vec![0f32; kc * hd],
        dv: vec![0f32; kc * hd],
        dq: vec![0f32; n * hd],
    };
    let mut p = vec![0f32; ROWS * kc];
    let mut dp = vec![0f32; ROWS * kc];
    for i0 in (0..n).step_by(ROWS) {
        let rows = ROWS.min(n - i0);
        let (q, g) = (&head.q[i0 * hd..], &head.dout[i0 * hd..]);
        // S = scale Q K^T, then P = exp(S - bias - lse).
        gemm(
            &mut p,
            rows,
            kc,
            hd,
            Mat::rows(q, hd),
            Mat::transposed(kk, hd),
            d.scale,
            false,
        );
        // dP = dO V^T.
        gemm(
            &mut dp,
            rows,
            kc,
            hd,
            Mat::rows(g, hd),
            Mat::transposed(vv, hd),
            1.0,
            false,
        );
        for r in 0..rows {
            let i = head.pos[i0 + r];
            let (l, delta) = (head.lse[i0 + r], head.delta[i0 + r]);
            let prow = &mut p[r * kc..(r + 1) * kc];
            let dprow = &mut dp[r * kc..(r + 1) * kc];
            for ((pv, dpv), &j) in prow.iter_mut().zip(dprow).zip(&head.pos[k0..k0 + kc]) {
                *pv = (*pv - slope * i.abs_diff(j) as f32 - l).exp();
                // dS, in place of dP.
                *dpv = *pv * (*dpv - delta);
            }
        }
        let ds = &dp;
        // dV += P^T dO; dK += scale dS^T Q; dQ (this chunk's share) = scale dS K.
        gemm(
            &mut c.dv,
            kc,
            hd,
            rows,
            Mat::transposed(&p, kc),
            Mat::rows(g, hd),
            1.0,
            true,
        );
        gemm(
            &mut c.dk,
            kc,
            hd,
            rows,
            Mat::transposed(ds, kc),
            Mat::rows(q, hd),
            d.scale,
            true,
        );
        gemm(
            &mut c.dq[i0 * hd..],
            rows,
            hd,
            kc,
            Mat::rows(ds, kc),
            Mat::rows(kk, hd),
            d.scale,
            false,
        );
    }
    c
}

/// Returns dqkv [B, T, 3H]: dq | dk | dv per token, zero on padded tokens.
/// `out` [B, T, H] and `lse` [B, heads, T] are the forward's outputs, `dout`
/// [B, T, H] the gradient of the loss w.r.t. `out`.
pub fn attention_backward(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    out: &[f32],
    lse: &[f32],
    dout: &[f32],
    d: &AttentionDims,
) -> Vec<f32> {
    let (t, hd, heads) = (d.seq, d.head_dim, d.heads);
    let hid = heads * hd;
    let mut dqkv = vec![0f32; d.batch * t * 3 * hid];
    let bh_count = d.batch * heads;
    let gathered: Vec<Head> = (0..bh_count)
        .into_par_iter()
        .map(|bh| gather(qkv, mask, out, lse, dout, d, bh / heads, bh % heads))
        .collect();
    // Enough chunks to keep every thread busy when B * heads is small.
    let want_chunks = (2 * rayon::current_num_threads())
        .div_ceil(bh_count.max(1))
        .clamp(1, MAX_CHUNKS);
    let chunking: Vec<(usize, usize)> = gathered
        .iter()
        .map(|g| {
            let n = g.pos.len();
            let chunks = want_chunks.min(n.div_ceil(ROWS)).max(1);
            (chunks, n.div_ceil(chunks).max(1))
        })
        .collect();
    let tasks: Vec<(usize, usize)> = chunking
        .iter()
        .enumerate()
        .flat_map(|(bh, &(chunks, _))| (0..chunks).map(move |c| (bh, c)))
        .collect();
    let results: Vec<Chunk> = tasks
        .par_iter()
        .map(|&(bh, c)| {
            let head = &gathered[bh];
            let size = chunking[bh].1;
            let k0 = (c * size).min(head.pos.len());
            let kc = size.min(head.pos.len() - k0);
            chunk_backward(head, slopes[bh % heads], k0, kc, d)
        })
        .collect();
    let mut results = results.into_iter();
    for (bh, head) in gathered.iter().enumerate() {
        let (b, h) = (bh / heads, bh % heads);
        let (chunks, size) = chunking[bh];
        let mut dq = vec![0f32; head.pos.len() * hd];
        for c in 0..chunks {
            let part = results.next().expect("one result per task");
            dq.iter_mut().zip(&part.dq).for_each(|(a, b)| *a += b);
            let k0 = c * size;
            for (r, (dk, dv)) in part.dk.chunks(hd).zip(part.dv.chunks(hd)).enumerate() {
                let base = (b * t + head.pos[k0 + r]) * 3 * hid + h * hd;
                dqkv[base + hid..base + hid + hd].copy_from_slice(dk);
                dqkv[base + 2 * hid..base + 2 * hid + hd].copy_from_slice(dv);
            }
        }
        for (&i, row) in head.pos.iter().zip(dq.chunks(hd)) {
            let base = (b * t + i) * 3 * hid + h * hd;
            dqkv[base..base + hd].copy_from_slice(row);
        }
    }
    dqkv
}
