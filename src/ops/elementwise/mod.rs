//! Element-wise ops: GELU (exact), tanh, scaling, add with row broadcast, GeGLU.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct UnaryParams {
    n: u32,
    /// The factor of `scale`.
    s: f32,
    _p: [u32; 2],
}

fn unary(
    dev: &Device,
    op: &'static str,
    code: u32,
    x: &Tensor,
    s: f32,
    f: impl Fn(f32) -> f32 + Sync,
) -> Result<Tensor> {
    let dtype = super::activation_dtype(dev, op, &[("x", x)])?;
    dev.check_on(op, &[("x", x)])?;
    match dev {
        Device::Cpu => dev.output_as(op, x.shape(), dtype, cpu::map(&x.cpu_float(), f)),
        Device::Gpu(g) => {
            let y = dev.output_as(op, x.shape(), dtype, Vec::new())?;
            let n = x.numel();
            let params = UnaryParams {
                n: u32_of(op, "elements", n)?,
                s,
                _p: [0; 2],
            };
            g.dispatch(
                Kernel::Unary.half(dtype),
                &[("OP", code)],
                &[x.gpu_buffer(), y.gpu_buffer()],
                &params,
                grid_items(g, n),
            )?;
            Ok(y)
        }
    }
}

/// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), element-wise. Any shape.
pub fn gelu(dev: &Device, x: &Tensor) -> Result<Tensor> {
    unary(dev, "gelu", 0, x, 0.0, cpu::gelu)
}

/// tanh, element-wise. Any shape.
pub fn tanh(dev: &Device, x: &Tensor) -> Result<Tensor> {
    unary(dev, "tanh", 1, x, 0.0, f32::tanh)
}

/// `s * x`, element-wise. Any shape.
pub fn scale(dev: &Device, x: &Tensor, s: f32) -> Result<Tensor> {
    unary(dev, "scale", 2, x, s, move |v| v * s)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AddParams {
    n: u32,
    nb: u32,
    _p: [u32; 2],
}

/// `a + b`, where b has a's shape or is a suffix of it (b: [H] added to every
/// row of a: [.., H]; the residual add is the same-shape case).
pub fn add(dev: &Device, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "add";
    let dtype = super::activation_dtype(dev, OP, &[("a", a), ("b", b)])?;
    dev.check_on(OP, &[("a", a), ("b", b)])?;
    let (sa, sb) = (a.shape(), b.shape());
    if sb.len() > sa.len() || sa[sa.len() - sb.len()..] != *sb || (b.numel() == 0 && a.numel() > 0)
    {
        return Err(shape_err(
            OP,
            format!("b {sb:?} must equal a {sa:?} or a suffix of it"),
        ));
    }
    match dev {
        Device::Cpu => dev.output_as(OP, sa, dtype, cpu::add(&a.cpu_float(), &b.cpu_float())),
        Device::Gpu(g) => {
            let y = dev.output_as(OP, sa, dtype, Vec::new())?;
            let params = AddParams {
                n: u32_of(OP, "elements", a.numel())?,
                nb: b.numel().max(1) as u32,
                _p: [0; 2],
            };
            let bufs = [a.gpu_buffer(), b.gpu_buffer(), y.gpu_buffer()];
            g.dispatch(
                Kernel::Binary.half(dtype),
                &[],
                &bufs,
                &params,
                grid_items(g, a.numel()),
            )?;
            Ok(y)
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GegluParams {
    rows: u32,
    inner: u32,
    _p: [u32; 2],
}

/// GeGLU: g [.., 2I] -> [.., I], `gelu(g[.., :I]) * g[.., I:]`.
pub fn geglu(dev: &Device, g_in: &Tensor) -> Result<Tensor> {
    glu(dev, g_in, Glu::Gelu)
}

/// SwiGLU (the Nucleotide Transformer v2): `silu(g[.., :I]) * g[.., I:]`.
pub fn swiglu(dev: &Device, g_in: &Tensor) -> Result<Tensor> {
    glu(dev, g_in, Glu::Silu)
}

/// The activation of a gated linear unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glu {
    Gelu,
    Silu,
}

fn glu(dev: &Device, g_in: &Tensor, act: Glu) -> Result<Tensor> {
    const OP: &str = "geglu";
    let dtype = super::activation_dtype(dev, OP, &[("g", g_in)])?;
    dev.check_on(OP, &[("g", g_in)])?;
    let two_i = g_in.shape().last().copied().unwrap_or(0);
    if g_in.rank() == 0 || two_i % 2 != 0 || two_i == 0 {
        return Err(shape_err(
            OP,
            format!("g {:?} needs an even, nonzero last dimension", g_in.shape()),
        ));
    }
    let inner = two_i / 2;
    let mut shape = g_in.shape().to_vec();
    *shape.last_mut().expect("rank checked") = inner;
    let rows = g_in.numel() / two_i;
    match dev {
        Device::Cpu => {
            let g = g_in.cpu_float();
            let y = match act {
                Glu::Gelu => cpu::glu(&g, inner, cpu::gelu),
                Glu::Silu => cpu::glu(&g, inner, cpu::silu),
            };
            dev.output_as(OP, &shape, dtype, y)
        }
        Device::Gpu(g) => {
            let y = dev.output_as(OP, &shape, dtype, Vec::new())?;
            let params = GegluParams {
                rows: u32_of(OP, "rows", rows)?,
                inner: inner as u32,
                _p: [0; 2],
            };
            u32_of(OP, "elements", rows * inner)?;
            g.dispatch(
                Kernel::Geglu.half(dtype),
                &[("ACT", u32::from(act == Glu::Silu))],
                &[g_in.gpu_buffer(), y.gpu_buffer()],
                &params,
                grid_items(g, rows * inner),
            )?;
            Ok(y)
        }
    }
}
