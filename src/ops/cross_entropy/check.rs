//! The checks of `ops::cross_entropy` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::finite_differences::{
    central_differences, check_close_f64, dyadic_vec, FD_ABS, FD_TOL,
};
use crate::testing::{check_close, e, expect_err, read, Check, Rng, Tol};
use crate::Device;

/// Cross-entropy in f64: per-row loss `lse - logits[label]` and the gradient
/// of `scale * sum(loss)`, `(softmax - onehot) * scale`. Returns (loss, dlogits).
pub fn ref_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    vocab: usize,
    scale: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut loss = vec![0f64; labels.len()];
    let mut d = vec![0f64; logits.len()];
    for (r, &label) in labels.iter().enumerate() {
        let row: Vec<f64> = logits[r * vocab..(r + 1) * vocab]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
        loss[r] = m + z.ln() - row[label as usize];
        for (j, v) in row.iter().enumerate() {
            let onehot = if j == label as usize { 1.0 } else { 0.0 };
            d[r * vocab + j] = ((v - m).exp() / z - onehot) * scale;
        }
    }
    (loss, d)
}

/// The cross-entropy gradient reference against central differences of
/// `scale * sum(loss)`.
pub fn fd_check_cross_entropy(rows: usize, vocab: usize, scale: f64, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let logits = dyadic_vec(&mut rng, rows * vocab, 4);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(vocab as u32)).collect();
    let (_, d) = ref_cross_entropy(&logits, &labels, vocab, scale);
    let fd = central_differences(&logits, |v| {
        scale
            * ref_cross_entropy(v, &labels, vocab, scale)
                .0
                .iter()
                .sum::<f64>()
    })?;
    check_close_f64(
        &format!("cross_entropy f64 reference, rows {rows} V {vocab} scale {scale}: dlogits vs central differences"),
        &d,
        &fd,
        FD_TOL,
        FD_ABS,
    )
}

/// Fused cross-entropy on `dev` vs f64: per-row loss and scaled dlogits.
pub async fn check_cross_entropy(
    dev: &Device,
    rows: usize,
    vocab: usize,
    scale: f32,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let logits = rng.vec(rows * vocab, 6.0);
    let labels: Vec<u32> = (0..rows).map(|_| rng.below(vocab as u32)).collect();
    let o = ops::cross_entropy(
        dev,
        &dev.tensor_f32(&[rows, vocab], &logits).map_err(e)?,
        &dev.tensor_u32(&[rows], &labels).map_err(e)?,
        scale,
    )
    .map_err(e)?;
    let (loss, d) = ref_cross_entropy(&logits, &labels, vocab, scale as f64);
    let what = format!(
        "cross_entropy rows {rows} V {vocab} scale {scale} on {}",
        dev.name()
    );
    check_close(
        &format!("{what}: loss"),
        &read(dev, &o.loss).await?,
        &loss,
        Tol::F32,
    )?;
    check_close(
        &format!("{what}: dlogits"),
        &read(dev, &o.dlogits).await?,
        &d,
        Tol::F32,
    )
}

/// A label >= V: an error on the CPU (the host has the labels); on the GPU a
/// NaN loss for that row only.
pub async fn check_cross_entropy_bad_label(dev: &Device) -> Check {
    let logits = dev
        .tensor_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        .map_err(e)?;
    let labels = dev.tensor_u32(&[2], &[1, 7]).map_err(e)?;
    let r = ops::cross_entropy(dev, &logits, &labels, 1.0);
    if !dev.is_gpu() {
        return expect_err(
            "cross_entropy with label 7 of 3 classes",
            r,
            &["cross_entropy", "label 7", "row 1", "3 classes"],
        );
    }
    let loss = read(dev, &r.map_err(e)?.loss).await?;
    let want0 = (1f64 + 1f64.exp() + 2f64.exp()).ln() - 1.0;
    if (loss[0] as f64 - want0).abs() > 1e-6 || !loss[1].is_nan() {
        return Err(format!(
            "cross_entropy on {} with labels [1, 7] of 3 classes: loss {loss:?}, want [{want0}, NaN]",
            dev.name()
        ));
    }
    Ok(())
}
