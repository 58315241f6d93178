//! The native tests of `ops::cross_entropy`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

const ROWS: [usize; 6] = [1, 7, 63, 65, 255, 257];

#[test]
fn cross_entropy_reference_matches_central_differences() {
    for (seed, &(rows, vocab, scale)) in
        [(1, 1, 1.0), (3, 5, 0.25), (2, 17, 1.0 / 3.0), (4, 64, 2.0)]
            .iter()
            .enumerate()
    {
        fd_check_cross_entropy(rows, vocab, scale, seed as u64).unwrap();
    }
}

fn cross_entropy(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        seed += 1;
        run(check_cross_entropy(dev, rows, 5, 1.0 / 37.0, seed));
    }
    for &rows in &[1, 7, 65, 257] {
        seed += 1;
        run(check_cross_entropy(dev, rows, 4096, 0.01, seed));
    }
    run(check_cross_entropy(dev, 9, 1, 0.5, 50));
    run(check_cross_entropy(dev, 3, 257, 3.0, 51));
    run(check_cross_entropy_bad_label(dev));
}

#[test]
fn cpu_cross_entropy() {
    cross_entropy(&Device::Cpu);
}

#[test]
fn gpu_cross_entropy() {
    let Some(dev) = gpu() else { return };
    cross_entropy(&dev);
}
