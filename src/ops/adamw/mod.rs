//! The AdamW update, element-wise over one parameter tensor, in PyTorch's
//! `torch.optim.AdamW` order of operations (single-tensor path).
//! Kernel: shaders/adamw/adamw.wgsl; CPU twin: `cpu`.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use self::cpu::AdamWScalars;
use super::{grid_items, u32_of};
use crate::error::{shape_err, Error, Result};
use crate::gpu::Kernel;
pub use crate::params::AdamWStep;
use crate::{DType, Device, Tensor};

/// The parameter and both moments after a step.
pub struct AdamWState {
    pub param: Tensor,
    pub m: Tensor,
    pub v: Tensor,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    grad_scale: f32,
    decay: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
    _p: [u32; 3],
}

/// PyTorch's own argument checks, plus a step of at least 1 (step 0 would
/// divide by a zero bias correction) and a finite grad_scale.
fn check_step(op: &'static str, s: &AdamWStep) -> Result<()> {
    let bad = |what: String| Err(Error::Invalid(format!("{op}: {what} ({s:?})")));
    if !(s.lr >= 0.0 && s.lr.is_finite()) {
        return bad(format!("lr = {} must be finite and >= 0", s.lr));
    }
    for (name, b) in [("beta1", s.beta1), ("beta2", s.beta2)] {
        if !(0.0..1.0).contains(&b) {
            return bad(format!("{name} = {b} must be in [0, 1)"));
        }
    }
    if !(s.eps >= 0.0 && s.eps.is_finite()) {
        return bad(format!("eps = {} must be finite and >= 0", s.eps));
    }
    if !(s.weight_decay >= 0.0 && s.weight_decay.is_finite()) {
        return bad(format!(
            "weight_decay = {} must be finite and >= 0",
            s.weight_decay
        ));
    }
    if s.step == 0 {
        return bad("step counts from 1".into());
    }
    if !s.grad_scale.is_finite() {
        return bad(format!("grad_scale = {} must be finite", s.grad_scale));
    }
    Ok(())
}

/// Returns the updated (param, m, v) as new tensors (same shapes); inputs
/// untouched. `clip` ([4] from `ops::clip_scale`) scales the gradient
/// first, and with its ok flag 0 makes the outputs copies of the inputs;
/// `None` is scale 1, ok.
pub fn adamw(
    dev: &Device,
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    s: &AdamWStep,
    clip: Option<&Tensor>,
) -> Result<AdamWState> {
    const OP: &str = "adamw";
    let clip = match clip {
        Some(c) => {
            c.check_dtype(OP, "clip", DType::F32)?;
            dev.check_on(OP, &[("clip", c)])?;
            if c.shape() != [4] {
                return Err(shape_err(
                    OP,
                    format!("clip {:?} must be [4] (ops::clip_scale)", c.shape()),
                ));
            }
            c.clone()
        }
        None => super::clip::no_clip(dev)?,
    };
    let named = [("param", param), ("grad", grad), ("m", m), ("v", v)];
    for (name, t) in named {
        t.check_dtype(OP, name, DType::F32)?;
        dev.check_on(OP, &[(name, t)])?;
        if t.shape() != param.shape() {
            return Err(shape_err(
                OP,
                format!(
                    "{name} {:?} must have the shape of param {:?}",
                    t.shape(),
                    param.shape()
                ),
            ));
        }
    }
    check_step(OP, s)?;
    let n = u32_of(OP, "elements", param.numel())?;
    let k = AdamWScalars::of(s);
    let shape = param.shape();
    match dev {
        Device::Cpu => {
            let (p, m, v) = match clip.cpu_f32() {
                [_, ok, ..] if *ok == 0.0 => (
                    param.cpu_f32().to_vec(),
                    m.cpu_f32().to_vec(),
                    v.cpu_f32().to_vec(),
                ),
                [scale, ..] => {
                    let g: Vec<f32> = grad.cpu_f32().iter().map(|&x| x * scale).collect();
                    cpu::adamw(param.cpu_f32(), &g, m.cpu_f32(), v.cpu_f32(), &k)
                }
                [] => unreachable!("clip checked to be [4]"),
            };
            Ok(AdamWState {
                param: dev.output_f32(OP, shape, p)?,
                m: dev.output_f32(OP, shape, m)?,
                v: dev.output_f32(OP, shape, v)?,
            })
        }
        Device::Gpu(g) => {
            let out = AdamWState {
                param: dev.output_f32(OP, shape, Vec::new())?,
                m: dev.output_f32(OP, shape, Vec::new())?,
                v: dev.output_f32(OP, shape, Vec::new())?,
            };
            if n == 0 {
                return Ok(out);
            }
            let params = Params {
                n,
                grad_scale: k.grad_scale,
                decay: k.decay,
                one_minus_beta1: k.one_minus_beta1,
                beta2: k.beta2,
                one_minus_beta2: k.one_minus_beta2,
                step_size: k.step_size,
                bc2_sqrt: k.bc2_sqrt,
                eps: k.eps,
                _p: [0; 3],
            };
            let bufs = [
                param.gpu_buffer(),
                grad.gpu_buffer(),
                m.gpu_buffer(),
                v.gpu_buffer(),
                out.param.gpu_buffer(),
                out.m.gpu_buffer(),
                out.v.gpu_buffer(),
                clip.gpu_buffer(),
            ];
            g.dispatch(
                Kernel::AdamW,
                &[],
                &bufs,
                &params,
                grid_items(g, param.numel()),
            )?;
            Ok(out)
        }
    }
}
