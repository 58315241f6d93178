//! Embedding gather: ids [..] u32, table [V, H] f32 -> [.., H], one table row
//! per id. Ids >= V give zero rows (the kernel never reads out of bounds);
//! the tokenizer is where bad ids are caught. Kernel: shaders/embedding/embedding.wgsl.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    vocab: u32,
    hidden: u32,
    _p: u32,
}

pub fn embedding(dev: &Device, ids: &Tensor, table: &Tensor) -> Result<Tensor> {
    const OP: &str = "embedding";
    ids.check_dtype(OP, "ids", DType::U32)?;
    table.check_dtype(OP, "table", DType::F32)?;
    dev.check_on(OP, &[("ids", ids), ("table", table)])?;
    if table.rank() != 2 || table.dim(1) == 0 {
        return Err(shape_err(
            OP,
            format!("table {:?} must be [V, H] with H > 0", table.shape()),
        ));
    }
    let (vocab, hidden) = (table.dim(0), table.dim(1));
    let mut shape = ids.shape().to_vec();
    shape.push(hidden);
    match dev {
        Device::Cpu => dev.output_f32(
            OP,
            &shape,
            cpu::embedding(ids.cpu_u32(), table.cpu_f32(), hidden),
        ),
        Device::Gpu(g) => {
            let n = ids.numel();
            u32_of(OP, "output size", n * hidden)?;
            u32_of(OP, "table size", table.numel())?;
            let out = dev.output_f32(OP, &shape, Vec::new())?;
            let params = Params {
                n: n as u32,
                vocab: vocab as u32,
                hidden: hidden as u32,
                _p: 0,
            };
            let bufs = [ids.gpu_buffer(), table.gpu_buffer(), out.gpu_buffer()];
            g.dispatch(
                Kernel::Embedding,
                &[],
                &bufs,
                &params,
                grid_items(g, n * hidden),
            )?;
            Ok(out)
        }
    }
}
