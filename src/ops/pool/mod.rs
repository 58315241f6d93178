//! Pooling over the valid rows of each sequence: x [B, T, H], mask [B, T]
//! u32 (nonzero = real token) -> [B, H]. A sequence with no valid row gives
//! zeros. Kernel: shaders/pool/pool.wgsl.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
pub use crate::params::PoolMode;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batch: u32,
    seq: u32,
    hidden: u32,
    _p: u32,
}

pub fn pool(dev: &Device, x: &Tensor, mask: &Tensor, mode: PoolMode) -> Result<Tensor> {
    const OP: &str = "pool";
    x.check_dtype(OP, "x", DType::F32)?;
    mask.check_dtype(OP, "mask", DType::U32)?;
    dev.check_on(OP, &[("x", x), ("mask", mask)])?;
    if x.rank() != 3 || mask.shape() != &x.shape()[..2] {
        return Err(shape_err(
            OP,
            format!(
                "x {:?} must be [B, T, H] and mask {:?} [B, T]",
                x.shape(),
                mask.shape()
            ),
        ));
    }
    let (batch, seq, hidden) = (x.dim(0), x.dim(1), x.dim(2));
    match dev {
        Device::Cpu => dev.output_f32(
            OP,
            &[batch, hidden],
            cpu::pool(x.cpu_f32(), mask.cpu_u32(), batch, seq, hidden, mode),
        ),
        Device::Gpu(g) => {
            u32_of(OP, "x size", x.numel())?;
            let y = dev.output_f32(OP, &[batch, hidden], Vec::new())?;
            let params = Params {
                batch: batch as u32,
                seq: seq as u32,
                hidden: hidden as u32,
                _p: 0,
            };
            let code = match mode {
                PoolMode::Mean => 0,
                PoolMode::Max => 1,
            };
            let bufs = [x.gpu_buffer(), mask.gpu_buffer(), y.gpu_buffer()];
            g.dispatch(
                Kernel::Pool,
                &[("MODE", code)],
                &bufs,
                &params,
                grid_items(g, batch * hidden),
            )?;
            Ok(y)
        }
    }
}
