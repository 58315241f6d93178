//! Backward of `ops::layer_norm`: with s = x + residual, xhat = (s - mean) *
//! rstd, y = xhat * weight + bias and g = dy * weight,
//! dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat)) (also the residual's
//! gradient), dweight = sum over rows of dy * xhat, dbias = sum over rows of dy.
//! dx: shaders/layer_norm_backward/layer_norm_backward.wgsl (one workgroup per row). The weight
//! and bias gradients need no atomics and no [R, H] temporary:
//! shaders/layer_norm_backward/layer_norm_param_grads.wgsl sums chunks of 256 rows per column,
//! then `sum_rows` adds the chunks. Derivation: docs/backward.md.
//!
//! `x` and `residual` may be f16 (training with half-precision activations:
//! the forward's saved inputs); dy and every gradient are f32.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, grid_rows, sum_rows, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::ops::reduce::cpu::SUM_ROWS_CHUNK;
use crate::{DType, Device, Tensor};

/// Gradients of `ops::layer_norm` with respect to its inputs.
pub struct LayerNormGrads {
    /// [.., H], shaped like x; also the residual's gradient.
    pub dx: Tensor,
    /// [H]
    pub dweight: Tensor,
    /// [H]
    pub dbias: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    hidden: u32,
    has_residual: u32,
    chunks: u32,
}

/// Backward of `ops::layer_norm(x, residual, weight, bias, eps)`: `x`, `residual` are the forward's
/// inputs (the kernel recomputes s = x + residual and xhat = (s - mean) * rstd from the saved
/// `mean`, `rstd` [rows]); dy [.., H].
pub fn layer_norm_backward(
    dev: &Device,
    dy: &Tensor,
    x: &Tensor,
    residual: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    weight: &Tensor,
) -> Result<LayerNormGrads> {
    let (dx, params) = backward(dev, dy, x, residual, mean, rstd, weight, true)?;
    let (dweight, dbias) = params.expect("asked for");
    Ok(LayerNormGrads { dx, dweight, dbias })
}

/// [`layer_norm_backward`]'s dx alone, for a frozen LayerNorm (LoRA):
/// the weight and bias gradients' passes are not run.
pub fn layer_norm_backward_input(
    dev: &Device,
    dy: &Tensor,
    x: &Tensor,
    residual: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    weight: &Tensor,
) -> Result<Tensor> {
    Ok(backward(dev, dy, x, residual, mean, rstd, weight, false)?.0)
}

/// dx, and with `param_grads` (dweight, dbias).
#[allow(clippy::too_many_arguments)]
fn backward(
    dev: &Device,
    dy: &Tensor,
    x: &Tensor,
    residual: Option<&Tensor>,
    mean: &Tensor,
    rstd: &Tensor,
    weight: &Tensor,
    param_grads: bool,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    const OP: &str = "layer_norm_backward";
    let mut saved = vec![("x", x)];
    saved.extend(residual.map(|r| ("residual", r)));
    let saved_dtype = super::activation_dtype(dev, OP, &saved)?;
    dev.check_on(OP, &saved)?;
    for (name, t) in [
        ("dy", dy),
        ("mean", mean),
        ("rstd", rstd),
        ("weight", weight),
    ] {
        t.check_dtype(OP, name, DType::F32)?;
        dev.check_on(OP, &[(name, t)])?;
    }
    let hidden = x.shape().last().copied().unwrap_or(0);
    if x.rank() == 0 || hidden == 0 {
        return Err(shape_err(
            OP,
            format!("x {:?} needs a nonzero last dimension", x.shape()),
        ));
    }
    for (name, t) in [("dy", Some(dy)), ("residual", residual)] {
        if let Some(t) = t {
            if t.shape() != x.shape() {
                return Err(shape_err(
                    OP,
                    format!("{name} {:?} must match x {:?}", t.shape(), x.shape()),
                ));
            }
        }
    }
    let rows = x.numel() / hidden;
    for (name, t) in [("mean", mean), ("rstd", rstd)] {
        if t.shape() != [rows] {
            return Err(shape_err(
                OP,
                format!(
                    "{name} {:?} must be [{rows}], one value per row of x {:?}",
                    t.shape(),
                    x.shape()
                ),
            ));
        }
    }
    if weight.shape() != [hidden] {
        return Err(shape_err(
            OP,
            format!("weight {:?} must be [{hidden}]", weight.shape()),
        ));
    }
    match dev {
        Device::Cpu => {
            let residual = residual.map(|r| r.cpu_float());
            let o = cpu::layer_norm_backward(
                dy.cpu_f32(),
                &x.cpu_float(),
                residual.as_deref(),
                mean.cpu_f32(),
                rstd.cpu_f32(),
                weight.cpu_f32(),
                hidden,
            );
            let dx = dev.output_f32(OP, x.shape(), o.dx)?;
            if !param_grads {
                return Ok((dx, None));
            }
            let dweight = dev.output_f32(OP, &[hidden], o.dweight)?;
            Ok((dx, Some((dweight, dev.output_f32(OP, &[hidden], o.dbias)?))))
        }
        Device::Gpu(g) => {
            u32_of(OP, "x size", x.numel())?;
            let chunks = rows.div_ceil(SUM_ROWS_CHUNK).max(1);
            let params = Params {
                rows: rows as u32,
                hidden: hidden as u32,
                has_residual: u32::from(residual.is_some()),
                chunks: chunks as u32,
            };
            let res = residual.unwrap_or(x);
            let dx = dev.output_f32(OP, x.shape(), Vec::new())?;
            let inputs = [
                dy.gpu_buffer(),
                x.gpu_buffer(),
                res.gpu_buffer(),
                mean.gpu_buffer(),
                rstd.gpu_buffer(),
            ];
            let mut bufs = inputs.to_vec();
            bufs.extend([weight.gpu_buffer(), dx.gpu_buffer()]);
            g.dispatch(
                Kernel::LayerNormBackward.half(saved_dtype),
                &[],
                &bufs,
                &params,
                grid_rows(g, rows),
            )?;
            if !param_grads {
                return Ok((dx, None));
            }
            let part_w = dev.output_f32(OP, &[chunks, hidden], Vec::new())?;
            let part_b = dev.output_f32(OP, &[chunks, hidden], Vec::new())?;
            let mut bufs = inputs.to_vec();
            bufs.extend([part_w.gpu_buffer(), part_b.gpu_buffer()]);
            g.dispatch(
                Kernel::LayerNormParamGrads.half(saved_dtype),
                &[],
                &bufs,
                &params,
                grid_items(g, chunks * hidden),
            )?;
            Ok((dx, Some((sum_rows(dev, &part_w)?, sum_rows(dev, &part_b)?))))
        }
    }
}
