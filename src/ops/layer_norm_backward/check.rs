//! The checks of `ops::layer_norm_backward` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::ops::layer_norm::check::ref_layer_norm;
use crate::testing::finite_differences::{
    central_differences, check_close_f64, dot, dyadic_vec, FD_ABS, FD_TOL,
};
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

// ---------------------------------------------------------------- f64 references
/// LayerNorm backward in f64, with mean and rstd recomputed in f64 from the
/// inputs (as [`ref_layer_norm`] does). Returns (dx, dweight, dbias); dx is
/// also the residual's gradient.
pub fn ref_layer_norm_backward(
    dy: &[f32],
    x: &[f32],
    residual: Option<&[f32]>,
    w: &[f32],
    hidden: usize,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let rows = x.len() / hidden;
    let zeros = vec![0f32; hidden];
    let (_, mean, rstd) = ref_layer_norm(x, residual, w, &zeros, hidden, eps);
    let mut dx = vec![0f64; x.len()];
    let (mut dw, mut db) = (vec![0f64; hidden], vec![0f64; hidden]);
    for r in 0..rows {
        let off = r * hidden;
        let xhat: Vec<f64> = (0..hidden)
            .map(|j| {
                let s = x[off + j] as f64 + residual.map_or(0.0, |res| res[off + j] as f64);
                (s - mean[r]) * rstd[r]
            })
            .collect();
        let g: Vec<f64> = (0..hidden)
            .map(|j| dy[off + j] as f64 * w[j] as f64)
            .collect();
        let mg = g.iter().sum::<f64>() / hidden as f64;
        let mgx = g.iter().zip(&xhat).map(|(g, x)| g * x).sum::<f64>() / hidden as f64;
        for j in 0..hidden {
            dx[off + j] = rstd[r] * (g[j] - mg - xhat[j] * mgx);
            dw[j] += dy[off + j] as f64 * xhat[j];
            db[j] += dy[off + j] as f64;
        }
    }
    (dx, dw, db)
}

/// The layer norm backward reference against central differences of
/// `L = sum(dy * ref_layer_norm(x, residual, w, b))` in x, residual, w and b.
pub fn fd_check_layer_norm_backward(
    rows: usize,
    hidden: usize,
    residual: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let n = rows * hidden;
    let x = dyadic_vec(&mut rng, n, 2);
    let res = dyadic_vec(&mut rng, n, 1);
    let w = dyadic_vec(&mut rng, hidden, 2);
    let b = dyadic_vec(&mut rng, hidden, 1);
    let dy = rng.vec(n, 1.0);
    let eps = 1e-5;
    let r = residual.then_some(&res[..]);
    let loss = |x: &[f32], r: Option<&[f32]>, w: &[f32], b: &[f32]| {
        dot(&dy, &ref_layer_norm(x, r, w, b, hidden, eps).0)
    };
    let (dx, dw, db) = ref_layer_norm_backward(&dy, &x, r, &w, hidden, eps);
    let what =
        format!("layer_norm_backward f64 reference, rows {rows} H {hidden} residual {residual}");
    let fd = central_differences(&x, |v| loss(v, r, &w, &b))?;
    check_close_f64(
        &format!("{what}: dx vs central differences"),
        &dx,
        &fd,
        FD_TOL,
        FD_ABS,
    )?;
    if residual {
        let fd = central_differences(&res, |v| loss(&x, Some(v), &w, &b))?;
        check_close_f64(
            &format!("{what}: dresidual vs central differences"),
            &dx,
            &fd,
            FD_TOL,
            FD_ABS,
        )?;
    }
    let fd = central_differences(&w, |v| loss(&x, r, v, &b))?;
    check_close_f64(
        &format!("{what}: dweight vs central differences"),
        &dw,
        &fd,
        FD_TOL,
        FD_ABS,
    )?;
    let fd = central_differences(&b, |v| loss(&x, r, &w, v))?;
    check_close_f64(
        &format!("{what}: dbias vs central differences"),
        &db,
        &fd,
        FD_TOL,
        FD_ABS,
    )
}

// ---------------------------------------------------------------- op checks
/// Layer norm backward on `dev` (mean and rstd are the f64 reference's,
/// rounded to f32) vs the f64 reference: dx, dweight, dbias.
pub async fn check_layer_norm_backward(
    dev: &Device,
    rows: usize,
    hidden: usize,
    residual: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let n = rows * hidden;
    let x: Vec<f32> = rng.vec(n, 3.0).iter().map(|v| v + 0.5).collect();
    let res = rng.vec(n, 1.0);
    let w = rng.vec(hidden, 1.0);
    let dy = rng.vec(n, 1.0);
    let eps = 1e-12;
    let r = residual.then_some(&res[..]);
    let (_, mean, rstd) = ref_layer_norm(&x, r, &w, &vec![0.0; hidden], hidden, eps);
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let shape = [rows, hidden];
    let t = |s: &[usize], v: &[f32]| dev.tensor_f32(s, v).map_err(e);
    let tr = t(&shape, &res)?;
    let args = (
        t(&shape, &dy)?,
        t(&shape, &x)?,
        t(&[rows], &f32s(&mean))?,
        t(&[rows], &f32s(&rstd))?,
        t(&[hidden], &w)?,
    );
    let (tdy, tx, tm, ts, tw) = &args;
    let r_t = residual.then_some(&tr);
    let g = ops::layer_norm_backward(dev, tdy, tx, r_t, tm, ts, tw).map_err(e)?;
    // The input-only variant (frozen norms) gives the very same dx.
    let dx_only = ops::layer_norm_backward_input(dev, tdy, tx, r_t, tm, ts, tw).map_err(e)?;
    let (dx, dw, db) = ref_layer_norm_backward(&dy, &x, r, &w, hidden, eps);
    let what = format!(
        "layer_norm_backward rows {rows} H {hidden} residual {residual} on {}",
        dev.name()
    );
    let got_dx = read(dev, &g.dx).await?;
    check_close(&format!("{what}: dx"), &got_dx, &dx, Tol::F32)?;
    if read(dev, &dx_only).await? != got_dx {
        return Err(format!("{what}: layer_norm_backward_input's dx differs"));
    }
    check_close(
        &format!("{what}: dweight"),
        &read(dev, &g.dweight).await?,
        &dw,
        Tol::F32,
    )?;
    check_close(
        &format!("{what}: dbias"),
        &read(dev, &g.dbias).await?,
        &db,
        Tol::F32,
    )
}
