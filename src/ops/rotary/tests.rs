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

/// Half-precision activations: f16 qkv in, f16 out.
#[test]
fn rotary_half_activations() {
    let devices = crate::testing::half_devices();
    for dev in &devices {
        for (i, &(b, t, heads, d)) in [(1, 1, 1, 2), (2, 37, 3, 20), (3, 65, 2, 64)]
            .iter()
            .enumerate()
        {
            let mut rng = crate::testing::Rng::new(1700 + i as u64);
            let inputs = [(
                vec![b, t, 3 * heads * d],
                rng.vec(b * t * 3 * heads * d, 2.0),
            )];
            let what = format!("rotary B {b} T {t} heads {heads} D {d}");
            crate::testing::run(crate::testing::half::check_half_op(
                &what,
                dev,
                &inputs,
                |dv, x| crate::ops::rotary(dv, &x[0], heads),
            ));
        }
    }
}
