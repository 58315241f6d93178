//! The native tests of `ops::cast`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

/// Rounding to f16 on every branch (ties, subnormals, overflow, inf, NaN),
/// odd and even counts, more than one workgroup.
#[test]
fn to_f16_rounds_like_half_on_every_backend() {
    let mut devices = vec![Device::Cpu];
    devices.extend(gpu());
    for dev in &devices {
        for (i, n) in [1, 16, 17, 1001, 70_001].into_iter().enumerate() {
            run(check_to_f16(dev, n, 40 + i as u64));
            run(check_to_f32(dev, n, 50 + i as u64));
        }
    }
}
