//! Classification metrics on a confusion matrix: Matthews correlation
//! coefficient, macro F1 and accuracy, defined exactly as scikit-learn's
//! `matthews_corrcoef`, `f1_score(average="macro", zero_division=0)` and
//! `accuracy_score` (the metrics GUE results are reported in).
//!
//! Degenerate inputs never give NaN: an empty confusion scores 0 on every
//! metric, and MCC is 0 whenever its denominator is (one class predicted for
//! everything, or one class in the truth).

use crate::error::{Error, Result};
use serde::Serialize;

/// The predicted class of a row of scores: the index of the largest value
/// (the first of equals).
pub fn argmax(scores: &[f32]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold(0, |best, (k, &v)| if v > scores[best] { k } else { best })
}

/// Counts of (true class, predicted class) pairs over `classes` classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    classes: usize,
    /// Row-major `[true][pred]`, `classes * classes` entries.
    counts: Vec<u64>,
}

impl Confusion {
    /// An empty confusion matrix over classes `0..classes`.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts one sample; a label outside `0..classes` is an error.
    pub fn add(&mut self, truth: usize, pred: usize) -> Result<()> {
        if truth >= self.classes || pred >= self.classes {
            return Err(Error::Invalid(format!(
                "confusion matrix: label pair (true {truth}, predicted {pred}) outside 0..{}",
                self.classes
            )));
        }
        self.counts[truth * self.classes + pred] += 1;
        Ok(())
    }

    /// The confusion of paired labels; the slices must have the same length.
    pub fn from_pairs(classes: usize, truth: &[usize], pred: &[usize]) -> Result<Self> {
        if truth.len() != pred.len() {
            return Err(Error::Invalid(format!(
                "confusion matrix: {} true labels but {} predictions",
                truth.len(),
                pred.len()
            )));
        }
        let mut c = Self::new(classes);
        for (&t, &p) in truth.iter().zip(pred) {
            c.add(t, p)?;
        }
        Ok(c)
    }

    /// Number of classes the matrix was made for.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of true class `t` predicted as `p`. Panics when `t` or `p` is
    /// not below [`Confusion::classes`], like slice indexing.
    pub fn counts(&self, t: usize, p: usize) -> u64 {
        assert!(
            t < self.classes && p < self.classes,
            "confusion counts({t}, {p}) outside 0..{}",
            self.classes
        );
        self.counts[t * self.classes + p]
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Samples per true class (row sums).
    fn true_sums(&self) -> Vec<u64> {
        (0..self.classes)
            .map(|t| (0..self.classes).map(|p| self.counts(t, p)).sum())
            .collect()
    }

    /// Samples per predicted class (column sums).
    fn pred_sums(&self) -> Vec<u64> {
        (0..self.classes)
            .map(|p| (0..self.classes).map(|t| self.counts(t, p)).sum())
            .collect()
    }

    /// Correctly classified samples (the trace).
    fn correct(&self) -> u64 {
        (0..self.classes).map(|k| self.counts(k, k)).sum()
    }
}

/// Matthews correlation coefficient, Gorodkin's multi-class R_K as
/// scikit-learn computes it (equal to the usual binary MCC for 2 classes):
/// with `t_k`, `p_k` the true and predicted counts of class k, `c` the
/// trace and `s` the total,
/// `(c s - Σ t_k p_k) / sqrt((s² - Σ p_k²) (s² - Σ t_k²))`, and 0 when the
/// denominator is 0. In [-1, 1].
pub fn mcc(c: &Confusion) -> f64 {
    let t = c.true_sums();
    let p = c.pred_sums();
    let s = c.total() as f64;
    let dot =
        |a: &[u64], b: &[u64]| -> f64 { a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum() };
    let cov_tp = c.correct() as f64 * s - dot(&t, &p);
    let cov_pp = s * s - dot(&p, &p);
    let cov_tt = s * s - dot(&t, &t);
    let denom = cov_pp * cov_tt;
    if denom == 0.0 {
        0.0
    } else {
        cov_tp / denom.sqrt()
    }
}

/// Macro-averaged F1 as scikit-learn's `f1_score(average="macro",
/// zero_division=0)` without `labels`: the average, over the classes that
/// occur in the truth or in the predictions (classes of the matrix that
/// occur in neither are left out, as scikit-learn never sees them), of
/// `2 tp / (2 tp + fp + fn)`; a class never predicted, or never true, scores 0.
/// 0 for an empty confusion.
pub fn f1_macro(c: &Confusion) -> f64 {
    let t = c.true_sums();
    let p = c.pred_sums();
    let mut sum = 0.0;
    let mut present = 0usize;
    for k in 0..c.classes {
        if t[k] == 0 && p[k] == 0 {
            continue;
        }
        present += 1;
        let tp = c.counts(k, k) as f64;
        // 2 tp + fp + fn = (tp + fp) + (tp + fn) = p_k + t_k, never 0 here.
        sum += 2.0 * tp / (p[k] + t[k]) as f64;
    }
    if present == 0 {
        0.0
    } else {
        sum / present as f64
    }
}

/// Fraction of samples classified correctly; 0 for an empty confusion.
pub fn accuracy(c: &Confusion) -> f64 {
    let total = c.total();
    if total == 0 {
        0.0
    } else {
        c.correct() as f64 / total as f64
    }
}

/// The metrics GUE results are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    pub mcc: f64,
    pub f1_macro: f64,
    pub accuracy: f64,
}

impl Metrics {
    /// All metrics of one confusion matrix.
    pub fn of(c: &Confusion) -> Self {
        Self {
            mcc: mcc(c),
            f1_macro: f1_macro(c),
            accuracy: accuracy(c),
        }
    }
}

/// Predictions scored against labels that come a record at a time (a GUE
/// `test.csv` given to `classify`): each record's label and predicted
/// class, kept while every label so far is a class number.
#[derive(Default)]
pub struct RunningScores {
    classes: usize,
    truth: Vec<usize>,
    predicted: Vec<usize>,
    /// Whether every label so far is a class number.
    numbers: bool,
    seen: usize,
}

impl RunningScores {
    /// One record's label and class probabilities.
    pub fn add(&mut self, label: &str, probs: &[f32]) {
        self.classes = probs.len();
        if self.seen == 0 {
            self.numbers = true;
        }
        self.seen += 1;
        match label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&c| c < probs.len())
        {
            Some(c) if self.numbers => {
                self.truth.push(c);
                self.predicted.push(argmax(probs));
            }
            _ => self.numbers = false,
        }
    }

    /// Classes of the last probabilities seen.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The records scored and their metrics; `None` when a label was not a
    /// class number below [`Self::classes`].
    pub fn finish(self) -> Result<Option<(usize, Metrics)>> {
        if !self.numbers {
            return Ok(None);
        }
        let c = Confusion::from_pairs(self.classes, &self.truth, &self.predicted)?;
        Ok(Some((self.truth.len(), Metrics::of(&c))))
    }
}
