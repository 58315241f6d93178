//! The native tests of `ops::clip`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

/// Gradient clipping on the device (the factor AdamW reads; a non-finite
/// step changes nothing).
#[test]
fn clipping_on_the_device_cpu_and_gpu() {
    run(check_clip(&Device::Cpu, 5));
    if let Some(dev) = gpu() {
        run(check_clip(&dev, 6));
    }
}
