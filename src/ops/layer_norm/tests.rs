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
