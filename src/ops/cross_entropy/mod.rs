//! Softmax + cross-entropy, fused: per-row loss `lse - logits[label]` and the
//! gradient `(softmax - onehot(label)) * scale` in one pass over the logits,
//! one workgroup per row, max-subtracted for stability.
//! Kernel: shaders/cross_entropy/cross_entropy.wgsl. Derivation: docs/backward.md.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_rows, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

/// Per-row losses and the logits' gradient.
pub struct CrossEntropyOut {
    /// [N]: lse_i - logits[i, label_i]
    pub loss: Tensor,
    /// [N, V] = (softmax(logits_i) - onehot(label_i)) * scale
    pub dlogits: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
    _p: u32,
}

/// Softmax + cross-entropy fused, one workgroup per row: logits [N, V] f32, labels [N] u32 (all < V:
/// the caller passes only labelled rows). `scale` multiplies the gradient (1 / number of labelled
/// tokens of the whole accumulated batch).
///
/// A label >= V is an error on the CPU backend; on the GPU (where checking
/// would need a readback) its row gets a NaN loss, never an out-of-bounds read.
pub fn cross_entropy(
    dev: &Device,
    logits: &Tensor,
    labels: &Tensor,
    scale: f32,
) -> Result<CrossEntropyOut> {
    const OP: &str = "cross_entropy";
    logits.check_dtype(OP, "logits", DType::F32)?;
    labels.check_dtype(OP, "labels", DType::U32)?;
    dev.check_on(OP, &[("logits", logits), ("labels", labels)])?;
    if logits.rank() != 2 || logits.dim(1) == 0 {
        return Err(shape_err(
            OP,
            format!("logits {:?} must be [N, V] with V > 0", logits.shape()),
        ));
    }
    let (rows, vocab) = (logits.dim(0), logits.dim(1));
    if labels.shape() != [rows] {
        return Err(shape_err(
            OP,
            format!(
                "labels {:?} must be [{rows}], one per row of logits {:?}",
                labels.shape(),
                logits.shape()
            ),
        ));
    }
    match dev {
        Device::Cpu => {
            let lab = labels.cpu_u32();
            if let Some((i, &l)) = lab.iter().enumerate().find(|(_, &l)| l as usize >= vocab) {
                return Err(shape_err(
                    OP,
                    format!("label {l} of row {i} is out of range for {vocab} classes"),
                ));
            }
            let o = cpu::cross_entropy(logits.cpu_f32(), lab, vocab, scale);
            Ok(CrossEntropyOut {
                loss: dev.output_f32(OP, &[rows], o.loss)?,
                dlogits: dev.output_f32(OP, &[rows, vocab], o.dlogits)?,
            })
        }
        Device::Gpu(g) => {
            u32_of(OP, "logits size", logits.numel())?;
            let loss = dev.output_f32(OP, &[rows], Vec::new())?;
            let dlogits = dev.output_f32(OP, &[rows, vocab], Vec::new())?;
            let params = Params {
                rows: rows as u32,
                cols: vocab as u32,
                scale,
                _p: 0,
            };
            let bufs = [
                logits.gpu_buffer(),
                labels.gpu_buffer(),
                loss.gpu_buffer(),
                dlogits.gpu_buffer(),
            ];
            g.dispatch(
                Kernel::CrossEntropy,
                &[],
                &bufs,
                &params,
                grid_rows(g, rows),
            )?;
            Ok(CrossEntropyOut { loss, dlogits })
        }
    }
}
