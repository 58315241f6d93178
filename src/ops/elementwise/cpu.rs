//! CPU twin of the element-wise ops: GELU, tanh, add, GeGLU / SwiGLU.

use rayon::prelude::*;

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
