//! The native tests of `ops::adamw`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::ops::{self, AdamWStep};
use crate::testing::{assert_shape_error, filled, gpu, run};
use crate::{Device, Error};

const ADAMW: AdamWStep = AdamWStep {
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.0,
    step: 1,
    grad_scale: 1.0,
};

fn adamw_on(dev: &Device) {
    let mut seed = 0;
    for weight_decay in [0.0, 0.01] {
        for grad_scale in [1.0, 0.5] {
            for step in [1, 10] {
                let s = AdamWStep {
                    weight_decay,
                    grad_scale,
                    step,
                    ..ADAMW
                };
                for n in [1, 257, 65_537] {
                    seed += 1;
                    run(check_adamw(dev, n, &s, seed));
                }
            }
        }
    }
    let big = AdamWStep {
        lr: 0.05,
        beta1: 0.8,
        beta2: 0.95,
        eps: 1e-6,
        weight_decay: 0.1,
        step: 3,
        grad_scale: 0.25,
    };
    run(check_adamw(dev, 255, &big, 99));
}

fn adamw_fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adamw/adamw.json"
    );
    std::fs::read(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn adamw_cpu_vs_f64_and_pytorch() {
    adamw_on(&Device::Cpu);
    run(check_adamw_fixture(&Device::Cpu, &adamw_fixture()));
}

#[test]
fn adamw_gpu_vs_f64_cpu_and_pytorch() {
    let Some(dev) = gpu() else { return };
    adamw_on(&dev);
    run(check_adamw_fixture(&dev, &adamw_fixture()));
}

#[test]
fn bad_shapes_and_arguments_are_errors() {
    let dev = Device::Cpu;
    let f = |shape: &[usize]| filled(&dev, shape, 0.5);
    let [p, g, m] = [f(&[4]), f(&[4]), f(&[4])];
    match ops::adamw(&dev, &p, &g, &m, &f(&[2, 2]), &ADAMW, None) {
        Err(Error::Shape { op: "adamw", .. }) => {}
        other => panic!("adamw: expected a shape error, got {:?}", other.err()),
    }
    match ops::adamw(&dev, &p, &g, &m, &f(&[4]), &ADAMW, Some(&f(&[3]))) {
        Err(Error::Shape { op: "adamw", .. }) => {}
        other => panic!("adamw clip: expected a shape error, got {:?}", other.err()),
    }
    assert_shape_error(ops::clip_scale(&dev, &f(&[2]), &f(&[1]), 1.0), "clip_scale");
    for bad in [
        AdamWStep { step: 0, ..ADAMW },
        AdamWStep {
            beta1: 1.0,
            ..ADAMW
        },
        AdamWStep {
            beta2: -0.1,
            ..ADAMW
        },
        AdamWStep { lr: -1.0, ..ADAMW },
        AdamWStep {
            eps: f32::NAN,
            ..ADAMW
        },
        AdamWStep {
            weight_decay: -0.01,
            ..ADAMW
        },
        AdamWStep {
            grad_scale: f32::INFINITY,
            ..ADAMW
        },
    ] {
        match ops::adamw(&dev, &p, &g, &m, &f(&[4]), &bad, None) {
            Err(Error::Invalid(msg)) => assert!(msg.starts_with("adamw"), "{msg}"),
            other => panic!("adamw {bad:?}: expected an error, got {:?}", other.err()),
        }
    }
}
