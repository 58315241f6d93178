//! Backward of the element-wise activations on slices: exact GELU, tanh
//! (from the forward's output), GeGLU and SwiGLU. The twins of
//! shaders/activation_backward/activation_backward.wgsl.

use rayon::prelude::*;

use crate::ops::elementwise::cpu::{gelu, silu};

const CHUNK: usize = 16384;

/// gelu'(x) = Phi(x) + x phi(x) for the exact GELU, with Phi through erfc
/// (as in `gelu`) so that negative x keep their relative precision.
pub fn gelu_grad(x: f32) -> f32 {
    let c = libm::erfcf(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let cdf = if x >= 0.0 { 1.0 - 0.5 * c } else { 0.5 * c };
    let pdf = (-0.5 * x * x).exp() * 0.398_942_3;
    cdf + x * pdf
}

/// tanh'(x) = 1 - y² from y = tanh(x), written (1 - y)(1 + y): exact where
/// |y| is near 1, where 1 - y * y would lose the difference.
pub fn tanh_grad_from_output(y: f32) -> f32 {
    (1.0 - y) * (1.0 + y)
}

/// out[i] = dy[i] * f(a[i]), in parallel chunks.
fn zip_map(a: &[f32], dy: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(o, (a, dy))| {
            for ((o, &a), &d) in o.iter_mut().zip(a).zip(dy) {
                *o = d * f(a);
            }
        });
    out
}

/// dx = dy * gelu'(x).
pub fn gelu_backward(x: &[f32], dy: &[f32]) -> Vec<f32> {
    zip_map(x, dy, gelu_grad)
}

/// dx = dy * (1 - y²), y = tanh(x) the forward's output.
pub fn tanh_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    zip_map(y, dy, tanh_grad_from_output)
}

/// silu'(u) = s (1 + u (1 - s)), s = sigmoid(u).
pub fn silu_grad(u: f32) -> f32 {
    let s = 1.0 / (1.0 + (-u).exp());
    s * (1.0 + u * (1.0 - s))
}

/// g: [R, 2I] (u = g[:, :I], v = g[:, I:]), df: [R, I] -> dg: [R, 2I] with
/// dg[:, :I] = df * v * act'(u) and dg[:, I:] = df * act(u), for the
/// activation `act` with derivative `act_grad` (GELU: GeGLU, SiLU: SwiGLU).
pub fn glu_backward(
    g: &[f32],
    df: &[f32],
    inner: usize,
    act: fn(f32) -> f32,
    act_grad: fn(f32) -> f32,
) -> Vec<f32> {
    let inner = inner.max(1);
    let mut dg = vec![0f32; g.len()];
    dg.par_chunks_mut(2 * inner)
        .zip(g.par_chunks(2 * inner).zip(df.par_chunks(inner)))
        .for_each(|(dg, (g, df))| {
            let (u, v) = g.split_at(inner);
            let (du, dv) = dg.split_at_mut(inner);
            for c in 0..inner {
                du[c] = df[c] * v[c] * act_grad(u[c]);
                dv[c] = df[c] * act(u[c]);
            }
        });
    dg
}

/// The GeGLU backward: [`glu_backward`] with GELU.
pub fn geglu_backward(g: &[f32], df: &[f32], inner: usize) -> Vec<f32> {
    glu_backward(g, df, inner, gelu, gelu_grad)
}

/// The SwiGLU backward: [`glu_backward`] with SiLU.
pub fn swiglu_backward(g: &[f32], df: &[f32], inner: usize) -> Vec<f32> {
    glu_backward(g, df, inner, silu, silu_grad)
}
