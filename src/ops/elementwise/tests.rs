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

/// Half-precision activations: GELU, tanh and scaling, GeGLU and SwiGLU on
/// f16 inputs give f16 outputs (odd sizes, several workgroups).
#[test]
fn elementwise_half_activations() {
    use crate::ops;
    use crate::testing::half::check_half_op;
    let devices = crate::testing::half_devices();
    for dev in &devices {
        for (i, &(rows, cols)) in [(1, 2), (7, 64), (300, 258)].iter().enumerate() {
            let mut rng = crate::testing::Rng::new(1500 + i as u64);
            let inputs = [(vec![rows, cols], rng.vec(rows * cols, 4.0))];
            let at = format!("{rows}x{cols}");
            run(check_half_op(
                &format!("gelu {at}"),
                dev,
                &inputs,
                |d, t| ops::gelu(d, &t[0]),
            ));
            run(check_half_op(
                &format!("tanh {at}"),
                dev,
                &inputs,
                |d, t| ops::tanh(d, &t[0]),
            ));
            run(check_half_op(
                &format!("scale {at}"),
                dev,
                &inputs,
                |d, t| ops::scale(d, &t[0], 0.3),
            ));
            run(check_half_op(
                &format!("geglu {at}"),
                dev,
                &inputs,
                |d, t| ops::geglu(d, &t[0]),
            ));
            run(check_half_op(
                &format!("swiglu {at}"),
                dev,
                &inputs,
                |d, t| ops::swiglu(d, &t[0]),
            ));
            let pair = [
                inputs[0].clone(),
                (vec![rows, cols], rng.vec(rows * cols, 4.0)),
            ];
            run(check_half_op(&format!("add {at}"), dev, &pair, |d, t| {
                ops::add(d, &t[0], &t[1])
            }));
        }
    }
}
