//! The native tests of `ops::elementwise`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn elementwise_ops() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, cols)) in [(1, 2), (7, 63), (65, 258), (300, 257)].iter().enumerate() {
        run(check_elementwise(&dev, rows, cols, i as u64));
    }
}

#[test]
fn cpu_matches_f64() {
    run(check_elementwise(&Device::Cpu, 33, 258, 2));
}
