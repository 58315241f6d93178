//! The attention probabilities themselves, [B, heads, T, T], for
//! inspection (`dnagpu attention`): the forward's scores (same packed QKV,
//! ALiBi slopes and key padding mask as [`super::attention`]), softmaxed
//! and materialised, which the flash kernels never do. Kernel:
//! shaders/attention/attention_probs.wgsl; CPU twin: [`super::cpu::probs`].
//! - qkv: [B, T, 3H] f32 (rotated already where the model is rotary);
//! - mask: [B, T] u32; slopes: [heads] f32;
//! - returns [B, NH, T, T] for heads `head0 .. head0 + NH`: row i of head
//!   h is softmax_j((q_i · k_j) / sqrt(D) - m_h |i - j|) over valid keys,
//!   0 at padded keys; a padded query's row is all 0.

use std::ops::Range;

use super::u32_of;
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::params::AttentionDims;
use crate::{Device, Tensor};

/// The softmax attention probabilities of heads `heads_out` (a range of
/// `0..heads`) over packed `qkv` with `heads` heads: [B, NH, T, T].
pub fn attention_probs(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
    heads_out: Range<usize>,
) -> Result<Tensor> {
    const OP: &str = "attention_probs";
    qkv.check_dtype(OP, "qkv", crate::DType::F32)?;
    let d = AttentionDims::check(OP, dev, qkv, mask, slopes, heads)?;
    if heads_out.is_empty() || heads_out.end > heads {
        return Err(shape_err(
            OP,
            format!("heads {heads_out:?} must be a non-empty range of 0..{heads}"),
        ));
    }
    let (b, t, nh) = (d.batch, d.seq, heads_out.len());
    let shape = [b, nh, t, t];
    match dev {
        Device::Cpu => {
            let p = super::cpu::probs(
                qkv.cpu_f32(),
                mask.cpu_u32(),
                slopes.cpu_f32(),
                &d,
                heads_out,
            );
            dev.output_f32(OP, &shape, p)
        }
        Device::Gpu(g) => {
            u32_of(OP, "qkv size", qkv.numel())?;
            u32_of(OP, "output size", b * nh * t * t)?;
            let out = dev.output_f32(OP, &shape, Vec::new())?;
            if out.numel() == 0 {
                return Ok(out);
            }
            let mut params = d.params();
            params.head0 = heads_out.start as u32;
            params.nh = nh as u32;
            let groups = [u32_of(OP, "T", t)?, u32_of(OP, "B * heads", b * nh)?, 1];
            g.dispatch(
                Kernel::AttentionProbs,
                &[],
                &[
                    qkv.gpu_buffer(),
                    mask.gpu_buffer(),
                    slopes.gpu_buffer(),
                    out.gpu_buffer(),
                ],
                &params,
                groups,
            )?;
            Ok(out)
        }
    }
}
