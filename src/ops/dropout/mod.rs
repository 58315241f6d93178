//! Inverted dropout with a counter-based RNG, so that nothing is stored for
//! the backward. Kernel: shaders/dropout/dropout.wgsl; CPU twin and the shared
//! integer code: `cpu`.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{Error, Result};
use crate::gpu::Kernel;
use crate::{Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    threshold: u32,
    key0: u32,
    key1: u32,
    scale: f32,
    first: u32,
    _p: [u32; 2],
}

/// Inverted dropout with a counter-based RNG: element i is kept iff uniform(seed, stream, i) >= p,
/// kept values scaled by 1/(1-p). The mask is a pure function of (seed, stream, i), identical on the
/// CPU and every GPU, so the backward is `dropout(dy, p, seed, stream)` with the same arguments, and
/// nothing is stored. p = 0 returns x unchanged (no dispatch); p >= 1 or p < 0 is an error.
///
/// `uniform(seed, stream, i)` is [`cpu::dropout_uniform`]; i is
/// the row-major element index, so the mask depends on the element count,
/// not on the shape. `x` may be f16 (half-precision activations): y is
/// then f16, each kept value scaled in f32 and rounded once.
pub fn dropout(dev: &Device, x: &Tensor, p: f32, seed: u64, stream: u32) -> Result<Tensor> {
    dropout_from(dev, x, p, seed, stream, 0)
}

/// [`dropout`] of a tensor that is elements `first..` of a larger one (a
/// data-parallel rank's rows of the whole batch): element i draws the mask
/// of element `first + i` (u32 indices, wrapping as the kernel's do).
pub fn dropout_from(
    dev: &Device,
    x: &Tensor,
    p: f32,
    seed: u64,
    stream: u32,
    first: usize,
) -> Result<Tensor> {
    const OP: &str = "dropout";
    let dtype = super::activation_dtype(dev, OP, &[("x", x)])?;
    dev.check_on(OP, &[("x", x)])?;
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Invalid(format!("{OP}: p = {p} must be in [0, 1)")));
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let n = u32_of(OP, "elements", x.numel())?;
    match dev {
        Device::Cpu => {
            let xs = x.cpu_float();
            let y = if first == 0 {
                cpu::dropout(&xs, p, seed, stream)
            } else {
                shifted(&xs, p, seed, stream, first)
            };
            dev.output_as(OP, x.shape(), dtype, y)
        }
        Device::Gpu(g) => {
            let y = dev.output_as(OP, x.shape(), dtype, Vec::new())?;
            if n == 0 {
                return Ok(y);
            }
            let [key0, key1] = cpu::dropout_key(seed, stream);
            let params = Params {
                n,
                threshold: cpu::keep_threshold(p),
                key0,
                key1,
                scale: cpu::keep_scale(p),
                first: first as u32,
                _p: [0; 2],
            };
            g.dispatch(
                Kernel::Dropout.half(dtype),
                &[],
                &[x.gpu_buffer(), y.gpu_buffer()],
                &params,
                grid_items(g, x.numel()),
            )?;
            Ok(y)
        }
    }
}

/// The CPU twin of a window's dropout (`first` > 0): the masks of elements
/// `first..` from `cpu`'s integer code.
fn shifted(x: &[f32], p: f32, seed: u64, stream: u32, first: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let key = cpu::dropout_key(seed, stream);
    let (threshold, scale) = (cpu::keep_threshold(p), cpu::keep_scale(p));
    let start = first as u32;
    x.par_iter()
        .enumerate()
        .map(|(i, &v)| {
            let bits = cpu::dropout_bits(key, start.wrapping_add(i as u32));
            if bits >= threshold {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}
