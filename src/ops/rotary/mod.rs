//! Rotary position embedding on packed QKV (the Nucleotide Transformer v2,
//! as Hugging Face's ESM applies it). Kernel: shaders/rotary/rotary.wgsl.
//! - qkv: [B, T, 3H] f32, q | k | v per token; `heads` heads of D = H / heads
//!   (even); position t = the token's row in its sequence.
//! - returns [B, T, 3H]: q and k rotated per head (halves, not interleaved
//!   pairs), v unchanged.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{Device, Tensor};

/// (cos θ, sin θ) for t < `seq`, j < D/2, θ = t · inv_freq[j] with
/// inv_freq[j] = 10000^(-2j/D), both products in f32 as PyTorch forms them.
pub fn rotary_table(seq: usize, head_dim: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let inv: Vec<f32> = (0..half)
        .map(|j| 1.0 / 10000f32.powf((2 * j) as f32 / head_dim as f32))
        .collect();
    let mut table = Vec::with_capacity(seq * half * 2);
    for t in 0..seq {
        for &f in &inv {
            let theta = (t as f32 * f) as f64;
            table.push(theta.cos() as f32);
            table.push(theta.sin() as f32);
        }
    }
    table
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    seq: u32,
    hidden: u32,
    head_dim: u32,
}

pub fn rotary(dev: &Device, qkv: &Tensor, heads: usize) -> Result<Tensor> {
    rotate(dev, "rotary", qkv, heads, false)
}

/// The backward of [`rotary`]: each rotation is orthogonal, so the gradient
/// of q and k turns back by -θ (the same kernel with sin θ negated); v's
/// passes through. dqkv: [B, T, 3H] -> [B, T, 3H].
pub fn rotary_backward(dev: &Device, dqkv: &Tensor, heads: usize) -> Result<Tensor> {
    rotate(dev, "rotary_backward", dqkv, heads, true)
}

fn rotate(
    dev: &Device,
    op: &'static str,
    qkv: &Tensor,
    heads: usize,
    inverse: bool,
) -> Result<Tensor> {
    let dtype = super::activation_dtype(dev, op, &[("qkv", qkv)])?;
    dev.check_on(op, &[("qkv", qkv)])?;
    let s = qkv.shape();
    if s.len() != 3
        || heads == 0
        || !s[2].is_multiple_of(3 * heads)
        || !(s[2] / (3 * heads)).is_multiple_of(2)
    {
        return Err(shape_err(
            op,
            format!("qkv {s:?} must be [B, T, 3H] with H = {heads} heads of an even head dim"),
        ));
    }
    let (b, t, hidden) = (s[0], s[1], s[2] / 3);
    let d = hidden / heads;
    let mut table = rotary_table(t, d);
    if inverse {
        table.iter_mut().skip(1).step_by(2).for_each(|s| *s = -*s);
    }
    match dev {
        Device::Cpu => {
            let y = cpu::rotary(&qkv.cpu_float(), &table, t, hidden, d);
            dev.output_as(op, s, dtype, y)
        }
        Device::Gpu(g) => {
            let y = dev.output_as(op, s, dtype, Vec::new())?;
            if qkv.numel() == 0 {
                return Ok(y);
            }
            let tab = dev.tensor_f32(&[t, d / 2, 2], &table)?;
            let params = Params {
                rows: u32_of(op, "B * T", b * t)?,
                seq: t as u32,
                hidden: hidden as u32,
                head_dim: d as u32,
            };
            u32_of(op, "elements", qkv.numel())?;
            g.dispatch(
                Kernel::Rotary.half(dtype),
                &[],
                &[qkv.gpu_buffer(), tab.gpu_buffer(), y.gpu_buffer()],
                &params,
                grid_items(g, qkv.numel()),
            )?;
            Ok(y)
        }
    }
}
