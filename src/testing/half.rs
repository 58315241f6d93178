//! One check for every op that takes half-precision activations: the op on
//! f16 inputs gives f16 outputs, on the GPU as its CPU twin does, and the
//! CPU twin rounds only its result (so it stays within half an f16 unit of
//! the same op on the same values in f32).

use super::{check_close, e, read, widen, Check, Tol};
use crate::{DType, Device, Tensor};

/// `op` on `inputs` (shape, values; rounded to f16 first, the values an f16
/// tensor holds) as f16 tensors on `dev` and on the CPU, and as f32 tensors
/// on the CPU: the f16 results agree within [`Tol::F16_STORED`], and the
/// CPU's f16 result is its f32 result rounded. `op` returns the op's
/// activation output.
pub async fn check_half_op(
    what: &str,
    dev: &Device,
    inputs: &[(Vec<usize>, Vec<f32>)],
    op: impl Fn(&Device, &[Tensor]) -> crate::Result<Tensor>,
) -> Check {
    check_half_op_within(what, dev, inputs, Tol::F16_STORED, op).await
}

/// [`check_half_op`] with the GPU held to `tol` against the CPU twin: for
/// kernels that round more than their output (the cooperative attention
/// rounds its probabilities to f16).
pub async fn check_half_op_within(
    what: &str,
    dev: &Device,
    inputs: &[(Vec<usize>, Vec<f32>)],
    tol: Tol,
    op: impl Fn(&Device, &[Tensor]) -> crate::Result<Tensor>,
) -> Check {
    let what = format!("{what} with f16 activations on {}", dev.name());
    let rounded: Vec<Vec<f32>> = inputs
        .iter()
        .map(|(_, v)| v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect())
        .collect();
    let tensors = |d: &Device, half: bool| -> Result<Vec<Tensor>, String> {
        inputs
            .iter()
            .zip(&rounded)
            .map(|((shape, _), v)| {
                if half {
                    d.tensor_f16(shape, v)
                } else {
                    d.tensor_f32(shape, v)
                }
                .map_err(e)
            })
            .collect()
    };
    let got = op(dev, &tensors(dev, true)?).map_err(e)?;
    if got.dtype() != DType::F16 {
        return Err(format!("{what}: output is {:?}, not F16", got.dtype()));
    }
    let cpu = &Device::Cpu;
    let want = read(cpu, &op(cpu, &tensors(cpu, true)?).map_err(e)?).await?;
    check_close(&what, &read(dev, &got).await?, &widen(&want), tol)?;
    let f32_result = read(cpu, &op(cpu, &tensors(cpu, false)?).map_err(e)?).await?;
    for (i, (&h, &f)) in want.iter().zip(&f32_result).enumerate() {
        if half::f16::from_f32(f).to_f32().to_bits() != h.to_bits() && !(h.is_nan() && f.is_nan()) {
            return Err(format!(
                "{what}: the CPU twin's f16 element {i} is {h}, not its f32 result {f} rounded"
            ));
        }
    }
    Ok(())
}

/// One input of [`check_saved_half_op`]: shape, values, and whether it is
/// a saved activation (an f16 tensor) or a gradient (f32).
pub struct SavedInput {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub saved: bool,
}

impl SavedInput {
    /// A forward activation the backward reads (f16 when checked).
    pub fn saved(shape: &[usize], values: Vec<f32>) -> Self {
        Self {
            shape: shape.to_vec(),
            values,
            saved: true,
        }
    }

    /// A gradient (f32 always).
    pub fn grad(shape: &[usize], values: Vec<f32>) -> Self {
        Self {
            shape: shape.to_vec(),
            values,
            saved: false,
        }
    }
}

/// The check of a backward op that reads the forward's saved activations
/// in f16 (training with half-precision activations) and keeps gradients
/// f32: `op` on `inputs` — the saved ones as f16 tensors (their values
/// rounded to f16), the gradients f32 — gives f32 outputs, on `dev` within
/// `tol` of the CPU twin's, and the CPU twin's equal bit for bit its
/// outputs on the same values as f32 tensors (it widens the saved ones,
/// exactly, and computes as in f32).
pub async fn check_saved_half_op(
    what: &str,
    dev: &Device,
    inputs: &[SavedInput],
    tol: Tol,
    op: impl Fn(&Device, &[Tensor]) -> crate::Result<Vec<Tensor>>,
) -> Check {
    let what = format!("{what} with f16 saved activations on {}", dev.name());
    let tensors = |d: &Device, half: bool| -> Result<Vec<Tensor>, String> {
        inputs
            .iter()
            .map(|i| {
                if !i.saved {
                    return d.tensor_f32(&i.shape, &i.values);
                }
                let v: Vec<f32> = i
                    .values
                    .iter()
                    .map(|&x| half::f16::from_f32(x).to_f32())
                    .collect();
                if half {
                    d.tensor_f16(&i.shape, &v)
                } else {
                    d.tensor_f32(&i.shape, &v)
                }
            })
            .collect::<crate::Result<_>>()
            .map_err(e)
    };
    let got = op(dev, &tensors(dev, true)?).map_err(e)?;
    let cpu = &Device::Cpu;
    let want = op(cpu, &tensors(cpu, true)?).map_err(e)?;
    let f32_inputs = op(cpu, &tensors(cpu, false)?).map_err(e)?;
    for (k, ((g, w), f)) in got.iter().zip(&want).zip(&f32_inputs).enumerate() {
        if g.dtype() != DType::F32 {
            return Err(format!("{what}: output {k} is {:?}, not F32", g.dtype()));
        }
        let (w, f) = (read(cpu, w).await?, read(cpu, f).await?);
        if let Some(i) = (0..w.len()).find(|&i| w[i].to_bits() != f[i].to_bits()) {
            return Err(format!(
                "{what}: the CPU twin's output {k} element {i} is {} from f16 tensors, {} from the same values in f32",
                w[i], f[i]
            ));
        }
        check_close(
            &format!("{what}, output {k}"),
            &read(dev, g).await?,
            &widen(&w),
            tol,
        )?;
    }
    Ok(())
}
