//! The native tests of `ops::embedding`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn embedding_gather() {
    let Some(dev) = gpu() else { return };
    run(check_embedding(&dev, 1, 5, 3, 1));
    run(check_embedding(&dev, 129, 4096, 65, 2));
}

#[test]
fn cpu_matches_f64() {
    run(check_embedding(&Device::Cpu, 40, 100, 17, 3));
}
