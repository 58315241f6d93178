//! The native tests of `ops::layer_norm_backward`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

const HIDDEN: [usize; 5] = [1, 7, 128, 129, 768];

const ROWS: [usize; 6] = [1, 7, 63, 65, 255, 257];

// ---------------------------------------------------------------- references vs finite differences
#[test]
fn layer_norm_backward_reference_matches_central_differences() {
    for (seed, &(rows, hidden)) in [(1, 1), (1, 2), (3, 7), (2, 16), (4, 33)]
        .iter()
        .enumerate()
    {
        for residual in [false, true] {
            fd_check_layer_norm_backward(rows, hidden, residual, seed as u64).unwrap();
        }
    }
}

// ---------------------------------------------------------------- op bodies, one per device
fn layer_norm_backward(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        for &hidden in &HIDDEN {
            seed += 1;
            run(check_layer_norm_backward(
                dev,
                rows,
                hidden,
                seed % 2 == 0,
                seed,
            ));
        }
    }
    // More than one chunk of 256 rows for the weight and bias gradients.
    run(check_layer_norm_backward(dev, 1000, 65, true, 99));
}

// ---------------------------------------------------------------- CPU backend vs f64
#[test]
fn cpu_layer_norm_backward() {
    layer_norm_backward(&Device::Cpu);
}

// ---------------------------------------------------------------- GPU vs f64
#[test]
fn gpu_layer_norm_backward() {
    let Some(dev) = gpu() else { return };
    layer_norm_backward(&dev);
}

/// Training with half-precision activations: x and the residual are the
/// forward's saved f16 activations; dy, the statistics and every gradient
/// f32. The statistics come from the forward on the same (rounded) values.
#[test]
fn layer_norm_backward_f16_saved() {
    use crate::testing::half::{check_saved_half_op, SavedInput};
    for dev in &crate::testing::half_devices() {
        for (i, &(rows, h)) in [(1, 1), (7, 63), (65, 768), (3, 1001), (300, 33)]
            .iter()
            .enumerate()
        {
            let mut rng = crate::testing::Rng::new(1800 + i as u64);
            let (w, b) = (rng.vec(h, 1.0), rng.vec(h, 1.0));
            for residual in [false, true] {
                let mut inputs = vec![
                    SavedInput::grad(&[rows, h], rng.vec(rows * h, 1.0)),
                    SavedInput::saved(&[rows, h], rng.vec(rows * h, 3.0)),
                ];
                if residual {
                    inputs.push(SavedInput::saved(&[rows, h], rng.vec(rows * h, 3.0)));
                }
                for params in [true, false] {
                    run(check_saved_half_op(
                        &format!(
                            "layer_norm_backward {rows}x{h} residual {residual} param grads {params}"
                        ),
                        dev,
                        &inputs,
                        crate::testing::Tol::F32,
                        |d, t| {
                            let (w, b) = (d.tensor_f32(&[h], &w)?, d.tensor_f32(&[h], &b)?);
                            let res = t.get(2);
                            let fwd = crate::ops::layer_norm(d, &t[1], res, &w, &b, 1e-12)?;
                            let (mean, rstd) = (&fwd.mean, &fwd.rstd);
                            if !params {
                                let dx = crate::ops::layer_norm_backward_input(
                                    d, &t[0], &t[1], res, mean, rstd, &w,
                                )?;
                                return Ok(vec![dx]);
                            }
                            let g = crate::ops::layer_norm_backward(
                                d, &t[0], &t[1], res, mean, rstd, &w,
                            )?;
                            Ok(vec![g.dx, g.dweight, g.dbias])
                        },
                    ));
                }
            }
        }
    }
}
