//! Column blocks of a row-major matrix [.., W]: take one ([.., w]) or add
//! one into a copy. LoRA on the query, key or value block of a fused Wqkv
//! uses them. Kernel: shaders/columns/columns.wgsl. Either may run on f16
//! activations (x and v f16, y f16: the sum in f32, rounded once).

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
struct Params {
    rows: u32,
    width: u32,
    start: u32,
    block: u32,
}

fn check(op: &'static str, x: &Tensor, start: usize, block: usize) -> Result<(usize, usize)> {
    let width = x.shape().last().copied().unwrap_or(0);
    if x.rank() == 0 || start + block > width {
        return Err(shape_err(
            op,
            format!(
                "columns {start}..{} are not inside x {:?}",
                start + block,
                x.shape()
            ),
        ));
    }
    Ok((x.numel() / width.max(1), width))
}

/// `x[.., start .. start + block]`.
pub fn take_columns(dev: &Device, x: &Tensor, start: usize, block: usize) -> Result<Tensor> {
    const OP: &str = "take_columns";
    let dtype = super::activation_dtype(dev, OP, &[("x", x)])?;
    dev.check_on(OP, &[("x", x)])?;
    let (rows, width) = check(OP, x, start, block)?;
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("rank checked") = block;
    match dev {
        Device::Cpu => {
            let out = cpu::take_columns(&x.cpu_float(), width, start, block);
            dev.output_as(OP, &shape, dtype, out)
        }
        Device::Gpu(g) => {
            let y = dev.output_as(OP, &shape, dtype, Vec::new())?;
            dispatch(g, 0, x, x, &y, rows, width, start, block, rows * block)?;
            Ok(y)
        }
    }
}

/// `x` with `v` ([.., block]) added at columns `start ..`.
pub fn add_columns(dev: &Device, x: &Tensor, v: &Tensor, start: usize) -> Result<Tensor> {
    const OP: &str = "add_columns";
    let dtype = super::activation_dtype(dev, OP, &[("x", x), ("v", v)])?;
    dev.check_on(OP, &[("x", x), ("v", v)])?;
    let block = v.shape().last().copied().unwrap_or(0);
    let (rows, width) = check(OP, x, start, block)?;
    if v.shape()[..v.rank().saturating_sub(1)] != x.shape()[..x.rank() - 1] {
        return Err(shape_err(
            OP,
            format!(
                "v {:?} and x {:?} differ in their rows",
                v.shape(),
                x.shape()
            ),
        ));
    }
    match dev {
        Device::Cpu => {
            let out = cpu::add_columns(&x.cpu_float(), &v.cpu_float(), width, start, block);
            dev.output_as(OP, x.shape(), dtype, out)
        }
        Device::Gpu(g) => {
            let y = dev.output_as(OP, x.shape(), dtype, Vec::new())?;
            dispatch(g, 1, x, v, &y, rows, width, start, block, rows * width)?;
            Ok(y)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    g: &crate::gpu::GpuDevice,
    mode: u32,
    x: &Tensor,
    v: &Tensor,
    y: &Tensor,
    rows: usize,
    width: usize,
    start: usize,
    block: usize,
    items: usize,
) -> Result<()> {
    const OP: &str = "columns";
    let params = Params {
        rows: u32_of(OP, "rows", rows)?,
        width: u32_of(OP, "width", width)?,
        start: start as u32,
        block: block as u32,
    };
    u32_of(OP, "elements", rows * width)?;
    g.dispatch(
        Kernel::Columns.half(x.dtype()),
        &[("MODE", mode)],
        &[x.gpu_buffer(), v.gpu_buffer(), y.gpu_buffer()],
        &params,
        grid_items(g, items),
    )
}
