//! Backward of the element-wise activations: exact GELU, tanh (from the
//! forward's output), GeGLU and SwiGLU. Kernel: shaders/activation_backward/activation_backward.wgsl
//! (one file, `OP` override); CPU twin: `cpu`.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::elementwise::Glu;
use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    inner: u32,
    _p: [u32; 2],
}

const OP_GELU: u32 = 0;
const OP_TANH: u32 = 1;
const OP_GEGLU: u32 = 2;
const OP_SWIGLU: u32 = 3;

/// Checks dtype and backend of the forward tensor `a` (f32, or f16: a
/// saved half-precision activation) and the incoming gradient `d` (f32);
/// returns `a`'s dtype.
fn check_inputs(
    dev: &Device,
    op: &'static str,
    (a_name, a): (&'static str, &Tensor),
    (d_name, d): (&'static str, &Tensor),
) -> Result<DType> {
    let saved = super::activation_dtype(dev, op, &[(a_name, a)])?;
    d.check_dtype(op, d_name, DType::F32)?;
    dev.check_on(op, &[(a_name, a), (d_name, d)])?;
    Ok(saved)
}

/// `out = d * f(a)` element-wise with a and d of one shape.
fn unary_backward(
    dev: &Device,
    op: &'static str,
    code: u32,
    a: (&'static str, &Tensor),
    d: (&'static str, &Tensor),
    cpu_fn: fn(&[f32], &[f32]) -> Vec<f32>,
) -> Result<Tensor> {
    let saved = check_inputs(dev, op, a, d)?;
    let ((a_name, a), (d_name, d)) = (a, d);
    if a.shape() != d.shape() {
        return Err(shape_err(
            op,
            format!(
                "{d_name} {:?} must have the shape of {a_name} {:?}",
                d.shape(),
                a.shape()
            ),
        ));
    }
    let n = u32_of(op, "elements", a.numel())?;
    match dev {
        Device::Cpu => dev.output_f32(op, a.shape(), cpu_fn(&a.cpu_float(), d.cpu_f32())),
        Device::Gpu(g) => {
            let out = dev.output_f32(op, a.shape(), Vec::new())?;
            if n == 0 {
                return Ok(out);
            }
            let params = Params {
                n,
                inner: 1,
                _p: [0; 2],
            };
            g.dispatch(
                Kernel::ActivationBackward.half(saved),
                &[("OP", code)],
                &[a.gpu_buffer(), d.gpu_buffer(), out.gpu_buffer()],
                &params,
                grid_items(g, a.numel()),
            )?;
            Ok(out)
        }
    }
}

/// dx = dy * gelu'(x), exact (erf) GELU: gelu'(x) = Phi(x) + x * phi(x). x, dy same shape.
pub fn gelu_backward(dev: &Device, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    unary_backward(
        dev,
        "gelu_backward",
        OP_GELU,
        ("x", x),
        ("dy", dy),
        cpu::gelu_backward,
    )
}

/// dx = dy * (1 - y²) from the forward's OUTPUT y = tanh(x), computed as
/// dy * (1 - y)(1 + y), which keeps its precision where |y| is near 1.
pub fn tanh_backward(dev: &Device, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    unary_backward(
        dev,
        "tanh_backward",
        OP_TANH,
        ("y", y),
        ("dy", dy),
        cpu::tanh_backward,
    )
}

/// Backward of `ops::geglu(g)` (g [.., 2I] -> gelu(g[.., :I]) * g[.., I:]): df [.., I] -> dg [.., 2I]:
/// dg[:, :I] = df * v * gelu'(u), dg[:, I:] = df * gelu(u).
pub fn geglu_backward(dev: &Device, g_in: &Tensor, df: &Tensor) -> Result<Tensor> {
    glu_backward(dev, g_in, df, Glu::Gelu)
}

/// Backward of `ops::swiglu(g)` (silu(u) * v): dg[:, :I] = df * v * silu'(u),
/// dg[:, I:] = df * silu(u).
pub fn swiglu_backward(dev: &Device, g_in: &Tensor, df: &Tensor) -> Result<Tensor> {
    glu_backward(dev, g_in, df, Glu::Silu)
}

/// The CPU twin of a gated unit's backward: (g, df, inner) -> dg.
type CpuGluBackward = fn(&[f32], &[f32], usize) -> Vec<f32>;

fn glu_backward(dev: &Device, g_in: &Tensor, df: &Tensor, act: Glu) -> Result<Tensor> {
    let (op, code, cpu_fn): (&'static str, u32, CpuGluBackward) = match act {
        Glu::Gelu => ("geglu_backward", OP_GEGLU, cpu::geglu_backward),
        Glu::Silu => ("swiglu_backward", OP_SWIGLU, cpu::swiglu_backward),
    };
    let saved = check_inputs(dev, op, ("g", g_in), ("df", df))?;
    let two_i = g_in.shape().last().copied().unwrap_or(0);
    if g_in.rank() == 0 || two_i % 2 != 0 || two_i == 0 {
        return Err(shape_err(
            op,
            format!("g {:?} needs an even, nonzero last dimension", g_in.shape()),
        ));
    }
    let inner = two_i / 2;
    let mut f_shape = g_in.shape().to_vec();
    *f_shape.last_mut().expect("rank checked") = inner;
    if df.shape() != f_shape.as_slice() {
        return Err(shape_err(
            op,
            format!(
                "df {:?} must be {f_shape:?}, the gated output of g {:?}",
                df.shape(),
                g_in.shape()
            ),
        ));
    }
    u32_of(op, "elements of g", g_in.numel())?;
    match dev {
        Device::Cpu => dev.output_f32(
            op,
            g_in.shape(),
            cpu_fn(&g_in.cpu_float(), df.cpu_f32(), inner),
        ),
        Device::Gpu(g) => {
            let dg = dev.output_f32(op, g_in.shape(), Vec::new())?;
            let n = df.numel();
            if n == 0 {
                return Ok(dg);
            }
            let params = Params {
                n: n as u32,
                inner: inner as u32,
                _p: [0; 2],
            };
            g.dispatch(
                Kernel::ActivationBackward.half(saved),
                &[("OP", code)],
                &[g_in.gpu_buffer(), df.gpu_buffer(), dg.gpu_buffer()],
                &params,
                grid_items(g, n),
            )?;
            Ok(dg)
        }
    }
}
