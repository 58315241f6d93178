//! The native tests of `ops::softmax`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn softmax_rows() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, cols)) in [(1, 1), (7, 63), (65, 257), (3, 4096)].iter().enumerate() {
        run(check_softmax(&dev, rows, cols, i as u64));
    }
}

#[test]
fn cpu_matches_f64() {
    run(check_softmax(&Device::Cpu, 9, 300, 1));
}
