//! Backward of [`super::attention`] (FlashAttention-2 style, see
//! docs/backward.md): the gradient w.r.t. the packed QKV input,
//! with the scores recomputed tile by tile from the forward's log-sum-exp
//! (memory linear in T, no atomics). Two kernels:
//! - shaders/flash_attention_backward_q.wgsl: one query row per invocation,
//!   D_i = dO_i · O_i and dQ_i; writes D to a [B, heads, T] scratch buffer;
//! - shaders/flash_attention_backward_kv.wgsl: one key row per invocation,
//!   dK_j and dV_j.
//!
//! Padded query rows (mask 0) contribute nothing and get dq = 0; padded keys
//! get dk = dv = 0; an all-padding sequence gives zeros. The ALiBi slopes are
//! constants (no gradient).

use bytemuck::{Pod, Zeroable};

use super::attention::{AttentionDims, MAX_HEAD_DIM};
use super::u32_of;
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    scale: f32,
    _p: [u32; 3],
}

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
    for (name, t) in [
        ("qkv", qkv),
        ("slopes", slopes),
        ("out", out),
        ("lse", lse),
        ("dout", dout),
    ] {
        t.check_dtype(OP, name, DType::F32)?;
    }
    mask.check_dtype(OP, "mask", DType::U32)?;
    dev.check_on(
        OP,
        &[
            ("qkv", qkv),
            ("mask", mask),
            ("slopes", slopes),
            ("out", out),
            ("lse", lse),
            ("dout", dout),
        ],
    )?;
    let s = qkv.shape();
    if s.len() != 3 || heads == 0 || !s[2].is_multiple_of(3 * heads) || s[2] == 0 {
        return Err(shape_err(
            OP,
            format!("qkv {s:?} must be [B, T, 3 * heads * D] with {heads} heads"),
        ));
    }
    let (batch, seq) = (s[0], s[1]);
    let head_dim = s[2] / (3 * heads);
    let hid = heads * head_dim;
    if head_dim > MAX_HEAD_DIM {
        return Err(shape_err(
            OP,
            format!("head dim {head_dim} is over the kernel's limit of {MAX_HEAD_DIM}"),
        ));
    }
    let expect: [(&str, &Tensor, Vec<usize>, &str); 4] = [
        ("mask", mask, vec![batch, seq], "[B, T]"),
        ("slopes", slopes, vec![heads], "[heads]"),
        ("lse", lse, vec![batch, heads, seq], "[B, heads, T]"),
        ("out", out, vec![batch, seq, hid], "[B, T, H]"),
    ];
    for (name, t, want, form) in
        expect
            .into_iter()
            .chain([("dout", dout, vec![batch, seq, hid], "[B, T, H]")])
    {
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
    let d = AttentionDims {
        batch,
        seq,
        heads,
        head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
    };
    match dev {
        Device::Cpu => {
            let dqkv = crate::cpu::attention_backward::attention_backward(
                qkv.cpu_f32(),
                mask.cpu_u32(),
                slopes.cpu_f32(),
                out.cpu_f32(),
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
            let params = Params {
                batch: batch as u32,
                seq: seq as u32,
                heads: heads as u32,
                head_dim: head_dim as u32,
                scale: d.scale,
                _p: [0; 3],
            };
            let groups = [
                seq.div_ceil(64) as u32,
                u32_of(OP, "B * heads", batch * heads)?,
                1,
            ];
            let d4 = head_dim.div_ceil(4) as u32;
            let consts = [
                ("D", head_dim as u32),
                ("D4", d4),
                ("BC", (512 / d4).min(64)),
            ];
            g.dispatch(
                Kernel::FlashAttentionBackwardQ,
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
                Kernel::FlashAttentionBackwardKv,
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
