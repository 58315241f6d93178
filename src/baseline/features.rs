//! k-mer frequency features of DNA sequences, kept sparse.
//!
//! For each k of a set (e.g. {4, 5, 6}), every window of k consecutive bases
//! of the upper-cased sequence made only of `A C G T` is one k-mer, numbered
//! with 2 bits per base (A=0, C=1, G=2, T=3, first base most significant);
//! windows touching any other symbol (N, IUPAC codes, ...) are skipped. The
//! feature of a k-mer is its count divided by the number of windows counted
//! for that k, so the features of one k sum to 1 (all 0 when the sequence has
//! no valid window: shorter than k, or all N). The blocks of the ks are laid
//! side by side in the order given: k-mer `code` of the i-th k is feature
//! `Σ_{j<i} 4^k_j + code`.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Largest k accepted (4^8 = 65,536 features for that k).
pub const MAX_K: usize = 8;

/// Checks a k set: not empty, each k in `1..=MAX_K`, no repeats.
pub fn check_ks(ks: &[usize]) -> Result<()> {
    if ks.is_empty() {
        return Err(Error::Invalid("k-mer features: the k set is empty".into()));
    }
    for (i, &k) in ks.iter().enumerate() {
        if k == 0 || k > MAX_K {
            return Err(Error::Invalid(format!(
                "k-mer features: k = {k} is outside 1..={MAX_K} (ks {ks:?})"
            )));
        }
        if ks[..i].contains(&k) {
            return Err(Error::Invalid(format!(
                "k-mer features: k = {k} is repeated (ks {ks:?})"
            )));
        }
    }
    Ok(())
}

/// Number of features of a k set: `Σ 4^k` (5,376 for {4, 5, 6}).
pub fn feature_count(ks: &[usize]) -> usize {
    ks.iter().map(|&k| 1usize << (2 * k)).sum()
}

/// The 2-bit code of a base, `None` for anything but A, C, G, T (any case).
fn base_code(b: u8) -> Option<u32> {
    match b.to_ascii_uppercase() {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' => Some(3),
        _ => None,
    }
}

/// The nonzero k-mer frequencies of `seq` as `(feature, frequency)` pairs,
/// in increasing feature order. `ks` must pass [`check_ks`].
pub fn kmer_frequencies(seq: &str, ks: &[usize]) -> Vec<(u32, f32)> {
    let mut out = Vec::new();
    let mut codes = Vec::with_capacity(seq.len());
    let mut offset = 0u32;
    for &k in ks {
        let mask = (1u32 << (2 * k)) - 1;
        let (mut code, mut run) = (0u32, 0usize);
        codes.clear();
        for &b in seq.as_bytes() {
            match base_code(b) {
                Some(c) => {
                    code = ((code << 2) | c) & mask;
                    run += 1;
                    if run >= k {
                        codes.push(offset + code);
                    }
                }
                None => run = 0,
            }
        }
        if !codes.is_empty() {
            let scale = 1.0 / codes.len() as f32;
            codes.sort_unstable();
            let mut start = 0;
            while start < codes.len() {
                let end = start + codes[start..].partition_point(|&c| c == codes[start]);
                out.push((codes[start], (end - start) as f32 * scale));
                start = end;
            }
        }
        offset += mask + 1;
    }
    out
}

/// The sparse feature rows of many sequences (compressed rows).
pub struct SparseRows {
    offsets: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl SparseRows {
    /// The k-mer frequencies of every sequence, computed in parallel.
    pub fn kmers<S: AsRef<str> + Sync>(seqs: &[S], ks: &[usize]) -> Self {
        let rows: Vec<Vec<(u32, f32)>> = seqs
            .par_iter()
            .map(|s| kmer_frequencies(s.as_ref(), ks))
            .collect();
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0);
        let mut entries = Vec::with_capacity(rows.iter().map(Vec::len).sum());
        for row in rows {
            entries.extend(row);
            offsets.push(entries.len());
        }
        Self { offsets, entries }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nonzero `(feature, value)` pairs of row `i`.
    pub fn row(&self, i: usize) -> &[(u32, f32)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// Per-feature mean and inverse standard deviation (population, as
/// scikit-learn's `StandardScaler`) over a training set; a feature constant
/// over it (e.g. never seen) gets inverse deviation 1. The identity (mean 0,
/// scale 1) when standardisation is off.
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
}

impl Standardizer {
    /// No standardisation.
    pub fn identity(features: usize) -> Self {
        Self {
            mean: vec![0.0; features],
            inv_std: vec![1.0; features],
        }
    }

    /// Mean and deviation of each feature over the rows (zeros included).
    pub fn fit(rows: &SparseRows, features: usize) -> Self {
        let mut sum = vec![0f64; features];
        let mut sum_sq = vec![0f64; features];
        for i in 0..rows.len() {
            for &(j, x) in rows.row(i) {
                sum[j as usize] += x as f64;
                sum_sq[j as usize] += x as f64 * x as f64;
            }
        }
        let n = rows.len().max(1) as f64;
        let mut mean = Vec::with_capacity(features);
        let mut inv_std = Vec::with_capacity(features);
        for (s, s2) in sum.into_iter().zip(sum_sq) {
            let m = s / n;
            let var = (s2 / n - m * m).max(0.0);
            // Relative threshold: a constant feature leaves rounding noise.
            let constant = var <= 1e-12 * (s2 / n).max(f64::MIN_POSITIVE);
            mean.push(m as f32);
            inv_std.push(if constant {
                1.0
            } else {
                (1.0 / var.sqrt()) as f32
            });
        }
        Self { mean, inv_std }
    }
}
