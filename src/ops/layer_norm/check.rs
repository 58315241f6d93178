//! The checks of `ops::layer_norm` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, widen, Check, Rng, Tol};
use crate::Device;

/// LayerNorm of `x (+ residual)` in f64. Returns (y, mean, rstd).
pub fn ref_layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    hidden: usize,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let rows = x.len() / hidden;
    let (mut y, mut mean, mut rstd) = (vec![0f64; x.len()], vec![0f64; rows], vec![0f64; rows]);
    for r in 0..rows {
        let z: Vec<f64> = (0..hidden)
            .map(|j| x[r * hidden + j] as f64 + residual.map_or(0.0, |s| s[r * hidden + j] as f64))
            .collect();
        let mu = z.iter().sum::<f64>() / hidden as f64;
        let var = z.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / hidden as f64;
        let rs = 1.0 / (var + eps).sqrt();
        for j in 0..hidden {
            y[r * hidden + j] = (z[j] - mu) * rs * w[j] as f64 + b[j] as f64;
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
    (y, mean, rstd)
}

/// LayerNorm (with and without the residual) on `dev` vs the CPU backend,
/// and on the CPU vs the f64 reference.
pub async fn check_layer_norm(
    dev: &Device,
    rows: usize,
    hidden: usize,
    residual: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = rng
        .vec(rows * hidden, 3.0)
        .iter()
        .map(|v| v + 0.5)
        .collect();
    let r = rng.vec(rows * hidden, 1.0);
    let w = rng.vec(hidden, 1.0);
    let bias = rng.vec(hidden, 1.0);
    let eps = 1e-12;
    let what = format!(
        "layer_norm rows {rows} H {hidden} residual {residual} on {}",
        dev.name()
    );
    let run = |d: &Device| -> Result<ops::LayerNormOut, String> {
        let tx = d.tensor_f32(&[rows, hidden], &x).map_err(e)?;
        let tr = d.tensor_f32(&[rows, hidden], &r).map_err(e)?;
        let tw = d.tensor_f32(&[hidden], &w).map_err(e)?;
        let tb = d.tensor_f32(&[hidden], &bias).map_err(e)?;
        ops::layer_norm(d, &tx, residual.then_some(&tr), &tw, &tb, eps).map_err(e)
    };
    let g = run(dev)?;
    let got = [
        read(dev, &g.y).await?,
        read(dev, &g.mean).await?,
        read(dev, &g.rstd).await?,
    ];
    let c = run(&Device::Cpu)?;
    let cpu = [
        read(&Device::Cpu, &c.y).await?,
        read(&Device::Cpu, &c.mean).await?,
        read(&Device::Cpu, &c.rstd).await?,
    ];
    for (i, name) in ["y", "mean", "rstd"].iter().enumerate() {
        check_close(
            &format!("{what}: {name}"),
            &got[i],
            &widen(&cpu[i]),
            Tol::F32,
        )?;
    }
    if !dev.is_gpu() {
        let (y, m, s) = ref_layer_norm(&x, residual.then_some(&r), &w, &bias, hidden, eps as f64);
        for (i, (name, want)) in [("y", y), ("mean", m), ("rstd", s)].into_iter().enumerate() {
            check_close(&format!("{what}: {name} vs f64"), &got[i], &want, Tol::F32)?;
        }
    }
    Ok(())
}
