//! One AdamW step on slices, in PyTorch's order of operations
//! (`torch.optim.adam._single_tensor_adam` with decoupled weight decay).
//! The twin of shaders/adamw/adamw.wgsl.

use rayon::prelude::*;

use crate::params::AdamWStep;

/// `x` as the f64 of its shortest decimal (0.999f32 -> 0.999): the value a
/// Python float holds when PyTorch is given the same hyper-parameter. Widening
/// the f32 itself would be off by its rounding error, which 1 - beta2
/// magnifies: f32(0.999) = 0.99900001287 makes 1 - beta2 wrong by 1.3e-5
/// relative, which moves v by ~200 ulp from PyTorch's.
pub fn decimal_f64(x: f32) -> f64 {
    format!("{x}").parse().unwrap_or(x as f64)
}

/// The per-step scalars, computed on the host in f64 (from the
/// hyper-parameters' decimals, see [`decimal_f64`]) and rounded to f32 once,
/// as PyTorch does with its Python-float scalars.
#[derive(Clone, Copy, Debug)]
pub struct AdamWScalars {
    pub grad_scale: f32,
    /// 1 - lr * weight_decay
    pub decay: f32,
    /// 1 - beta1 (the lerp weight)
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// lr / (1 - beta1^step)
    pub step_size: f32,
    /// sqrt(1 - beta2^step)
    pub bc2_sqrt: f32,
    pub eps: f32,
}

impl AdamWScalars {
    pub fn of(s: &AdamWStep) -> Self {
        let [lr, b1, b2, wd] = [s.lr, s.beta1, s.beta2, s.weight_decay].map(decimal_f64);
        let step = s.step as f64;
        let bc1 = 1.0 - b1.powf(step);
        let bc2 = 1.0 - b2.powf(step);
        Self {
            grad_scale: s.grad_scale,
            decay: (1.0 - lr * wd) as f32,
            one_minus_beta1: (1.0 - b1) as f32,
            beta2: s.beta2,
            one_minus_beta2: (1.0 - b2) as f32,
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            eps: s.eps,
        }
    }
}

/// One element's update: (param, m, v) after the step.
#[inline]
pub fn adamw_element(k: &AdamWScalars, p: f32, grad: f32, m: f32, v: f32) -> (f32, f32, f32) {
    let g = grad * k.grad_scale;
    let p = p * k.decay;
    let m = m + (g - m) * k.one_minus_beta1;
    let v = v * k.beta2 + k.one_minus_beta2 * g * g;
    let denom = v.sqrt() / k.bc2_sqrt + k.eps;
    (p - k.step_size * (m / denom), m, v)
}

const CHUNK: usize = 16384;

/// The updated (param, m, v); all four inputs have the same length.
pub fn adamw(
    param: &[f32],
    grad: &[f32],
    m: &[f32],
    v: &[f32],
    k: &AdamWScalars,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = param.len();
    let (mut po, mut mo, mut vo) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    po.par_chunks_mut(CHUNK)
        .zip(mo.par_chunks_mut(CHUNK))
        .zip(vo.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, ((po, mo), vo))| {
            let off = c * CHUNK;
            for j in 0..po.len() {
                let i = off + j;
                (po[j], mo[j], vo[j]) = adamw_element(k, param[i], grad[i], m[i], v[i]);
            }
        });
    (po, mo, vo)
}
