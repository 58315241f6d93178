//! The clipping factor of a training step on the device (shaders/clip/clip.wgsl;
//! CPU twin in `cpu`): from the summed squares of every gradient and the
//! summed loss, `[scale, ok, loss, total]`, which `ops::adamw` reads, so
//! that the step needs no readback before its update.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    max_norm: f32,
    _p: [u32; 3],
}

/// The clip tensor of a step that is not clipped: scale 1, ok.
pub fn no_clip(dev: &Device) -> Result<Tensor> {
    dev.tensor_f32(&[4], &[1.0, 1.0, 0.0, 0.0])
}

/// `[scale, ok, loss, total]` ([4] f32) from `total` (the gradients' summed
/// squares, [1]) and `loss` ([1]): ok = 1 when both are finite, scale =
/// min(1, max_norm / (sqrt(total) + 1e-6)) in f32 (PyTorch's
/// `clip_grad_norm_`), 1 when `max_norm` <= 0 or not ok.
pub fn clip_scale(dev: &Device, total: &Tensor, loss: &Tensor, max_norm: f32) -> Result<Tensor> {
    const OP: &str = "clip_scale";
    for (name, t) in [("total", total), ("loss", loss)] {
        t.check_dtype(OP, name, DType::F32)?;
        dev.check_on(OP, &[(name, t)])?;
        if t.numel() != 1 {
            return Err(shape_err(
                OP,
                format!("{name} {:?} must hold one value", t.shape()),
            ));
        }
    }
    match dev {
        Device::Cpu => {
            let clip = cpu::clip_scale(total.cpu_f32()[0], loss.cpu_f32()[0], max_norm);
            dev.output_f32(OP, &[4], clip.to_vec())
        }
        Device::Gpu(g) => {
            let out = dev.output_f32(OP, &[4], Vec::new())?;
            let params = Params {
                max_norm,
                _p: [0; 3],
            };
            g.dispatch(
                Kernel::Clip,
                &[],
                &[total.gpu_buffer(), loss.gpu_buffer(), out.gpu_buffer()],
                &params,
                [1, 1, 1],
            )?;
            Ok(out)
        }
    }
}
