//! Attention forward on the CPU: same contract as flash_attention.wgsl
//! (packed QKV, ALiBi slopes, key padding mask, log-sum-exp out). Memory is
//! linear in T: each task holds one head's K and V and one row of scores.

use rayon::prelude::*;

use crate::ops::attention::AttentionDims;

/// Rows of queries per rayon task.
const ROWS: usize = 32;

/// Returns (out [B, T, H], lse [B, heads, T]).
pub fn attention(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    d: &AttentionDims,
) -> (Vec<f32>, Vec<f32>) {
    let (t, hd, heads) = (d.seq, d.head_dim, d.heads);
    let hid = heads * hd;
    let mut out = vec![0f32; d.batch * t * hid];
    let mut lse = vec![0f32; d.batch * heads * t];
    // Gather each (b, h)'s keys and values contiguously, valid keys only.
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
            let rows = (blk * ROWS)..((blk + 1) * ROWS).min(t);
            let mut o = vec![0f32; rows.len() * hd];
            let mut l = vec![f32::MIN; rows.len()];
            let mut s = vec![0f32; keys.len()];
            for (r, i) in rows.enumerate() {
                if keys.is_empty() {
                    continue;
                }
                let q = &qkv[(b * t + i) * 3 * hid + h * hd..][..hd];
                let mut m = f32::NEG_INFINITY;
                for (n, &j) in keys.iter().enumerate() {
                    let kj = &k[n * hd..(n + 1) * hd];
                    let dot: f32 = q.iter().zip(kj).map(|(a, b)| a * b).sum();
                    s[n] = dot * d.scale - slopes[h] * (i.abs_diff(j) as f32);
                    m = m.max(s[n]);
                }
                let mut sum = 0.0;
                let orow = &mut o[r * hd..(r + 1) * hd];
                for (n, sn) in s.iter().enumerate() {
                    let p = (sn - m).exp();
                    sum += p;
                    orow.iter_mut()
                        .zip(&v[n * hd..(n + 1) * hd])
                        .for_each(|(o, v)| *o += p * v);
                }
                let inv = 1.0 / sum;
                orow.iter_mut().for_each(|o| *o *= inv);
                l[r] = m + sum.ln();
            }
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
