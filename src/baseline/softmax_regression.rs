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
    let (mut eff_w, mut eff_b) = (vec![0f32; features * c], vec![0f32; c]);
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
            effective(&w, &b, std, &mut eff_w, &mut eff_b);
            // Per row: probabilities minus one-hot (the logits' gradient), loss.
            let scored: Vec<(Vec<f32>, f32)> = batch
                .par_iter()
                .map(|&i| {
                    let mut g = eff_b.clone();
                    add_row(&mut g, rows.row(i), &eff_w);
                    let label_logit = g[labels[i]];
                    let loss = softmax(&mut g) - label_logit;
                    g[labels[i]] -= 1.0;
                    (g, loss)
                })
                .collect();
            grad_w.fill(0.0);
            grad_b.fill(0.0);
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
                    gw[k] = inv * (gw[k] - mean * grad_b[k]) * scale + cfg.l2 * wj[k];
                }
            }
            for gb in grad_b.iter_mut() {
                *gb *= scale;
            }
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
    effective(&w, &b, std, &mut eff_w, &mut eff_b);
    Linear {
        classes: c,
        weights: eff_w,
        bias: eff_b,
        epochs,
    }
}

/// Fisher-Yates with the crate's seeded generator.
fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}
