//! The native tests of `ops::activation_backward`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::ops::{self, Glu};
use crate::testing::{assert_shape_error, filled, gpu, run};
use crate::Device;

/// Past 65,535 groups of 256 the grid folds into a second dimension.
const FOLDED: usize = 65_535 * 256 + 257;

/// GeGLU inputs: leading dims and an odd I (rows * I around 256).
const GEGLU: [(&[usize], usize); 6] = [
    (&[1], 1),
    (&[3], 7),
    (&[5], 51),
    (&[2, 3], 43),
    (&[1], 257),
    (&[129], 129),
];

const SIZES: [usize; 5] = [1, 7, 255, 257, 65_537];

fn fd(check: Result<(), String>) {
    if let Err(msg) = check {
        panic!("{msg}");
    }
}

#[test]
fn f64_derivatives_match_finite_differences() {
    for seed in 0..3 {
        fd(check_gelu_grad_fd(seed));
        fd(check_tanh_grad_fd(seed));
    }
    for (i, (rows, inner)) in [(1, 1), (3, 5), (2, 7), (4, 2)].into_iter().enumerate() {
        for act in [Glu::Gelu, Glu::Silu] {
            fd(check_glu_backward_fd(rows, inner, act, i as u64));
        }
    }
}

fn activation_backward_on(dev: &Device) {
    for (i, &n) in SIZES.iter().enumerate() {
        run(check_gelu_backward(dev, &[n], i as u64));
        run(check_tanh_backward(dev, &[n], 10 + i as u64));
    }
    run(check_gelu_backward(dev, &[3, 5, 17], 20));
    run(check_tanh_backward(dev, &[2, 129], 21));
    for (i, (lead, inner)) in GEGLU.into_iter().enumerate() {
        run(check_glu_backward(
            dev,
            lead,
            inner,
            Glu::Gelu,
            30 + i as u64,
        ));
        run(check_glu_backward(
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
    run(check_gelu_backward(&dev, &[FOLDED], 40));
    run(crate::ops::dropout::check::check_dropout_matches_cpu(
        &dev,
        &[FOLDED],
        0.3,
        41,
        2,
    ));
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let dev = Device::Cpu;
    let f = |shape: &[usize]| filled(&dev, shape, 0.5);
    assert_shape_error(
        ops::gelu_backward(&dev, &f(&[2, 3]), &f(&[3, 2])),
        "gelu_backward",
    );
    assert_shape_error(
        ops::tanh_backward(&dev, &f(&[4]), &f(&[5])),
        "tanh_backward",
    );
    assert_shape_error(
        ops::geglu_backward(&dev, &f(&[2, 5]), &f(&[2, 2])),
        "geglu_backward",
    );
    assert_shape_error(
        ops::geglu_backward(&dev, &f(&[2, 6]), &f(&[2, 2])),
        "geglu_backward",
    );
    assert_shape_error(
        ops::geglu_backward(&dev, &f(&[2, 6]), &f(&[3, 3])),
        "geglu_backward",
    );
    assert_shape_error(
        ops::swiglu_backward(&dev, &f(&[2, 6]), &f(&[2, 2])),
        "swiglu_backward",
    );
}

/// An activation's backward: (device, saved input, incoming gradient).
type BackwardFn = fn(&Device, &crate::Tensor, &crate::Tensor) -> crate::Result<crate::Tensor>;

/// Training with half-precision activations: the backward reads the
/// forward's saved activation in f16, the gradients stay f32.
#[test]
fn activation_backward_f16_saved() {
    use crate::testing::half::{check_saved_half_op, SavedInput};
    for dev in &crate::testing::half_devices() {
        for (i, &n) in SIZES.iter().enumerate() {
            let mut rng = crate::testing::Rng::new(1600 + i as u64);
            let inputs = [
                SavedInput::saved(&[n], rng.vec(n, 4.0)),
                SavedInput::grad(&[n], rng.vec(n, 1.0)),
            ];
            for (name, f) in [
                ("gelu_backward", ops::gelu_backward as BackwardFn),
                ("tanh_backward", ops::tanh_backward),
            ] {
                run(check_saved_half_op(
                    &format!("{name} of {n}"),
                    dev,
                    &inputs,
                    crate::testing::Tol::F32,
                    |d, t| Ok(vec![f(d, &t[0], &t[1])?]),
                ));
            }
        }
        for (i, &(lead, inner)) in GEGLU.iter().enumerate() {
            let mut rng = crate::testing::Rng::new(1700 + i as u64);
            let rows: usize = lead.iter().product();
            let mut g_shape = lead.to_vec();
            g_shape.push(2 * inner);
            let mut f_shape = lead.to_vec();
            f_shape.push(inner);
            let inputs = [
                SavedInput::saved(&g_shape, rng.vec(rows * 2 * inner, 4.0)),
                SavedInput::grad(&f_shape, rng.vec(rows * inner, 1.0)),
            ];
            for (name, f) in [
                ("geglu_backward", ops::geglu_backward as BackwardFn),
                ("swiglu_backward", ops::swiglu_backward),
            ] {
                run(check_saved_half_op(
                    &format!("{name} {g_shape:?}"),
                    dev,
                    &inputs,
                    crate::testing::Tol::F32,
                    |d, t| Ok(vec![f(d, &t[0], &t[1])?]),
                ));
            }
        }
    }
}
