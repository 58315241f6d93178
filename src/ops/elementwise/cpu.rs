//! CPU twin of the element-wise ops: GELU, tanh, add, GeGLU / SwiGLU.

use rayon::prelude::*;

/// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), through erfc so that negative x
/// keep full relative precision (the same formulation as gelu.wgsl; see
/// `crate::simd::gelu`).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    crate::simd::gelu(x)
}

const CHUNK: usize = 16384;

pub fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            crate::simd::dispatch(|| y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x)))
        });
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
#[inline(always)]
pub fn silu(u: f32) -> f32 {
    u / (1.0 + crate::simd::exp(-u))
}

/// `act(g[.., :I]) * g[.., I:]` row by row.
pub fn glu(g: &[f32], inner: usize, act: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let rows = g.len() / (2 * inner).max(1);
    let mut y = vec![0f32; rows * inner];
    y.par_chunks_mut(inner.max(1))
        .zip(g.par_chunks(2 * inner.max(1)))
        .for_each(|(y, g)| {
            let (u, v) = g.split_at(inner);
            crate::simd::dispatch(|| {
                for ((y, &u), &v) in y.iter_mut().zip(u).zip(v) {
                    *y = act(u) * v;
                }
            })
        });
    y
}
