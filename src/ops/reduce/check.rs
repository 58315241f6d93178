//! The checks of `ops::reduce` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

/// Column sums of x [R, cols] in f64.
pub fn ref_sum_rows(x: &[f32], cols: usize) -> Vec<f64> {
    let mut s = vec![0f64; cols];
    for row in x.chunks(cols) {
        s.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
    }
    s
}

/// Sum of squares in f64.
pub fn ref_sum_squares(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

/// Column sums of a [rows, cols] tensor on `dev` vs f64 (rows may be 0).
pub async fn check_sum_rows(dev: &Device, rows: usize, cols: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(rows * cols, 1.0);
    let tx = dev.tensor_f32(&[rows, cols], &x).map_err(e)?;
    let got = ops::sum_rows(dev, &tx).map_err(e)?;
    if got.shape() != [cols] {
        return Err(format!(
            "sum_rows gave shape {:?}, want [{cols}]",
            got.shape()
        ));
    }
    check_close(
        &format!("sum_rows {rows}x{cols} on {}", dev.name()),
        &read(dev, &got).await?,
        &ref_sum_rows(&x, cols),
        Tol::F32,
    )
}

/// Sum of squares of a tensor of `shape` on `dev` vs f64.
pub async fn check_sum_squares(dev: &Device, shape: &[usize], seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(shape.iter().product(), 2.0);
    let got = ops::sum_squares(dev, &dev.tensor_f32(shape, &x).map_err(e)?).map_err(e)?;
    if got.shape() != [1] {
        return Err(format!(
            "sum_squares gave shape {:?}, want [1]",
            got.shape()
        ));
    }
    check_close(
        &format!("sum_squares {shape:?} on {}", dev.name()),
        &read(dev, &got).await?,
        &[ref_sum_squares(&x)],
        Tol::F32,
    )
}
