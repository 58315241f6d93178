//! Multinomial logistic (softmax) regression on sparse features with L2
//! regularisation, trained by mini-batch Adam with a seeded shuffle and a
//! step size decaying linearly to 0 over `max_epochs` (so that the last
//! steps settle near the optimum instead of rattling around it).
//!
//! Objective: mean cross-entropy over the training rows plus
//! `l2 / 2 * ||W||²` (the bias is not penalised), with the features
//! standardised by a [`Standardizer`]: `z_j = (x_j - mean_j) * inv_std_j`.
//! Standardised rows are dense, so they are never formed: the logits are
//! `b + Σ_j z_j w_j = (b - Σ_j mean_j v_j) + Σ_j x_j v_j` with
//! `v_j = inv_std_j w_j`, and the data gradient of `w_j` is
//! `inv_std_j (Σ_i g_i x_ij - mean_j Σ_i g_i)`, both sums over the sparse x.
//!
//! Deterministic for a seed whatever the thread count: rows are scored in
//! parallel, but every sum runs in row order on one thread.

use super::features::{SparseRows, Standardizer};
use crate::rng::Rng;
use rayon::prelude::*;

/// Settings of one training run (checked by the caller).
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub classes: usize,
    pub l2: f32,
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub seed: u64,
    /// Stop once the epoch's objective has improved by less than this
    /// fraction for `patience` epochs in a row.
    pub tolerance: f32,
    pub patience: usize,
}

/// A trained linear model on raw (unstandardised) features: logits are
/// `bias + Σ_j x_j weights[j]`, `weights` row-major `[feature][class]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub classes: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// Epochs run before stopping.
    pub epochs: usize,
}

impl Linear {
    /// The class probabilities of one sparse row.
    pub fn probs(&self, row: &[(u32, f32)]) -> Vec<f32> {
        let mut logits = self.bias.clone();
        add_row(&mut logits, row, &self.weights);
        softmax(&mut logits);
        logits
    }
}

/// `logits += Σ_j x_j w[j]` over a sparse row.
fn add_row(logits: &mut [f32], row: &[(u32, f32)], w: &[f32]) {
    let c = logits.len();
    for &(j, x) in row {
        let wj = &w[j as usize * c..][..c];
        for (l, &wk) in logits.iter_mut().zip(wj) {
            *l += x * wk;
        }
    }
}

/// In-place softmax; returns `ln Σ exp(logits)` (before normalising).
fn softmax(logits: &mut [f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
    max + sum.ln()
}

/// Adam state for one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;

impl Adam {
    fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step at time `t` (1-based) with bias-corrected moments.
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, t: i32) {
        let c1 = 1.0 - BETA1.powi(t);
        let c2 = 1.0 - BETA2.powi(t);
        for ((p, &g), (m, v)) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS);
        }
    }
}

/// The effective raw-feature weights `v_j = inv_std_j w_j` and bias
/// `b - Σ_j mean_j v_j` of standardised parameters.
fn effective(w: &[f32], b: &[f32], std: &Standardizer, out_w: &mut [f32], out_b: &mut [f32]) {
    let c = b.len();
    out_b.copy_from_slice(b);
    for (j, (wj, vj)) in w.chunks_exact(c).zip(out_w.chunks_exact_mut(c)).enumerate() {
        let (mean, inv) = (std.mean[j], std.inv_std[j]);
        for k in 0..c {
            vj[k] = wj[k] * inv;
            out_b[k] -= mean * vj[k];
        }
    }
}

/// Trains on `rows` (labels below `cfg.classes`, at least one row).
pub fn train(rows: &SparseRows, labels: &[usize], std: &Standardizer, cfg: &TrainConfig) -> Linear {
    let c = cfg.classes;
    let features = std.mean.len();
    let n = rows.len();
    let (mut w, mut b) = (vec![0f32; features * c], vec![0f32; c]);
    let mut scratch = (vec![0f32; features * c], vec![0f32; c]);
    let (mut grad_w, mut grad_b) = (vec![0f32; features * c], vec![0f32; c]);
    let (mut adam_w, mut adam_b) = (Adam::new(w.len()), Adam::new(c));
    let total_steps = cfg.max_epochs * n.div_ceil(cfg.batch_size);
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(cfg.seed);
    let mut best = f64::INFINITY;
    let (mut stale, mut step, mut epochs) = (0, 0i32, 0);
    while epochs < cfg.max_epochs {
        epochs += 1;
        shuffle(&mut order, &mut rng);
        let mut loss_sum = 0f64;
        for batch in order.chunks(cfg.batch_size) {
            loss_sum += batch_gradient(
                rows,
                labels,
                batch,
                std,
                cfg.l2,
                (&w, &b),
                &mut scratch,
                (&mut grad_w, &mut grad_b),
            );
            // Linear decay to 0 at the last step of `max_epochs`.
            let lr = cfg.learning_rate * (1.0 - step as f32 / total_steps as f32);
            step += 1;
            adam_w.step(&mut w, &grad_w, lr, step);
            adam_b.step(&mut b, &grad_b, lr, step);
        }
        let penalty: f64 =
            w.iter().map(|&x| x as f64 * x as f64).sum::<f64>() * cfg.l2 as f64 / 2.0;
        let objective = loss_sum / n as f64 + penalty;
        // `best` starts infinite: the first epoch always counts as progress.
        if objective < best - cfg.tolerance as f64 * best.abs().min(f64::MAX) {
            stale = 0;
        } else {
            stale += 1;
        }
        best = best.min(objective);
        if stale >= cfg.patience {
            break;
        }
    }
    let (mut weights, mut bias) = scratch;
    effective(&w, &b, std, &mut weights, &mut bias);
    Linear {
        classes: c,
        weights,
        bias,
        epochs,
    }
}

/// The gradient of the objective on one batch of rows into `grad`
/// (parameters `params` = (W, b) in standardised space; `scratch` holds the
/// effective raw-feature weights); returns the batch's summed cross-entropy.
#[allow(clippy::too_many_arguments)]
fn batch_gradient(
    rows: &SparseRows,
    labels: &[usize],
    batch: &[usize],
    std: &Standardizer,
    l2: f32,
    (w, b): (&[f32], &[f32]),
    (eff_w, eff_b): &mut (Vec<f32>, Vec<f32>),
    (grad_w, grad_b): (&mut [f32], &mut [f32]),
) -> f64 {
    let c = b.len();
    effective(w, b, std, eff_w, eff_b);
    let (eff_w, eff_b) = (&*eff_w, &*eff_b);
    // Per row: probabilities minus one-hot (the logits' gradient), loss.
    let scored: Vec<(Vec<f32>, f32)> = batch
        .par_iter()
        .map(|&i| {
            let mut g = eff_b.clone();
            add_row(&mut g, rows.row(i), eff_w);
            let label_logit = g[labels[i]];
            let loss = softmax(&mut g) - label_logit;
            g[labels[i]] -= 1.0;
            (g, loss)
        })
        .collect();
    grad_w.fill(0.0);
    grad_b.fill(0.0);
    let mut loss_sum = 0f64;
    for (&i, (g, loss)) in batch.iter().zip(&scored) {
        loss_sum += *loss as f64;
        for (gb, &gk) in grad_b.iter_mut().zip(g) {
            *gb += gk;
        }
        for &(j, x) in rows.row(i) {
            let gw = &mut grad_w[j as usize * c..][..c];
            for (a, &gk) in gw.iter_mut().zip(g) {
                *a += x * gk;
            }
        }
    }
    let scale = 1.0 / batch.len() as f32;
    for (j, (gw, wj)) in grad_w
        .chunks_exact_mut(c)
        .zip(w.chunks_exact(c))
        .enumerate()
    {
        let (mean, inv) = (std.mean[j], std.inv_std[j]);
        for k in 0..c {
            gw[k] = inv * (gw[k] - mean * grad_b[k]) * scale + l2 * wj[k];
        }
    }
    for gb in grad_b.iter_mut() {
        *gb *= scale;
    }
    loss_sum
}

/// Fisher-Yates with the crate's seeded generator.
fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_close, Tol};

    /// The objective in f64 on dense standardised rows: mean cross-entropy
    /// plus `l2 / 2 ||W||²`.
    fn objective(z: &[Vec<f64>], labels: &[usize], w: &[f64], b: &[f64], l2: f64) -> f64 {
        let c = b.len();
        let mut sum = 0.0;
        for (zi, &y) in z.iter().zip(labels) {
            let logits: Vec<f64> = (0..c)
                .map(|k| {
                    b[k] + zi
                        .iter()
                        .enumerate()
                        .map(|(j, x)| x * w[j * c + k])
                        .sum::<f64>()
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            sum += lse - logits[y];
        }
        sum / z.len() as f64 + l2 / 2.0 * w.iter().map(|x| x * x).sum::<f64>()
    }

    /// The sparse, standardisation-folded gradient matches central finite
    /// differences of the dense f64 objective, with and without standardising.
    #[test]
    fn gradient_matches_finite_differences() {
        let seqs = [
            "ACGTTGCA",
            "GGGNAC",
            "TTTTACG",
            "CA",
            "ACGGTCAGT",
            "N",
            "GATTACA",
        ];
        let labels = [0, 2, 1, 1, 0, 2, 1];
        let (ks, classes, l2) = ([1, 2], 3, 0.07);
        let rows = SparseRows::kmers(&seqs, &ks);
        let features = 4 + 16;
        let mut rng = Rng::new(5);
        let w: Vec<f32> = rng.vec(features * classes, 0.5);
        let b: Vec<f32> = rng.vec(classes, 0.5);
        let batch = [6, 0, 3, 4, 1, 5, 2];
        for std in [
            Standardizer::fit(&rows, features),
            Standardizer::identity(features),
        ] {
            let z: Vec<Vec<f64>> = (0..rows.len())
                .map(|i| {
                    let mut x = vec![0.0; features];
                    for &(j, v) in rows.row(i) {
                        x[j as usize] = v as f64;
                    }
                    let (m, s) = (&std.mean, &std.inv_std);
                    (0..features)
                        .map(|j| (x[j] - m[j] as f64) * s[j] as f64)
                        .collect()
                })
                .collect();
            let mut scratch = (vec![0.0; features * classes], vec![0.0; classes]);
            let (mut gw, mut gb) = (vec![0.0; features * classes], vec![0.0; classes]);
            let loss = batch_gradient(
                &rows,
                &labels,
                &batch,
                &std,
                l2,
                (&w, &b),
                &mut scratch,
                (&mut gw, &mut gb),
            );
            let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
            let b64: Vec<f64> = b.iter().map(|&x| x as f64).collect();
            let penalty = l2 as f64 / 2.0 * w64.iter().map(|x| x * x).sum::<f64>();
            let want = objective(&z, &labels, &w64, &b64, l2 as f64);
            let got = loss / seqs.len() as f64 + penalty;
            assert!((got - want).abs() < 1e-5 * want, "loss {got} vs {want}");
            let eps = 1e-6;
            let fd = |params: &[f64], which: usize| -> Vec<f64> {
                (0..params.len())
                    .map(|p| {
                        let mut plus = params.to_vec();
                        let mut minus = params.to_vec();
                        plus[p] += eps;
                        minus[p] -= eps;
                        let f = |v: &[f64]| match which {
                            0 => objective(&z, &labels, v, &b64, l2 as f64),
                            _ => objective(&z, &labels, &w64, v, l2 as f64),
                        };
                        (f(&plus) - f(&minus)) / (2.0 * eps)
                    })
                    .collect()
            };
            check_close("grad W", &gw, &fd(&w64, 0), Tol::F32).unwrap();
            check_close("grad b", &gb, &fd(&b64, 1), Tol::F32).unwrap();
        }
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut Rng::new(3));
        shuffle(&mut b, &mut Rng::new(3));
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        b.sort_unstable();
        assert_eq!(b, (0..50).collect::<Vec<_>>());
    }
}
