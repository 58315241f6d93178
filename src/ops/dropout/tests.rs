//! The native tests of `ops::dropout`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::ops::{self};
use crate::testing::{gpu, run};
use crate::{Device, Error};

const SIZES: [usize; 5] = [1, 7, 255, 257, 65_537];

#[test]
fn dropout_is_bit_identical_on_gpu_and_cpu() {
    let Some(dev) = gpu() else { return };
    for (i, &n) in SIZES.iter().enumerate() {
        for (j, p) in [0.1f32, 0.5, 0.9].into_iter().enumerate() {
            run(check_dropout_matches_cpu(&dev, &[n], p, i as u64, j as u32));
        }
    }
    run(check_dropout_matches_cpu(
        &dev,
        &[4, 33, 7],
        0.25,
        u64::MAX,
        u32::MAX,
    ));
}

fn dropout_statistics_on(dev: &Device) {
    for (i, p) in [0.1f32, 0.5, 0.9].into_iter().enumerate() {
        run(check_dropout_keep_fraction(
            dev,
            1_000_000,
            p,
            100 + i as u64,
        ));
    }
    run(check_dropout_masks_differ(dev, 100_000, 0.5));
    run(check_dropout_masks_differ(dev, 100_000, 0.1));
    run(check_dropout_backward(dev, 65_537, 0.1, 5, 3));
    run(check_dropout_backward(dev, 257, 0.7, 6, 0));
}

#[test]
fn dropout_statistics_and_backward_cpu() {
    dropout_statistics_on(&Device::Cpu);
    run(check_dropout_matches_cpu(&Device::Cpu, &[257], 0.5, 1, 1));
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

/// A window of a tensor (a data-parallel rank's rows) draws the masks its
/// elements have in the whole tensor, on every backend.
fn window_is_the_slice_of_the_whole_on(dev: &Device) {
    let n = 3 * 4099;
    let x: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
    let whole = dev.tensor_f32(&[n], &x).unwrap();
    let want = dev
        .read_f32_blocking(&ops::dropout(dev, &whole, 0.3, 17, 5).unwrap())
        .unwrap();
    for (first, len) in [(0, 4099), (4099, 4099), (1, n - 1), (8198, 4099)] {
        let part = dev.tensor_f32(&[len], &x[first..first + len]).unwrap();
        let got = ops::dropout_from(dev, &part, 0.3, 17, 5, first).unwrap();
        assert_eq!(
            dev.read_f32_blocking(&got).unwrap(),
            want[first..first + len],
            "window at {first}"
        );
    }
}

#[test]
fn dropout_window_is_the_slice_of_the_whole_cpu() {
    window_is_the_slice_of_the_whole_on(&Device::Cpu);
}

#[test]
fn dropout_window_is_the_slice_of_the_whole_gpu() {
    let Some(dev) = gpu() else { return };
    window_is_the_slice_of_the_whole_on(&dev);
}

/// Training with half-precision activations: dropout on f16 activations
/// keeps the same mask and rounds each kept value once.
#[test]
fn dropout_half_activations() {
    for dev in &crate::testing::half_devices() {
        for (i, &n) in SIZES.iter().enumerate() {
            let x = crate::testing::Rng::new(1500 + i as u64).vec(n, 3.0);
            run(crate::testing::half::check_half_op(
                &format!("dropout of {n}"),
                dev,
                &[(vec![n], x.clone())],
                |d, t| ops::dropout(d, &t[0], 0.3, 7, i as u32),
            ));
            run(crate::testing::half::check_half_op(
                &format!("dropout of {n} from element 1000"),
                dev,
                &[(vec![n], x)],
                |d, t| ops::dropout_from(d, &t[0], 0.3, 7, i as u32, 1000),
            ));
        }
    }
}
