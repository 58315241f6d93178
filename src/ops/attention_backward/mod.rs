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
//!
//! [`attention_backward_half`] runs the same two passes on cooperative
//! matrices where the device has them (head dim 64; the `_coop` kernels:
//! f16 operands and probabilities, f32 sums), as the forward's
//! `attention_half` does.

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
    attention_backward_with(dev, qkv, mask, slopes, heads, out, lse, dout, false)
}

/// [`attention_backward`] in half precision where the device runs the
/// cooperative kernels (layers whose weights are f16: mixed precision),
/// else on the one-row-per-invocation kernels (f32 arithmetic; they too
/// read f16 saved tensors).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_half(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
    out: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
) -> Result<Tensor> {
    let coop = runs_cooperative(dev, super::attention::head_dim_of(qkv, heads));
    attention_backward_with(dev, qkv, mask, slopes, heads, out, lse, dout, coop)
}

/// Whether the cooperative backward kernels run on `dev` for `head_dim`.
pub fn runs_cooperative(dev: &Device, head_dim: usize) -> bool {
    matches!(dev, Device::Gpu(g) if coop_kernels(g, head_dim).is_some())
}

/// The cooperative kernels (query side, key side) that run on `g` for
/// `head_dim`, if any, and the rows (keys) each workgroup takes: 2 blocks.
fn coop_kernels(g: &crate::gpu::GpuDevice, head_dim: usize) -> Option<(Kernel, Kernel, usize)> {
    let pair = match g.cooperative_block()? {
        16 => (
            Kernel::FlashAttentionBackwardQCoop16,
            Kernel::FlashAttentionBackwardKvCoop16,
            32,
        ),
        _ => (
            Kernel::FlashAttentionBackwardQCoop8,
            Kernel::FlashAttentionBackwardKvCoop8,
            16,
        ),
    };
    super::attention::coop_runs(g, head_dim, &[pair.0, pair.1]).then_some(pair)
}

/// [`attention_backward`] on the cooperative kernels (`coop`; an error
/// where they do not run) or the f32 ones; the CPU backend ignores it.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_with(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
    out: &Tensor,
    lse: &Tensor,
    dout: &Tensor,
    coop: bool,
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
            let (params, mut consts) = (d.params(), d.constants().to_vec());
            let mut kernels = (
                Kernel::FlashAttentionBackwardQ,
                Kernel::FlashAttentionBackwardKv,
            );
            let mut rows = 64;
            if coop {
                let Some((q, kv, tile)) = coop_kernels(g, head_dim) else {
                    return Err(crate::Error::Gpu(format!(
                        "the cooperative attention backward needs head dim 64 (not {head_dim}) and a device with cooperative matrices and a fixed subgroup size ({}: dnagpu info)",
                        g.summary().name
                    )));
                };
                kernels = (q, kv);
                rows = tile;
                consts = vec![("WG", 4 * g.summary().subgroup_max_size)];
            }
            let groups = [
                seq.div_ceil(rows) as u32,
                u32_of(OP, "B * heads", batch * heads)?,
                1,
            ];
            g.dispatch(
                kernels.0.half(saved),
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
                kernels.1.half(saved),
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
