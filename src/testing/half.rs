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
