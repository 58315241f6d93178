//! The native tests of `ops::layer_norm`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn layer_norm_with_and_without_residual() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, h)) in [(1, 1), (7, 63), (65, 257), (3, 768), (129, 1000)]
        .iter()
        .enumerate()
    {
        run(check_layer_norm(&dev, rows, h, false, i as u64));
        run(check_layer_norm(&dev, rows, h, true, 50 + i as u64));
    }
}

/// The row kernels' two kinds of reduction: workgroup trees everywhere,
/// subgroup operations where the device has them (lavapipe has; its
/// subgroups are narrower than NVIDIA's 32, so several combine).
#[test]
fn row_kernels_with_and_without_subgroups() {
    let Some(dev) = gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!() };
    for on in [false, true] {
        if g.set_subgroup_reductions(on) != on {
            eprintln!("SKIPPED: {} has no subgroups", g.summary().name);
            continue;
        }
        for (i, &(rows, h)) in [(1, 1), (7, 63), (65, 257), (3, 768)].iter().enumerate() {
            let seed = 100 * u64::from(on) + i as u64;
            run(check_layer_norm(&dev, rows, h, i % 2 == 0, seed));
            run(crate::ops::softmax::check::check_softmax(
                &dev, rows, h, seed,
            ));
            run(
                crate::ops::layer_norm_backward::check::check_layer_norm_backward(
                    &dev,
                    rows,
                    h,
                    i % 2 == 1,
                    seed,
                ),
            );
        }
    }
}

#[test]
fn layer_norm_matches_f64() {
    for (i, &(rows, h)) in [(1, 1), (9, 768), (33, 1000)].iter().enumerate() {
        run(check_layer_norm(
            &Device::Cpu,
            rows,
            h,
            i % 2 == 0,
            i as u64,
        ));
    }
}

/// Half-precision activations: x, residual and y in f16, statistics f32.
#[test]
fn layer_norm_half_activations() {
    let devices = crate::testing::half_devices();
    for dev in &devices {
        for (i, &(rows, h)) in [(1, 2), (7, 63), (65, 768), (3, 1001)].iter().enumerate() {
            let mut rng = crate::testing::Rng::new(1400 + i as u64);
            let (w, b) = (rng.vec(h, 1.0), rng.vec(h, 1.0));
            for residual in [false, true] {
                let mut inputs = vec![(vec![rows, h], rng.vec(rows * h, 3.0))];
                if residual {
                    inputs.push((vec![rows, h], rng.vec(rows * h, 3.0)));
                }
                let what = format!("layer_norm {rows}x{h} residual {residual}");
                run(crate::testing::half::check_half_op(
                    &what,
                    dev,
                    &inputs,
                    |d, t| {
                        let (w, b) = (d.tensor_f32(&[h], &w)?, d.tensor_f32(&[h], &b)?);
                        Ok(crate::ops::layer_norm(d, &t[0], t.get(1), &w, &b, 1e-12)?.y)
                    },
                ));
            }
        }
    }
}
