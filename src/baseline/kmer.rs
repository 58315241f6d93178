//! The k-mer baseline classifier: softmax regression on k-mer frequencies
//! (see [`super::features`]), standardised with the training set's
//! statistics, L2 strength picked on a dev set when one is given.
//!
//! With a dev set, one model is trained per `l2_grid` value (in parallel)
//! and the one with the best dev MCC is kept (ties go to the earlier grid
//! value); without one, `l2` is used. The model is not retrained on
//! train + dev. Everything is deterministic for a given `seed`.

use super::features::{check_ks, feature_count, kmer_frequencies, SparseRows, Standardizer};
use super::softmax_regression::{self, Linear, TrainConfig};
use crate::error::{Error, Result};
use crate::metrics::{Confusion, Metrics};
use rayon::prelude::*;

/// Settings of [`KmerBaseline::train`].
#[derive(Debug, Clone)]
pub struct KmerOptions {
    /// k-mer lengths, each in `1..=8`, distinct. Default {4, 5, 6}.
    pub ks: Vec<usize>,
    /// Standardise features with the training set's mean and deviation.
    pub standardize: bool,
    /// L2 strength when no dev set is given (objective: mean cross-entropy
    /// plus `l2 / 2 * ||W||²`).
    pub l2: f32,
    /// L2 strengths tried when a dev set is given, strongest first (ties
    /// in dev MCC go to the earlier value).
    pub l2_grid: Vec<f32>,
    /// Most passes over the training set.
    pub max_epochs: usize,
    pub batch_size: usize,
    /// Adam's initial step size, decayed linearly to 0 over `max_epochs`.
    pub learning_rate: f32,
    /// Seeds the shuffles.
    pub seed: u64,
    /// Training stops once an epoch lowers the objective by less than this
    /// fraction, `patience` epochs in a row.
    pub tolerance: f32,
    pub patience: usize,
}

impl Default for KmerOptions {
    /// Values that did well on GUE's prom_core_all and tf/0 dev sets: the
    /// best L2 strengths (standardised features, mean loss) were 0.3 to 3.
    fn default() -> Self {
        Self {
            ks: vec![4, 5, 6],
            standardize: true,
            l2: 0.3,
            l2_grid: vec![3.0, 1.0, 0.3, 0.1, 0.03, 0.01],
            max_epochs: 20,
            batch_size: 256,
            learning_rate: 0.01,
            seed: 0,
            tolerance: 1e-4,
            patience: 3,
        }
    }
}

/// A trained k-mer baseline.
#[derive(Debug, Clone)]
pub struct KmerBaseline {
    ks: Vec<usize>,
    model: Linear,
    l2: f32,
    dev: Option<Metrics>,
}

impl KmerBaseline {
    /// Trains on `(sequence, label)` pairs with labels in `0..classes`;
    /// `dev`, when given, picks the L2 strength from `opts.l2_grid`.
    pub fn train(
        train: &[(String, usize)],
        dev: Option<&[(String, usize)]>,
        classes: usize,
        opts: &KmerOptions,
    ) -> Result<Self> {
        check_options(opts, classes)?;
        if train.is_empty() {
            return Err(Error::Invalid("k-mer baseline: empty training set".into()));
        }
        let labels = check_labels(train, classes, "training")?;
        if let Some(dev) = dev {
            check_labels(dev, classes, "dev")?;
        }
        let seqs: Vec<&str> = train.iter().map(|(s, _)| s.as_str()).collect();
        let rows = SparseRows::kmers(&seqs, &opts.ks);
        let features = feature_count(&opts.ks);
        let std = if opts.standardize {
            Standardizer::fit(&rows, features)
        } else {
            Standardizer::identity(features)
        };
        let config = |l2: f32| TrainConfig {
            classes,
            l2,
            max_epochs: opts.max_epochs,
            batch_size: opts.batch_size,
            learning_rate: opts.learning_rate,
            seed: opts.seed,
            tolerance: opts.tolerance,
            patience: opts.patience,
        };
        let fit = |l2: f32| Self {
            ks: opts.ks.clone(),
            model: softmax_regression::train(&rows, &labels, &std, &config(l2)),
            l2,
            dev: None,
        };
        let Some(dev) = dev.filter(|d| !d.is_empty()) else {
            return Ok(fit(opts.l2));
        };
        let mut candidates: Vec<Self> = opts
            .l2_grid
            .par_iter()
            .map(|&l2| {
                let mut m = fit(l2);
                m.dev = Some(m.evaluate(dev)?);
                Ok(m)
            })
            .collect::<Result<_>>()?;
        let mut best = 0;
        for (i, m) in candidates.iter().enumerate() {
            if m.dev.unwrap().mcc > candidates[best].dev.unwrap().mcc {
                best = i;
            }
        }
        Ok(candidates.swap_remove(best))
    }

    /// The most probable class (the first on ties) and every class's probability.
    pub fn predict(&self, seq: &str) -> (usize, Vec<f32>) {
        let probs = self.model.probs(&kmer_frequencies(seq, &self.ks));
        let mut best = 0;
        for (k, &p) in probs.iter().enumerate() {
            if p > probs[best] {
                best = k;
            }
        }
        (best, probs)
    }

    /// The confusion of the model's predictions on labelled sequences.
    pub fn confusion(&self, data: &[(String, usize)]) -> Result<Confusion> {
        let truth = check_labels(data, self.model.classes, "evaluation")?;
        let pred: Vec<usize> = data.par_iter().map(|(s, _)| self.predict(s).0).collect();
        Confusion::from_pairs(self.model.classes, &truth, &pred)
    }

    /// MCC, macro F1 and accuracy on labelled sequences.
    pub fn evaluate(&self, data: &[(String, usize)]) -> Result<Metrics> {
        Ok(Metrics::of(&self.confusion(data)?))
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.model.classes
    }

    /// The L2 strength the kept model was trained with.
    pub fn l2(&self) -> f32 {
        self.l2
    }

    /// The kept model's dev metrics (`None` when trained without a dev set).
    pub fn dev_metrics(&self) -> Option<Metrics> {
        self.dev
    }

    /// Epochs the kept model trained for.
    pub fn epochs(&self) -> usize {
        self.model.epochs
    }
}

fn check_options(opts: &KmerOptions, classes: usize) -> Result<()> {
    check_ks(&opts.ks)?;
    let bad = |msg: String| Err(Error::Invalid(format!("k-mer baseline: {msg}")));
    if classes < 2 {
        return bad(format!("needs at least 2 classes, got {classes}"));
    }
    if opts.batch_size == 0 || opts.max_epochs == 0 || opts.patience == 0 {
        return bad(format!(
            "batch_size ({}), max_epochs ({}) and patience ({}) must be positive",
            opts.batch_size, opts.max_epochs, opts.patience
        ));
    }
    if !(opts.learning_rate > 0.0 && opts.learning_rate.is_finite()) {
        return bad(format!(
            "learning_rate {} must be positive",
            opts.learning_rate
        ));
    }
    if !(opts.tolerance >= 0.0 && opts.tolerance.is_finite()) {
        return bad(format!("tolerance {} must be >= 0", opts.tolerance));
    }
    if opts.l2_grid.is_empty() {
        return bad("l2_grid is empty".into());
    }
    for &l2 in opts.l2_grid.iter().chain([&opts.l2]) {
        if !(l2 >= 0.0 && l2.is_finite()) {
            return bad(format!("L2 strength {l2} must be >= 0"));
        }
    }
    Ok(())
}

/// The labels of a data set, each checked to be below `classes`.
fn check_labels(data: &[(String, usize)], classes: usize, what: &str) -> Result<Vec<usize>> {
    data.iter()
        .enumerate()
        .map(|(i, &(_, label))| {
            if label < classes {
                Ok(label)
            } else {
                Err(Error::Invalid(format!(
                    "k-mer baseline: {what} sequence {i} has label {label}, outside 0..{classes}"
                )))
            }
        })
        .collect()
}
