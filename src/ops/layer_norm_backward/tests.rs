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
