//! Element-wise and gather ops: GELU, tanh, add, GeGLU, embedding, pooling.

use rayon::prelude::*;

use crate::ops::pool::PoolMode;

/// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), through erfc so that negative x
/// keep full relative precision (the same formulation as gelu.wgsl).
pub fn gelu(x: f32) -> f32 {
    let c = libm::erfcf(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x >= 0.0 {
        x * (1.0 - 0.5 * c)
    } else {
        0.5 * x * c
    }
}

const CHUNK: usize = 16384;

pub fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x)));
    y
}

/// y[i] = a[i] + b[i % b.len()].
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    let nb = b.len();
    let mut y = vec![0f32; a.len()];
    y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| {
        let off = c * CHUNK;
        for (i, y) in ys.iter_mut().enumerate() {
            *y = a[off + i] + b[(off + i) % nb];
        }
    });
    y
}

/// g: [R, 2I] -> [R, I], gelu(u) * v.
pub fn geglu(g: &[f32], inner: usize) -> Vec<f32> {
    glu(g, inner, gelu)
}

/// `u * sigmoid(u)`.
pub fn silu(u: f32) -> f32 {
    u / (1.0 + (-u).exp())
}

/// `act(g[.., :I]) * g[.., I:]` row by row.
pub fn glu(g: &[f32], inner: usize, act: fn(f32) -> f32) -> Vec<f32> {
    let rows = g.len() / (2 * inner).max(1);
    let mut y = vec![0f32; rows * inner];
    y.par_chunks_mut(inner.max(1))
        .zip(g.par_chunks(2 * inner.max(1)))
        .for_each(|(y, g)| {
            let (u, v) = g.split_at(inner);
            for ((y, &u), &v) in y.iter_mut().zip(u).zip(v) {
                *y = act(u) * v;
            }
        });
    y
}

/// out[i] = table[ids[i]] ([H] rows); ids >= V give zero rows.
pub fn embedding(ids: &[u32], table: &[f32], hidden: usize) -> Vec<f32> {
    let vocab = table.len() / hidden.max(1);
    let mut out = vec![0f32; ids.len() * hidden];
    out.par_chunks_mut(hidden.max(1))
        .zip(ids.par_iter())
        .for_each(|(row, &id)| {
            if (id as usize) < vocab {
                let id = id as usize;
                row.copy_from_slice(&table[id * hidden..(id + 1) * hidden]);
            }
        });
    out
}

/// x: [B, T, H], mask: [B, T] -> [B, H] over valid rows (zeros if none).
pub fn pool(
    x: &[f32],
    mask: &[u32],
    batch: usize,
    seq: usize,
    hidden: usize,
    mode: PoolMode,
) -> Vec<f32> {
    let mut y = vec![0f32; batch * hidden];
    y.par_chunks_mut(hidden.max(1))
        .enumerate()
        .for_each(|(b, out)| {
            let rows = (0..seq).filter(|&t| mask[b * seq + t] != 0);
            let mut count = 0usize;
            match mode {
                PoolMode::Mean => {
                    for t in rows {
                        count += 1;
                        let r = &x[(b * seq + t) * hidden..][..hidden];
                        out.iter_mut().zip(r).for_each(|(o, v)| *o += v);
                    }
                    if count > 0 {
                        let inv = 1.0 / count as f32;
                        out.iter_mut().for_each(|o| *o *= inv);
                    }
                }
                PoolMode::Max => {
                    out.fill(f32::NEG_INFINITY);
                    for t in rows {
                        count += 1;
                        let r = &x[(b * seq + t) * hidden..][..hidden];
                        out.iter_mut().zip(r).for_each(|(o, &v)| *o = o.max(v));
                    }
                    if count == 0 {
                        out.fill(0.0);
                    }
                }
            }
        });
    y
}
