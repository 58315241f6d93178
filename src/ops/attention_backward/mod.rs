//! Backward of [`super::attention`] (FlashAttention-2 style, see
//! docs/backward.md): the gradient w.r.t. the packed QKV input,
//! with the scores recomputed tile by tile from the forward's log-sum-exp
//! (memory linear in T, no atomics). Two kernels:
//! - shaders/attention_backward/flash_attention_backward_q.wgsl: one query row per invocation,
//!   D_i = dO_i · O_i and dQ_i; writes D to a [B, heads, T] scratch buffer;
//! - shaders/attention_backward/flash_attention_backward_kv.wgsl: one key row per invocation,
//!   dK_j and dV_j.
//!
//! Padded query rows (mask 0) contribute nothing and get dq = 0; padded keys
//! get dk = dv = 0; an all-padding sequence gives zeros. The ALiBi slopes are
//! constants (no gradient).
//!
//! `qkv` and `out` may be f16 (training with half-precision activations:
//! the forward's saved tensors); `lse`, `dout` and dqkv are f32.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::attention::AttentionDims;
use super::u32_of;
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

/// Gradient of `attention` w.r.t. its packed input: dqkv [B, T, 3H] (dq | dk | dv per token,
/// same packing as qkv). `out`, `lse` are the forward's outputs; `dout` is [B, T, H].
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
    out: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "attention_backward";
    let saved = super::activation_dtype(dev, OP, &[("qkv", qkv), ("out", out)])?;
    let d = AttentionDims::check(OP, dev, qkv, mask, slopes, heads)?;
    dev.check_on(OP, &[("out", out)])?;
    for (name, t) in [("lse", lse), ("dout", dout)] {
        t.check_dtype(OP, name, DType::F32)?;
        dev.check_on(OP, &[(name, t)])?;
    }
    let s = qkv.shape();
    let (batch, seq, head_dim) = (d.batch, d.seq, d.head_dim);
    let hid = heads * head_dim;
    for (name, t, want, form) in [
        ("lse", lse, vec![batch, heads, seq], "[B, heads, T]"),
        ("out", out, vec![batch, seq, hid], "[B, T, H]"),
        ("dout", dout, vec![batch, seq, hid], "[B, T, H]"),
    ] {
        if t.shape() != want.as_slice() {
            return Err(shape_err(
                OP,
                format!(
                    "{name} {:?} must be {form} = {want:?} for qkv {s:?} with {heads} heads",
                    t.shape()
                ),
            ));
        }
    }
    match dev {
        Device::Cpu => {
            let dqkv = cpu::attention_backward(
                &qkv.cpu_float(),
                mask.cpu_u32(),
                slopes.cpu_f32(),
                &out.cpu_float(),
                lse.cpu_f32(),
                dout.cpu_f32(),
                &d,
            );
            dev.output_f32(OP, s, dqkv)
        }
        Device::Gpu(g) => {
            u32_of(OP, "qkv size", qkv.numel())?;
            let dqkv = dev.output_f32(OP, s, Vec::new())?;
            let delta = dev.output_f32(OP, &[batch, heads, seq], Vec::new())?;
            let (params, consts) = (d.params(), d.constants());
            let groups = [
                seq.div_ceil(64) as u32,
                u32_of(OP, "B * heads", batch * heads)?,
                1,
            ];
            g.dispatch(
                Kernel::FlashAttentionBackwardQ.half(saved),
                &consts,
                &[
                    qkv.gpu_buffer(),
                    mask.gpu_buffer(),
                    slopes.gpu_buffer(),
                    out.gpu_buffer(),
                    lse.gpu_buffer(),
                    dout.gpu_buffer(),
                    dqkv.gpu_buffer(),
                    delta.gpu_buffer(),
                ],
                &params,
                groups,
            )?;
            g.dispatch(
                Kernel::FlashAttentionBackwardKv.half(saved),
                &consts,
                &[
                    qkv.gpu_buffer(),
                    mask.gpu_buffer(),
                    slopes.gpu_buffer(),
                    lse.gpu_buffer(),
                    dout.gpu_buffer(),
                    delta.gpu_buffer(),
                    dqkv.gpu_buffer(),
                ],
                &params,
                groups,
            )?;
            Ok(dqkv)
        }
    }
}
