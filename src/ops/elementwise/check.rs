//! The checks of `ops::elementwise` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

/// Exact GELU in f64.
pub fn ref_gelu(x: f64) -> f64 {
    0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// GELU, tanh, add (same shape and row broadcast) and GeGLU on `dev` vs f64.
pub async fn check_elementwise(dev: &Device, rows: usize, cols: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let n = rows * cols;
    let x = rng.vec(n, 6.0);
    let y = rng.vec(n, 1.0);
    let row = rng.vec(cols, 1.0);
    let on = dev.name();
    let tx = dev.tensor_f32(&[rows, cols], &x).map_err(e)?;
    let got = read(dev, &ops::gelu(dev, &tx).map_err(e)?).await?;
    check_close(
        &format!("gelu {rows}x{cols} on {on}"),
        &got,
        &x.iter().map(|&v| ref_gelu(v as f64)).collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let got = read(dev, &ops::tanh(dev, &tx).map_err(e)?).await?;
    check_close(
        &format!("tanh {rows}x{cols} on {on}"),
        &got,
        &x.iter().map(|&v| (v as f64).tanh()).collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let got = read(dev, &ops::scale(dev, &tx, -0.37).map_err(e)?).await?;
    check_close(
        &format!("scale {rows}x{cols} on {on}"),
        &got,
        &x.iter()
            .map(|&v| v as f64 * -0.37f32 as f64)
            .collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let ty = dev.tensor_f32(&[rows, cols], &y).map_err(e)?;
    let got = read(dev, &ops::add(dev, &tx, &ty).map_err(e)?).await?;
    check_close(
        &format!("add {rows}x{cols} on {on}"),
        &got,
        &x.iter()
            .zip(&y)
            .map(|(&a, &b)| a as f64 + b as f64)
            .collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let trow = dev.tensor_f32(&[cols], &row).map_err(e)?;
    let got = read(dev, &ops::add(dev, &tx, &trow).map_err(e)?).await?;
    let want: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &a)| a as f64 + row[i % cols] as f64)
        .collect();
    check_close(
        &format!("add row {rows}x{cols} + [{cols}] on {on}"),
        &got,
        &want,
        Tol::F32,
    )?;
    if cols.is_multiple_of(2) {
        let inner = cols / 2;
        let got = read(dev, &ops::geglu(dev, &tx).map_err(e)?).await?;
        let want: Vec<f64> = (0..rows * inner)
            .map(|i| {
                let (r, c) = (i / inner, i % inner);
                ref_gelu(x[r * cols + c] as f64) * x[r * cols + inner + c] as f64
            })
            .collect();
        check_close(
            &format!("geglu {rows}x{cols} on {on}"),
            &got,
            &want,
            Tol::F32,
        )?;
        let got = read(dev, &ops::swiglu(dev, &tx).map_err(e)?).await?;
        let want: Vec<f64> = (0..rows * inner)
            .map(|i| {
                let (r, c) = (i / inner, i % inner);
                let u = x[r * cols + c] as f64;
                u / (1.0 + (-u).exp()) * x[r * cols + inner + c] as f64
            })
            .collect();
        check_close(
            &format!("swiglu {rows}x{cols} on {on}"),
            &got,
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}
