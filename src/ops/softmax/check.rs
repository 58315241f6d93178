//! The checks of `ops::softmax` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

/// Softmax over rows on `dev` vs the CPU backend and an f64 softmax.
pub async fn check_softmax(dev: &Device, rows: usize, cols: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(rows * cols, 8.0);
    let got = read(
        dev,
        &ops::softmax(dev, &dev.tensor_f32(&[rows, cols], &x).map_err(e)?).map_err(e)?,
    )
    .await?;
    let mut want = vec![0f64; x.len()];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        for j in 0..cols {
            want[r * cols + j] = (row[j] as f64 - m).exp() / z;
        }
    }
    check_close(
        &format!("softmax {rows}x{cols} on {}", dev.name()),
        &got,
        &want,
        Tol::F32,
    )
}
