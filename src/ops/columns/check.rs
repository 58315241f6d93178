//! The checks of `ops::columns` (feature `test-utils`) that its native tests
//! (`tests.rs`) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

/// Taking and adding a column block on `dev` against plain indexing.
pub async fn check_columns(
    dev: &Device,
    rows: usize,
    width: usize,
    start: usize,
    block: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(rows * width, 1.0);
    let v = rng.vec(rows * block, 1.0);
    let tx = dev.tensor_f32(&[rows, width], &x).map_err(e)?;
    let tv = dev.tensor_f32(&[rows, block], &v).map_err(e)?;
    let what = format!(
        "columns {start}..+{block} of {rows}x{width} on {}",
        dev.name()
    );
    let got = read(dev, &ops::take_columns(dev, &tx, start, block).map_err(e)?).await?;
    let want: Vec<f64> = (0..rows * block)
        .map(|i| x[(i / block) * width + start + i % block] as f64)
        .collect();
    check_close(&format!("take {what}"), &got, &want, Tol::F32)?;
    let got = read(dev, &ops::add_columns(dev, &tx, &tv, start).map_err(e)?).await?;
    let want: Vec<f64> = (0..rows * width)
        .map(|i| {
            let (r, c) = (i / width, i % width);
            let add = if (start..start + block).contains(&c) {
                v[r * block + c - start]
            } else {
                0.0
            };
            (x[i] + add) as f64
        })
        .collect();
    check_close(&format!("add {what}"), &got, &want, Tol::F32)
}
