//! The packed linear product on the CPU backend at sizes that cut every
//! block unevenly: M around the 6-row micro-tile and the 96-row task block,
//! N around the panel width, K around the 256-wide slice, a batch sharing
//! the weight, bias, GELU, f16 weights.

use crate::ops::matmul::check::check_packed_linear;
use crate::testing::run;

#[test]
fn packed_linear_odd_sizes() {
    let mut seed = 0;
    for &m in &[1, 5, 6, 7, 70, 193, 200] {
        for &(n, k) in &[(1, 1), (17, 3), (33, 255), (8, 257), (48, 513)] {
            seed += 1;
            run(check_packed_linear(
                None, m, n, k, false, false, false, seed,
            ));
        }
    }
}

#[test]
fn packed_linear_batched_bias_gelu_f16() {
    run(check_packed_linear(
        Some(3),
        13,
        40,
        300,
        true,
        false,
        false,
        50,
    ));
    run(check_packed_linear(
        Some(2),
        7,
        129,
        65,
        true,
        true,
        false,
        51,
    ));
    run(check_packed_linear(
        None, 65, 63, 129, false, true, false, 52,
    ));
    run(check_packed_linear(
        None, 70, 100, 768, true, false, true, 53,
    ));
}

/// No bias: each batch's first K slice overwrites C, the next ones add.
#[test]
fn packed_linear_batched_without_bias() {
    run(check_packed_linear(
        Some(2),
        7,
        17,
        513,
        false,
        false,
        false,
        54,
    ));
}

/// A packed square weight in the backward's layouts (dX = dY · W, NN; and
/// TN) is read as stored, not through its panels.
#[test]
fn packed_weight_in_other_layouts_is_read_as_stored() {
    use crate::ops::{self, Matmul};
    let dev = crate::Device::Cpu;
    let mut rng = crate::testing::Rng::new(7);
    let (w, x) = (rng.vec(24 * 24, 1.0), rng.vec(5 * 24, 1.0));
    let packed = dev.linear_weight(&[24, 24], &w, crate::DType::F32).unwrap();
    let plain = dev.tensor_f32(&[24, 24], &w).unwrap();
    let xt = dev.tensor_f32(&[5, 24], &x).unwrap();
    let xt_t = dev.tensor_f32(&[24, 5], &x).unwrap();
    for (a, spec) in [(&xt, Matmul::NN), (&xt_t, Matmul::TN)] {
        let got = ops::matmul(&dev, a, &packed, None, spec).unwrap();
        let want = ops::matmul(&dev, a, &plain, None, spec).unwrap();
        assert_eq!(got.cpu_f32(), want.cpu_f32(), "{spec:?}");
    }
}

#[test]
fn reshaped_weight_drops_its_panels() {
    let dev = crate::Device::Cpu;
    let w = dev
        .linear_weight(&[4, 6], &[0.5; 24], crate::DType::F32)
        .unwrap();
    assert_eq!(w.packed.is_some(), super::available());
    assert!(w.reshape(&[6, 4]).unwrap().packed.is_none());
    assert_eq!(
        w.reshape(&[4, 6]).unwrap().packed.is_some(),
        super::available()
    );
}
