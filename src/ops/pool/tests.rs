//! The native tests of `ops::pool`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn pooling_over_valid_rows() {
    let Some(dev) = gpu() else { return };
    run(check_pool(&dev, &[5, 0, 1, 3], 5, 65, 1));
    run(check_pool(&dev, &[129, 64], 129, 257, 2));
}

#[test]
fn cpu_matches_f64() {
    run(check_pool(&Device::Cpu, &[4, 0, 9], 9, 33, 4));
}
