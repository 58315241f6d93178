//! f32 to f16 and back on the device (shaders/cast/to_f16.wgsl,
//! to_f32.wgsl; CPU twins in `cpu`): the half-precision copies of f32
//! master weights that mixed-precision training computes with, made each
//! step without a readback, and the encoder's half-precision activations
//! in and out.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::Result;
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    _p: [u32; 3],
}

/// `x` (f32, any shape) rounded to f16, to nearest with ties to even as
/// [`Device::tensor_f16`] rounds; a value beyond f16's range becomes ±inf
/// (no error: a training step then skips, as loss scaling expects).
pub fn to_f16(dev: &Device, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "to_f16";
    x.check_dtype(OP, "x", DType::F32)?;
    dev.check_on(OP, &[("x", x)])?;
    let n = x.numel();
    match dev {
        // The same rounding as the kernel's (`cpu::to_f16`).
        Device::Cpu => dev.output_as(OP, x.shape(), DType::F16, x.cpu_f32().to_vec()),
        Device::Gpu(g) => {
            let y = dev.output_as(OP, x.shape(), DType::F16, Vec::new())?;
            let params = Params {
                n: u32_of(OP, "size", n)?,
                _p: [0; 3],
            };
            let words = n.div_ceil(2);
            let buffers = [x.gpu_buffer(), y.gpu_buffer()];
            g.dispatch(Kernel::ToF16, &[], &buffers, &params, grid_items(g, words))?;
            Ok(y)
        }
    }
}

/// `x` (f16, any shape) widened to f32, exactly.
pub fn to_f32(dev: &Device, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "to_f32";
    x.check_dtype(OP, "x", DType::F16)?;
    dev.check_on(OP, &[("x", x)])?;
    let n = x.numel();
    match dev {
        Device::Cpu => dev.output_f32(OP, x.shape(), x.cpu_float().into_owned()),
        Device::Gpu(g) => {
            let y = dev.output_f32(OP, x.shape(), Vec::new())?;
            let params = Params {
                n: u32_of(OP, "size", n)?,
                _p: [0; 3],
            };
            let words = n.div_ceil(2);
            let buffers = [x.gpu_buffer(), y.gpu_buffer()];
            g.dispatch(Kernel::ToF32, &[], &buffers, &params, grid_items(g, words))?;
            Ok(y)
        }
    }
}

/// `x` in `dtype` (f32 or f16): itself where it already is, else
/// [`to_f16`] or [`to_f32`]. The encoder's activations in and out.
pub fn to_dtype(dev: &Device, x: &Tensor, dtype: DType) -> Result<Tensor> {
    match (x.dtype(), dtype) {
        (from, to) if from == to => Ok(x.clone()),
        (_, DType::F16) => to_f16(dev, x),
        _ => to_f32(dev, x),
    }
}
