//! Multi-head attention forward with ALiBi and a key padding mask, flash
//! style (no T x T buffer). Kernel: shaders/attention/flash_attention.wgsl, whose
//! header gives the exact layout:
//! - qkv: [B, T, 3H] f32, packed q | k | v per token (the Wqkv output);
//! - mask: [B, T] u32, nonzero = real token;
//! - slopes: [heads] f32 (see [`alibi_slopes`]; zeros = no positional bias);
//! - out: [B, T, H]; lse: [B, heads, T], the rows' log-sum-exp.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
mod probs;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

pub use probs::attention_probs;

use super::u32_of;
use crate::error::{shape_err, Error, Result};
use crate::gpu::Kernel;
pub use crate::params::AttentionDims;
use crate::{DType, Device, Tensor};

/// Largest head dimension the kernel holds in registers.
pub const MAX_HEAD_DIM: usize = 128;

/// What attention returns: the context and, for the backward pass, each
/// row's log-sum-exp.
pub struct AttentionOut {
    /// [B, T, H]
    pub out: Tensor,
    /// [B, heads, T]
    pub lse: Tensor,
}

/// ALiBi slopes for `heads` heads, as DNABERT-2 (and MosaicBERT) define
/// them: with n the largest power of two <= heads, 2^(-8(k+1)/n) for
/// k < n, then every other slope of the 2n sequence, from the first.
pub fn alibi_slopes(heads: usize) -> Vec<f32> {
    if heads == 0 {
        return Vec::new();
    }
    let n = 1usize << (usize::BITS - 1 - heads.leading_zeros());
    let pow =
        |count: usize| (0..count).map(move |k| 2f64.powf(-8.0 * (k as f64 + 1.0) / count as f64));
    let mut s: Vec<f64> = pow(n).collect();
    s.extend(pow(2 * n).step_by(2).take(heads - n));
    s.into_iter().map(|v| v as f32).collect()
}

impl AttentionDims {
    /// Checks what the forward and the backward share (dtypes, backend,
    /// the shapes of qkv, mask and slopes) and works out the sizes.
    pub(crate) fn check(
        op: &'static str,
        dev: &Device,
        qkv: &Tensor,
        mask: &Tensor,
        slopes: &Tensor,
        heads: usize,
    ) -> Result<Self> {
        mask.check_dtype(op, "mask", DType::U32)?;
        slopes.check_dtype(op, "slopes", DType::F32)?;
        dev.check_on(op, &[("qkv", qkv), ("mask", mask), ("slopes", slopes)])?;
        let s = qkv.shape();
        if s.len() != 3 || heads == 0 || !s[2].is_multiple_of(3 * heads) || s[2] == 0 {
            return Err(shape_err(
                op,
                format!("qkv {s:?} must be [B, T, 3 * heads * D] with {heads} heads"),
            ));
        }
        let (batch, seq) = (s[0], s[1]);
        let head_dim = s[2] / (3 * heads);
        if head_dim > MAX_HEAD_DIM {
            return Err(shape_err(
                op,
                format!("head dim {head_dim} is over the kernel's limit of {MAX_HEAD_DIM}"),
            ));
        }
        if mask.shape() != [batch, seq] {
            return Err(shape_err(
                op,
                format!("mask {:?} must be [B, T] = [{batch}, {seq}]", mask.shape()),
            ));
        }
        if slopes.shape() != [heads] {
            return Err(shape_err(
                op,
                format!("slopes {:?} must be [heads] = [{heads}]", slopes.shape()),
            ));
        }
        Ok(AttentionDims {
            batch,
            seq,
            heads,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
        })
    }

    pub(crate) fn params(&self) -> Params {
        Params {
            batch: self.batch as u32,
            seq: self.seq as u32,
            heads: self.heads as u32,
            head_dim: self.head_dim as u32,
            scale: self.scale,
            head0: 0,
            nh: self.heads as u32,
            _p: 0,
        }
    }

    /// The kernels' override constants: head dim, its vec4 count and the
    /// key/query tile width (constant trip counts: lavapipe's loop limit).
    pub(crate) fn constants(&self) -> [(&'static str, u32); 3] {
        let d4 = self.head_dim.div_ceil(4) as u32;
        [
            ("D", self.head_dim as u32),
            ("D4", d4),
            ("BC", (512 / d4).min(64)),
        ]
    }
}

/// The uniform every attention kernel takes
/// (`shaders/common/attention_params.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct Params {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    scale: f32,
    /// The heads `head0 .. head0 + nh` whose probabilities
    /// `attention_probs` materialises (the other kernels take all).
    head0: u32,
    nh: u32,
    _p: u32,
}

/// Which GPU kernel runs the forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionKernel {
    /// `flash_attention.wgsl`: one query row per invocation, any head dim
    /// up to 128, 16 KiB of workgroup memory.
    Rows,
    /// `flash_attention_tiled.wgsl`: 64 query rows x 32 keys per workgroup
    /// of 256, head dim 64, 32 KiB of workgroup memory.
    Tiled,
    /// `flash_attention_coop.wgsl`: cooperative matrices, f16 q, k, v and
    /// probabilities with f32 sums, head dim 64; devices with cooperative
    /// matrices and a fixed subgroup size. For layers whose weights are f16
    /// ([`attention_half`]).
    Cooperative,
}

impl AttentionKernel {
    /// The tiled kernel where the head dim is 64 and the device has the
    /// workgroup memory for it, else the row kernel.
    pub fn pick(head_dim: usize, workgroup_bytes: u32) -> Self {
        if head_dim == 64 && Kernel::FlashAttentionTiled.workgroup().1 <= workgroup_bytes {
            AttentionKernel::Tiled
        } else {
            AttentionKernel::Rows
        }
    }
}

/// The cooperative kernel for this device, block size and head dim, if it
/// runs there: cooperative matrices on, head dim 64, a subgroup size the
/// hardware fixes (the kernel needs exactly 4 subgroups), and the workgroup
/// memory for it.
fn coop_kernel(g: &crate::gpu::GpuDevice, head_dim: usize) -> Option<Kernel> {
    let kernel = match g.cooperative_block()? {
        16 => Kernel::FlashAttentionCoop16,
        _ => Kernel::FlashAttentionCoop8,
    };
    coop_runs(g, head_dim, &[kernel]).then_some(kernel)
}

/// Whether the cooperative forward kernel runs on `dev` for `head_dim`.
pub fn runs_cooperative(dev: &Device, head_dim: usize) -> bool {
    matches!(dev, Device::Gpu(g) if coop_kernel(g, head_dim).is_some())
}

/// The head dim of packed `qkv` [.., 3 * heads * head_dim] (0 for a
/// malformed one, which the op then refuses).
pub(crate) fn head_dim_of(qkv: &Tensor, heads: usize) -> usize {
    qkv.shape().last().map_or(0, |&w| w / (3 * heads.max(1)))
}

/// Whether the cooperative attention `kernels` run on `g` for `head_dim`:
/// head dim 64, cooperative matrices, a fixed subgroup size (the kernels
/// count on exactly 4 subgroups per workgroup), and their workgroup memory
/// and invocations within the device's limits.
pub(crate) fn coop_runs(g: &crate::gpu::GpuDevice, head_dim: usize, kernels: &[Kernel]) -> bool {
    let s = g.summary();
    let fits = kernels
        .iter()
        .all(|k| k.workgroup().1 <= g.limits().max_compute_workgroup_storage_size)
        && 4 * s.subgroup_max_size <= g.limits().max_compute_invocations_per_workgroup;
    g.cooperative_matrices() && head_dim == 64 && s.subgroup_min_size == s.subgroup_max_size && fits
}

/// [`attention`] in half precision where the device runs the cooperative
/// kernel (layers whose weights are f16: `--precision f16`), else the f32
/// kernels.
pub fn attention_half(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
) -> Result<AttentionOut> {
    let coop = runs_cooperative(dev, head_dim_of(qkv, heads));
    attention_with(
        dev,
        qkv,
        mask,
        slopes,
        heads,
        coop.then_some(AttentionKernel::Cooperative),
    )
}

/// Attention over packed `qkv` with `heads` heads; scores are scaled by
/// 1 / sqrt(head_dim).
pub fn attention(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
) -> Result<AttentionOut> {
    attention_with(dev, qkv, mask, slopes, heads, None)
}

/// [`attention`] on a chosen GPU kernel (`None`: [`AttentionKernel::pick`]),
/// for tests and benchmarks. The CPU backend ignores it.
pub fn attention_with(
    dev: &Device,
    qkv: &Tensor,
    mask: &Tensor,
    slopes: &Tensor,
    heads: usize,
    kernel: Option<AttentionKernel>,
) -> Result<AttentionOut> {
    const OP: &str = "attention";
    let dtype = super::activation_dtype(dev, OP, &[("qkv", qkv)])?;
    let d = AttentionDims::check(OP, dev, qkv, mask, slopes, heads)?;
    let (batch, seq, head_dim) = (d.batch, d.seq, d.head_dim);
    let hid = heads * head_dim;
    match dev {
        Device::Cpu => {
            let (out, lse) = cpu::attention(&qkv.cpu_float(), mask.cpu_u32(), slopes.cpu_f32(), &d);
            Ok(AttentionOut {
                out: dev.output_as(OP, &[batch, seq, hid], dtype, out)?,
                lse: dev.output_f32(OP, &[batch, heads, seq], lse)?,
            })
        }
        Device::Gpu(g) => {
            u32_of(OP, "qkv size", qkv.numel())?;
            let out = dev.output_as(OP, &[batch, seq, hid], dtype, Vec::new())?;
            let lse = dev.output_f32(OP, &[batch, heads, seq], Vec::new())?;
            let groups = [
                seq.div_ceil(64) as u32,
                u32_of(OP, "B * heads", batch * heads)?,
                1,
            ];
            let bufs = [
                qkv.gpu_buffer(),
                mask.gpu_buffer(),
                slopes.gpu_buffer(),
                out.gpu_buffer(),
                lse.gpu_buffer(),
            ];
            let limit = g.limits().max_compute_workgroup_storage_size;
            match kernel.unwrap_or_else(|| AttentionKernel::pick(head_dim, limit)) {
                AttentionKernel::Tiled => {
                    if head_dim != 64 {
                        return Err(shape_err(
                            OP,
                            format!("the tiled kernel needs head dim 64, not {head_dim}"),
                        ));
                    }
                    let kernel = Kernel::FlashAttentionTiled.half(dtype);
                    g.dispatch(kernel, &[], &bufs, &d.params(), groups)?
                }
                AttentionKernel::Cooperative => {
                    let Some(kernel) = coop_kernel(g, head_dim) else {
                        return Err(Error::Gpu(format!(
                            "the cooperative attention kernel needs head dim 64 (not {head_dim}) and a device with cooperative matrices and a fixed subgroup size ({}: dnagpu info)",
                            g.summary().name
                        )));
                    };
                    let rows = if kernel == Kernel::FlashAttentionCoop16 {
                        64
                    } else {
                        32
                    };
                    let groups = [seq.div_ceil(rows) as u32, groups[1], 1];
                    let wg = [("WG", 4 * g.summary().subgroup_max_size)];
                    g.dispatch(kernel.half(dtype), &wg, &bufs, &d.params(), groups)?
                }
                AttentionKernel::Rows => g.dispatch(
                    Kernel::FlashAttention.half(dtype),
                    &d.constants(),
                    &bufs,
                    &d.params(),
                    groups,
                )?,
            }
            Ok(AttentionOut { out, lse })
        }
    }
}
