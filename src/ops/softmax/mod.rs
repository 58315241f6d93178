//! Softmax over the last dimension: x [.., N] -> y [.., N].
//! Kernel: shaders/softmax/softmax.wgsl.

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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _p: [u32; 2],
}

pub fn softmax(dev: &Device, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmax";
    x.check_dtype(OP, "x", DType::F32)?;
    dev.check_on(OP, &[("x", x)])?;
    let cols = x.shape().last().copied().unwrap_or(0);
    if x.rank() == 0 || cols == 0 {
        return Err(shape_err(
            OP,
            format!("x {:?} needs a nonzero last dimension", x.shape()),
        ));
    }
    let rows = x.numel() / cols;
    match dev {
        Device::Cpu => dev.output_f32(OP, x.shape(), cpu::softmax(x.cpu_f32(), cols)),
        Device::Gpu(g) => {
            u32_of(OP, "x size", x.numel())?;
            let y = dev.output_f32(OP, x.shape(), Vec::new())?;
            let params = Params {
                rows: rows as u32,
                cols: cols as u32,
                _p: [0; 2],
            };
            g.dispatch(
                Kernel::Softmax,
                &[],
                &[x.gpu_buffer(), y.gpu_buffer()],
                &params,
                grid_rows(g, rows),
            )?;
            Ok(y)
        }
    }
}
