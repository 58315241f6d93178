//! The element-wise backward ops (GELU, tanh, GeGLU, SwiGLU), dropout and AdamW:
//! the f64 derivatives against finite differences, the CPU backend and the
//! GPU (lavapipe in CI) against the f64 references at sizes around the
//! 256-wide workgroups, dropout's masks (identical on every backend, keep
//! fraction, independence across seeds and streams, the backward being the
//! same call), and AdamW against PyTorch's own `torch.optim.AdamW`.

mod common;

use common::{gpu, run};
use dnagpu::ops::{self, AdamWStep, Glu};
use dnagpu::{Device, Error};

const SIZES: [usize; 5] = [1, 7, 255, 257, 65_537];

/// GeGLU inputs: leading dims and an odd I (rows * I around 256).
const GEGLU: [(&[usize], usize); 6] = [
    (&[1], 1),
    (&[3], 7),
    (&[5], 51),
    (&[2, 3], 43),
    (&[1], 257),
    (&[129], 129),
];

/// Past 65,535 groups of 256 the grid folds into a second dimension.
const FOLDED: usize = 65_535 * 256 + 257;

fn fd(check: Result<(), String>) {
    if let Err(msg) = check {
        panic!("{msg}");
    }
}

#[test]
fn f64_derivatives_match_finite_differences() {
    for seed in 0..3 {
        fd(dnagpu::ops::activation_backward::check::check_gelu_grad_fd(
            seed,
        ));
        fd(dnagpu::ops::activation_backward::check::check_tanh_grad_fd(
            seed,
        ));
    }
    for (i, (rows, inner)) in [(1, 1), (3, 5), (2, 7), (4, 2)].into_iter().enumerate() {
        for act in [Glu::Gelu, Glu::Silu] {
            fd(
                dnagpu::ops::activation_backward::check::check_glu_backward_fd(
                    rows, inner, act, i as u64,
                ),
            );
        }
    }
}

fn activation_backward_on(dev: &Device) {
    for (i, &n) in SIZES.iter().enumerate() {
        run(dnagpu::ops::activation_backward::check::check_gelu_backward(dev, &[n], i as u64));
        run(dnagpu::ops::activation_backward::check::check_tanh_backward(dev, &[n], 10 + i as u64));
    }
    run(dnagpu::ops::activation_backward::check::check_gelu_backward(dev, &[3, 5, 17], 20));
    run(dnagpu::ops::activation_backward::check::check_tanh_backward(dev, &[2, 129], 21));
    for (i, (lead, inner)) in GEGLU.into_iter().enumerate() {
        run(dnagpu::ops::activation_backward::check::check_glu_backward(
            dev,
            lead,
            inner,
            Glu::Gelu,
            30 + i as u64,
        ));
        run(dnagpu::ops::activation_backward::check::check_glu_backward(
            dev,
            lead,
            inner,
            Glu::Silu,
            40 + i as u64,
        ));
    }
}

#[test]
fn activation_backward_cpu_vs_f64() {
    activation_backward_on(&Device::Cpu);
}

#[test]
fn activation_backward_gpu_vs_f64_and_cpu() {
    let Some(dev) = gpu() else { return };
    activation_backward_on(&dev);
}

#[test]
fn folded_grid_gelu_backward_and_dropout() {
    let Some(dev) = gpu() else { return };
    run(dnagpu::ops::activation_backward::check::check_gelu_backward(&dev, &[FOLDED], 40));
    run(dnagpu::ops::dropout::check::check_dropout_matches_cpu(
        &dev,
        &[FOLDED],
        0.3,
        41,
        2,
    ));
}

#[test]
fn dropout_is_bit_identical_on_gpu_and_cpu() {
    let Some(dev) = gpu() else { return };
    for (i, &n) in SIZES.iter().enumerate() {
        for (j, p) in [0.1f32, 0.5, 0.9].into_iter().enumerate() {
            run(dnagpu::ops::dropout::check::check_dropout_matches_cpu(
                &dev,
                &[n],
                p,
                i as u64,
                j as u32,
            ));
        }
    }
    run(dnagpu::ops::dropout::check::check_dropout_matches_cpu(
        &dev,
        &[4, 33, 7],
        0.25,
        u64::MAX,
        u32::MAX,
    ));
}

fn dropout_statistics_on(dev: &Device) {
    for (i, p) in [0.1f32, 0.5, 0.9].into_iter().enumerate() {
        run(dnagpu::ops::dropout::check::check_dropout_keep_fraction(
            dev,
            1_000_000,
            p,
            100 + i as u64,
        ));
    }
    run(dnagpu::ops::dropout::check::check_dropout_masks_differ(
        dev, 100_000, 0.5,
    ));
    run(dnagpu::ops::dropout::check::check_dropout_masks_differ(
        dev, 100_000, 0.1,
    ));
    run(dnagpu::ops::dropout::check::check_dropout_backward(
        dev, 65_537, 0.1, 5, 3,
    ));
    run(dnagpu::ops::dropout::check::check_dropout_backward(
        dev, 257, 0.7, 6, 0,
    ));
}

#[test]
fn dropout_statistics_and_backward_cpu() {
    dropout_statistics_on(&Device::Cpu);
    run(dnagpu::ops::dropout::check::check_dropout_matches_cpu(
        &Device::Cpu,
        &[257],
        0.5,
        1,
        1,
    ));
}

#[test]
fn dropout_statistics_and_backward_gpu() {
    let Some(dev) = gpu() else { return };
    dropout_statistics_on(&dev);
}

fn dropout_arguments_on(dev: &Device) {
    let x = dev.tensor_f32(&[3], &[1.0, -2.0, 3.0]).unwrap();
    let same = ops::dropout(dev, &x, 0.0, 9, 9).unwrap();
    assert_eq!(
        pollster::block_on(dev.read_f32(&same)).unwrap(),
        [1.0, -2.0, 3.0]
    );
    for p in [1.0f32, 1.5, -0.1, f32::NAN, f32::INFINITY] {
        match ops::dropout(dev, &x, p, 0, 0) {
            Err(Error::Invalid(msg)) => assert!(msg.contains("dropout"), "{msg}"),
            other => panic!("dropout p = {p}: expected an error, got {other:?}"),
        }
    }
    let ids = dev.tensor_u32(&[3], &[1, 2, 3]).unwrap();
    assert!(matches!(
        ops::dropout(dev, &ids, 0.5, 0, 0),
        Err(Error::DType { .. })
    ));
}

#[test]
fn dropout_p_zero_is_identity_and_bad_p_is_an_error() {
    dropout_arguments_on(&Device::Cpu);
    if let Some(dev) = gpu() {
        dropout_arguments_on(&dev);
    }
}

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
                    run(dnagpu::ops::adamw::check::check_adamw(dev, n, &s, seed));
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
    run(dnagpu::ops::adamw::check::check_adamw(dev, 255, &big, 99));
}

fn adamw_fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adamw/adamw.json"
    );
    std::fs::read(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Gradient clipping on the device (the factor AdamW reads; a non-finite
/// step changes nothing).
#[test]
fn clipping_on_the_device_cpu_and_gpu() {
    run(dnagpu::ops::clip::check::check_clip(&Device::Cpu, 5));
    if let Some(dev) = gpu() {
        run(dnagpu::ops::clip::check::check_clip(&dev, 6));
    }
}

#[test]
fn adamw_cpu_vs_f64_and_pytorch() {
    adamw_on(&Device::Cpu);
    run(dnagpu::ops::adamw::check::check_adamw_fixture(
        &Device::Cpu,
        &adamw_fixture(),
    ));
}

#[test]
fn adamw_gpu_vs_f64_cpu_and_pytorch() {
    let Some(dev) = gpu() else { return };
    adamw_on(&dev);
    run(dnagpu::ops::adamw::check::check_adamw_fixture(
        &dev,
        &adamw_fixture(),
    ));
}

#[test]
fn bad_shapes_and_arguments_are_errors() {
    let dev = Device::Cpu;
    let f = |shape: &[usize]| {
        let n = shape.iter().product();
        dev.tensor_f32(shape, &vec![0.5; n]).unwrap()
    };
    let shape_err = |r: dnagpu::Result<dnagpu::Tensor>, op: &str| match r {
        Err(Error::Shape { op: o, msg }) => {
            assert_eq!(o, op, "{msg}");
            assert!(msg.contains('['), "the message names the shapes: {msg}");
        }
        other => panic!("{op}: expected a shape error, got {other:?}"),
    };
    shape_err(
        ops::gelu_backward(&dev, &f(&[2, 3]), &f(&[3, 2])),
        "gelu_backward",
    );
    shape_err(
        ops::tanh_backward(&dev, &f(&[4]), &f(&[5])),
        "tanh_backward",
    );
    shape_err(
        ops::geglu_backward(&dev, &f(&[2, 5]), &f(&[2, 2])),
        "geglu_backward",
    );
    shape_err(
        ops::geglu_backward(&dev, &f(&[2, 6]), &f(&[2, 2])),
        "geglu_backward",
    );
    shape_err(
        ops::geglu_backward(&dev, &f(&[2, 6]), &f(&[3, 3])),
        "geglu_backward",
    );
    shape_err(
        ops::swiglu_backward(&dev, &f(&[2, 6]), &f(&[2, 2])),
        "swiglu_backward",
    );
    let [p, g, m] = [f(&[4]), f(&[4]), f(&[4])];
    match ops::adamw(&dev, &p, &g, &m, &f(&[2, 2]), &ADAMW, None) {
        Err(Error::Shape { op: "adamw", .. }) => {}
        other => panic!("adamw: expected a shape error, got {:?}", other.err()),
    }
    match ops::adamw(&dev, &p, &g, &m, &f(&[4]), &ADAMW, Some(&f(&[3]))) {
        Err(Error::Shape { op: "adamw", .. }) => {}
        other => panic!("adamw clip: expected a shape error, got {:?}", other.err()),
    }
    shape_err(ops::clip_scale(&dev, &f(&[2]), &f(&[1]), 1.0), "clip_scale");
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
