//! Row-wise backward ops and the loss — layer norm backward, column sums,
//! sum of squares, embedding backward, fused cross-entropy: f64 references,
//! central-difference checks of those references against f64 forwards, and
//! one `check_*` per op comparing a device's result with the f64 reference
//! (`Tol::F32`). Shared by `tests/grad_rows.rs` and the browser tests.

use super::{check_close, e, read, ref_layer_norm, Rng, Tol};
use crate::ops::{self, RowIndex};
use crate::Device;

type Check = Result<(), String>;

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

/// Embedding gather in f64 (every id < rows): [n, H].
pub fn ref_embedding(ids: &[u32], table: &[f32], hidden: usize) -> Vec<f64> {
    ids.iter()
        .flat_map(|&id| table[id as usize * hidden..(id as usize + 1) * hidden].iter())
        .map(|&v| v as f64)
        .collect()
}

/// Embedding backward in f64: dtable [rows, H] with dtable[ids[p]] += dy[p].
pub fn ref_embedding_backward(ids: &[u32], dy: &[f32], rows: usize, hidden: usize) -> Vec<f64> {
    let mut d = vec![0f64; rows * hidden];
    for (p, &id) in ids.iter().enumerate() {
        for j in 0..hidden {
            d[id as usize * hidden + j] += dy[p * hidden + j] as f64;
        }
    }
    d
}

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

// ---------------------------------------------------------------- finite differences

/// Central-difference step, 2^-20 (about 1e-6): on [`dyadic_vec`] inputs
/// `v ± FD_STEP` is exact in f32, so the f32-taking references are
/// differentiated at exactly the perturbed points.
pub const FD_STEP: f64 = 1.0 / 1_048_576.0;

/// Tolerance of an f64 analytic gradient against central differences, plus
/// [`FD_ABS`]: rounding of the f64 loss (about 1e-16 |L| / 2^-20) makes an
/// absolute floor where every gradient is tiny (LayerNorm of 2 features).
pub const FD_TOL: Tol = Tol {
    rtol: 1e-6,
    atol_rel: 1e-6,
};
/// Absolute error allowed on top of [`FD_TOL`].
pub const FD_ABS: f64 = 1e-8;

/// Values k / 256 with |k| <= 256 * range (range <= 4): f32 keeps v ± 2^-20 exact.
pub fn dyadic_vec(rng: &mut Rng, n: usize, range: u32) -> Vec<f32> {
    let span = 256 * range.min(4);
    (0..n)
        .map(|_| (rng.below(2 * span + 1) as i64 - span as i64) as f32 / 256.0)
        .collect()
}

/// d f / d v[i] for every i by central differences (f evaluated in f64).
pub fn central_differences(v: &[f32], f: impl Fn(&[f32]) -> f64) -> Result<Vec<f64>, String> {
    let mut p = v.to_vec();
    let mut grad = Vec::with_capacity(v.len());
    for i in 0..v.len() {
        let (up, down) = (v[i] as f64 + FD_STEP, v[i] as f64 - FD_STEP);
        if up as f32 as f64 != up || down as f32 as f64 != down {
            return Err(format!("{} ± 2^-20 is not exact in f32", v[i]));
        }
        p[i] = up as f32;
        let fu = f(&p);
        p[i] = down as f32;
        let fd = f(&p);
        p[i] = v[i];
        grad.push((fu - fd) / (2.0 * FD_STEP));
    }
    Ok(grad)
}

/// [`check_close`] for f64 results, with an extra absolute tolerance `abs`.
pub fn check_close_f64(what: &str, got: &[f64], want: &[f64], tol: Tol, abs: f64) -> Check {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.len()
        ));
    }
    let atol = abs + tol.atol_rel * want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > atol + tol.rtol * w.abs() {
            return Err(format!(
                "{what}: element {i} is {g} but should be {w} (error {err:.3e}, tolerance rtol {:e} + atol {atol:.3e})",
                tol.rtol
            ));
        }
    }
    Ok(())
}

fn dot(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| a as f64 * b).sum()
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

/// The embedding backward reference against central differences of
/// `L = sum(dy * ref_embedding(ids, table))` in the table.
pub fn fd_check_embedding_backward(ids: &[u32], rows: usize, hidden: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let table = dyadic_vec(&mut rng, rows * hidden, 1);
    let dy = rng.vec(ids.len() * hidden, 1.0);
    let want = ref_embedding_backward(ids, &dy, rows, hidden);
    let fd = central_differences(&table, |t| dot(&dy, &ref_embedding(ids, t, hidden)))?;
    check_close_f64(
        &format!("embedding_backward f64 reference, ids {ids:?} rows {rows} H {hidden}: vs central differences"),
        &want,
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

/// Embedding backward of `ids` into a table of `rows` rows on `dev` vs f64.
pub async fn check_embedding_backward(
    dev: &Device,
    ids: &[u32],
    rows: usize,
    hidden: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let dy = rng.vec(ids.len() * hidden, 1.0);
    let index = RowIndex::new(dev, ids, rows).map_err(e)?;
    let tdy = dev.tensor_f32(&[ids.len(), hidden], &dy).map_err(e)?;
    let got = ops::embedding_backward(dev, &index, &tdy).map_err(e)?;
    if got.shape() != [rows, hidden] {
        return Err(format!(
            "embedding_backward gave shape {:?}, want [{rows}, {hidden}]",
            got.shape()
        ));
    }
    check_close(
        &format!(
            "embedding_backward n {} rows {rows} H {hidden} on {}",
            ids.len(),
            dev.name()
        ),
        &read(dev, &got).await?,
        &ref_embedding_backward(ids, &dy, rows, hidden),
        Tol::F32,
    )
}

fn expect_err<T>(what: &str, r: crate::Result<T>, needles: &[&str]) -> Check {
    match r {
        Ok(_) => Err(format!("{what}: expected an error mentioning {needles:?}")),
        Err(err) => {
            let msg = err.to_string();
            match needles.iter().find(|n| !msg.contains(*n)) {
                Some(n) => Err(format!("{what}: error `{msg}` should mention `{n}`")),
                None => Ok(()),
            }
        }
    }
}

/// Bad input to the embedding backward is an error naming the problem: an id
/// out of range (with its position), an id at more than 65,535 positions, dy
/// with the wrong number of positions.
pub async fn check_embedding_backward_errors(dev: &Device) -> Check {
    expect_err(
        "RowIndex with id 9 >= 5 rows",
        RowIndex::new(dev, &[0, 3, 9, 1], 5),
        &["RowIndex", "id 9", "position 2", "5 rows"],
    )?;
    expect_err(
        "RowIndex with 65,536 copies of one id",
        RowIndex::new(dev, &vec![1; 65_536], 3),
        &["RowIndex", "id 1", "65536", "65535"],
    )?;
    let index = RowIndex::new(dev, &[0, 1, 1], 2).map_err(e)?;
    let dy = dev.tensor_f32(&[2, 4], &[0.0; 8]).map_err(e)?;
    expect_err(
        "embedding_backward with 2 rows of dy for 3 positions",
        ops::embedding_backward(dev, &index, &dy),
        &["embedding_backward", "[2, 4]", "3 positions"],
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
