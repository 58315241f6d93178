//! LayerNorm over the last dimension, optionally fused with the residual add
//! before it: `y = LN(x + residual) * weight + bias`. Saves mean and 1/std
//! per row for the backward. Kernel: shaders/layer_norm/layer_norm.wgsl.
//! x, residual: [.., H]; weight, bias: [H]; y: [.., H]; mean, rstd: [rows].

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

/// The normalised rows and the statistics the backward needs.
pub struct LayerNormOut {
    pub y: Tensor,
    /// [rows]
    pub mean: Tensor,
    /// [rows], 1 / sqrt(var + eps)
    pub rstd: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    hidden: u32,
    has_residual: u32,
    eps: f32,
}

pub fn layer_norm(
    dev: &Device,
    x: &Tensor,
    residual: Option<&Tensor>,
    weight: &Tensor,
    bias: &Tensor,
    eps: f32,
) -> Result<LayerNormOut> {
    const OP: &str = "layer_norm";
    let acts: Vec<_> = [("x", x)]
        .into_iter()
        .chain(residual.map(|r| ("residual", r)))
        .collect();
    let dtype = super::activation_dtype(dev, OP, &acts)?;
    for (name, t) in [("weight", weight), ("bias", bias)] {
        t.check_dtype(OP, name, DType::F32)?;
    }
    for (name, t) in acts.into_iter().chain([("weight", weight), ("bias", bias)]) {
        dev.check_on(OP, &[(name, t)])?;
    }
    let hidden = x.shape().last().copied().unwrap_or(0);
    if x.rank() == 0 || hidden == 0 {
        return Err(shape_err(
            OP,
            format!("x {:?} needs a nonzero last dimension", x.shape()),
        ));
    }
    if let Some(r) = residual {
        if r.shape() != x.shape() {
            return Err(shape_err(
                OP,
                format!("residual {:?} must match x {:?}", r.shape(), x.shape()),
            ));
        }
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if t.shape() != [hidden] {
            return Err(shape_err(
                OP,
                format!("{name} {:?} must be [{hidden}]", t.shape()),
            ));
        }
    }
    let rows = x.numel() / hidden;
    match dev {
        Device::Cpu => {
            let residual = residual.map(|r| r.cpu_float());
            let o = cpu::layer_norm(
                &x.cpu_float(),
                residual.as_deref(),
                weight.cpu_f32(),
                bias.cpu_f32(),
                hidden,
                eps,
            );
            Ok(LayerNormOut {
                y: dev.output_as(OP, x.shape(), dtype, o.y)?,
                mean: dev.output_f32(OP, &[rows], o.mean)?,
                rstd: dev.output_f32(OP, &[rows], o.rstd)?,
            })
        }
        Device::Gpu(g) => {
            u32_of(OP, "x size", x.numel())?;
            let y = dev.output_as(OP, x.shape(), dtype, Vec::new())?;
            let mean = dev.output_f32(OP, &[rows], Vec::new())?;
            let rstd = dev.output_f32(OP, &[rows], Vec::new())?;
            let params = Params {
                rows: rows as u32,
                hidden: hidden as u32,
                has_residual: u32::from(residual.is_some()),
                eps,
            };
            let res = residual.unwrap_or(x);
            let bufs = [
                x.gpu_buffer(),
                res.gpu_buffer(),
                weight.gpu_buffer(),
                bias.gpu_buffer(),
                y.gpu_buffer(),
                mean.gpu_buffer(),
                rstd.gpu_buffer(),
            ];
            let kernel = Kernel::LayerNorm.half(dtype);
            g.dispatch(kernel, &[], &bufs, &params, grid_rows(g, rows))?;
            Ok(LayerNormOut { y, mean, rstd })
        }
    }
}
