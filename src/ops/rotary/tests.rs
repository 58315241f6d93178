//! The native tests of `ops::rotary`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn rotary_on_packed_qkv() {
    let Some(dev) = gpu() else { return };
    for (seed, &(b, tt, heads, d)) in [
        (1, 1, 1, 2),
        (2, 7, 3, 8),
        (3, 300, 2, 64),
        (1, 2048, 1, 16),
    ]
    .iter()
    .enumerate()
    {
        run(check_rotary(&dev, b, tt, heads, d, 90 + seed as u64));
    }
}

#[test]
fn rotary_matches_f64() {
    for (seed, &(b, tt, heads, d)) in [(1, 5, 2, 4), (2, 130, 3, 64)].iter().enumerate() {
        run(check_rotary(
            &Device::Cpu,
            b,
            tt,
            heads,
            d,
            95 + seed as u64,
        ));
    }
}
