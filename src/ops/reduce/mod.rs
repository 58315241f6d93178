//! Reductions for the backward pass: column sums (bias gradients) and the sum
//! of squares (global gradient norm). Both run as repeated passes that each
//! shrink the data by 256 (sum_rows) or 4096 (sum_squares), so no GPU
//! invocation loops more than 256 times whatever the size (lavapipe stops
//! loops silently past 65,535 iterations). Fixed summation order:
//! deterministic. Kernels: shaders/reduce/sum_rows.wgsl, shaders/reduce/sum_squares.wgsl.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use self::cpu::{SUM_BLOCK, SUM_ROWS_CHUNK};
use super::{grid_items, grid_rows, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::{GpuDevice, Kernel};
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SumRowsParams {
    rows: u32,
    cols: u32,
    chunks: u32,
    _p: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SumParams {
    n: u32,
    blocks: u32,
    _p: [u32; 2],
}

/// Column sums: x [R, N] (or any [.., N], flattened to rows) -> [N]. Bias gradients.
/// R = 0 gives zeros.
pub fn sum_rows(dev: &Device, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "sum_rows";
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
        Device::Cpu => dev.output_f32(OP, &[cols], cpu::sum_rows(x.cpu_f32(), cols)),
        Device::Gpu(g) => {
            u32_of(OP, "x size", x.numel())?;
            if rows == 1 {
                return x.reshape(&[cols]);
            }
            let mut cur = x.reshape(&[rows, cols])?;
            loop {
                cur = sum_rows_pass(dev, g, &cur)?;
                if cur.dim(0) == 1 {
                    return cur.reshape(&[cols]);
                }
            }
        }
    }
}

/// One GPU pass: [R, N] -> [max(1, ceil(R / 256)), N].
fn sum_rows_pass(dev: &Device, g: &GpuDevice, x: &Tensor) -> Result<Tensor> {
    let (rows, cols) = (x.dim(0), x.dim(1));
    let chunks = rows.div_ceil(SUM_ROWS_CHUNK).max(1);
    let out = dev.output_f32("sum_rows", &[chunks, cols], Vec::new())?;
    let params = SumRowsParams {
        rows: rows as u32,
        cols: cols as u32,
        chunks: chunks as u32,
        _p: 0,
    };
    g.dispatch(
        Kernel::SumRows,
        &[],
        &[x.gpu_buffer(), out.gpu_buffer()],
        &params,
        grid_items(g, chunks * cols),
    )?;
    Ok(out)
}

/// Sum of x² over all elements (any shape; empty gives 0) -> [1]. Global gradient norm.
pub fn sum_squares(dev: &Device, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "sum_squares";
    x.check_dtype(OP, "x", DType::F32)?;
    dev.check_on(OP, &[("x", x)])?;
    match dev {
        Device::Cpu => dev.output_f32(OP, &[1], vec![cpu::sum_squares(x.cpu_f32())]),
        Device::Gpu(g) => {
            // Block starts plus a block's span must stay within u32.
            u32_of(OP, "x size", x.numel() + SUM_BLOCK)?;
            let mut cur = sum_pass(dev, g, x, true)?;
            while cur.numel() > 1 {
                cur = sum_pass(dev, g, &cur, false)?;
            }
            Ok(cur)
        }
    }
}

/// One GPU pass: [n] -> [max(1, ceil(n / 4096))] sums of x² (`square`) or x.
fn sum_pass(dev: &Device, g: &GpuDevice, x: &Tensor, square: bool) -> Result<Tensor> {
    let n = x.numel();
    let blocks = n.div_ceil(SUM_BLOCK).max(1);
    let out = dev.output_f32("sum_squares", &[blocks], Vec::new())?;
    let params = SumParams {
        n: n as u32,
        blocks: blocks as u32,
        _p: [0; 2],
    };
    g.dispatch(
        Kernel::SumSquares,
        &[("SQUARE", u32::from(square))],
        &[x.gpu_buffer(), out.gpu_buffer()],
        &params,
        grid_rows(g, blocks),
    )?;
    Ok(out)
}
