//! A labelled classification set (GUE's `sequence,label` CSV), tokenized:
//! what fine-tuning trains on and evaluation scores, in the CLI and the
//! browser alike.

use crate::data::Record;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tokenize::Tokenizer;

/// The most classes a fine-tuned classifier may have.
pub const MAX_CLASSES: usize = 1000;

pub struct LabelledSet {
    /// Where the records came from, for messages.
    pub origin: String,
    pub ids: Vec<String>,
    /// Token ids, `[CLS]` and `[SEP]` included.
    pub tokens: Vec<Vec<u32>>,
    pub labels: Vec<u32>,
}

impl LabelledSet {
    /// Tokenizes `records`, cutting sequences longer than `max_len` tokens
    /// (keeping `[SEP]` last where the tokenizer ends with one). Every
    /// record needs a class number label.
    pub fn from_records(
        records: Vec<Record>,
        tokenizer: &Tokenizer,
        max_len: Option<usize>,
        origin: &str,
    ) -> Result<Self> {
        if records.is_empty() {
            return Err(Error::Invalid(format!("{origin}: no sequences")));
        }
        let mut set = Self {
            origin: origin.to_string(),
            ids: Vec::with_capacity(records.len()),
            tokens: Vec::with_capacity(records.len()),
            labels: Vec::with_capacity(records.len()),
        };
        for r in records {
            let label = r.label.as_deref().unwrap_or("").trim();
            let Ok(l) = label.parse::<u32>() else {
                return Err(Error::Invalid(format!(
                    "{origin}:{}: label `{label}` is not a class number (0, 1, ...); a labelled file is a CSV with columns sequence,label",
                    r.line
                )));
            };
            let mut ids = tokenizer.encode(&r.seq)?.ids;
            if let Some(m) = max_len {
                if ids.len() > m {
                    if tokenizer.ends_with_separator() {
                        let sep = *ids.last().expect("non-empty");
                        ids.truncate(m.max(2) - 1);
                        ids.push(sep);
                    } else {
                        ids.truncate(m.max(1));
                    }
                }
            }
            set.ids.push(r.id);
            set.tokens.push(ids);
            set.labels.push(l);
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes a classifier trained on this set has: labels run
    /// 0..K-1, each present, K at most [`MAX_CLASSES`]. A stray label (a
    /// typo, a column mix-up) is an error naming its record, not a head of
    /// a million classes; so is a single label (nothing to learn).
    pub fn training_classes(&self) -> Result<usize> {
        let first = self.labels[0];
        if self.labels.iter().all(|&l| l == first) {
            return Err(Error::Invalid(format!(
                "{}: every label is {first}: nothing to learn",
                self.origin
            )));
        }
        let (at, &max) = self
            .labels
            .iter()
            .enumerate()
            .max_by_key(|(_, &l)| l)
            .expect("non-empty");
        if max as usize >= MAX_CLASSES {
            return Err(Error::Invalid(format!(
                "{}: record `{}` has label {max}; class numbers run from 0 to at most {} (a classifier of up to {MAX_CLASSES} classes)",
                self.origin,
                self.ids[at],
                MAX_CLASSES - 1
            )));
        }
        let classes = max as usize + 1;
        let mut seen = vec![false; classes];
        for &l in &self.labels {
            seen[l as usize] = true;
        }
        if let Some(absent) = seen.iter().position(|s| !s) {
            return Err(Error::Invalid(format!(
                "{}: no record has label {absent}, but record `{}` has label {max}: class numbers must run 0, 1, ... without gaps (a stray label?)",
                self.origin, self.ids[at]
            )));
        }
        Ok(classes)
    }

    /// An error naming the first label outside `0..classes`.
    pub fn check_classes(&self, classes: usize) -> Result<()> {
        match self.labels.iter().position(|&l| l as usize >= classes) {
            None => Ok(()),
            Some(i) => Err(Error::Invalid(format!(
                "{}: record `{}` has label {}, but the classifier has classes 0..{}",
                self.origin,
                self.ids[i],
                self.labels[i],
                classes - 1
            ))),
        }
    }

    /// The longest sequence, in tokens.
    pub fn max_tokens(&self) -> usize {
        self.tokens.iter().map(Vec::len).max().unwrap_or(2)
    }

    /// Keeps the first `n` records.
    pub fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
        self.tokens.truncate(n);
        self.labels.truncate(n);
    }
}

/// The order fine-tuning visits rows in: batches of `batch_size` row
/// indices, epoch after epoch, the permutation reshuffled (seeded) at the
/// start of each epoch; an epoch's last batch may be short.
pub struct EpochBatches {
    order: Vec<usize>,
    next: usize,
    batch_size: usize,
    rng: Rng,
}

impl EpochBatches {
    pub fn new(rows: usize, batch_size: usize, seed: u64) -> Self {
        Self {
            order: (0..rows).collect(),
            // Past the end: the first batch starts an epoch.
            next: rows,
            batch_size: batch_size.max(1),
            rng: Rng::new(seed ^ 0xF1AE),
        }
    }

    /// The next batch's row indices.
    pub fn next_batch(&mut self) -> &[usize] {
        if self.next >= self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.next = 0;
        }
        let start = self.next;
        self.next = (start + self.batch_size).min(self.order.len());
        &self.order[start..self.next]
    }
}

#[cfg(test)]
mod tests {
    use super::{EpochBatches, LabelledSet, MAX_CLASSES};

    fn set(labels: &[u32]) -> LabelledSet {
        LabelledSet {
            origin: "train.csv".into(),
            ids: (0..labels.len()).map(|i| format!("row{i}")).collect(),
            tokens: vec![vec![1, 2]; labels.len()],
            labels: labels.to_vec(),
        }
    }

    #[test]
    fn classes_are_the_labels_0_to_k_without_gaps_or_strays() {
        assert_eq!(set(&[0, 1, 1, 0]).training_classes().unwrap(), 2);
        assert_eq!(set(&[2, 0, 1]).training_classes().unwrap(), 3);
        let one = set(&[1, 1]).training_classes().unwrap_err().to_string();
        assert!(one.contains("every label is 1"), "{one}");
        // A stray label: named with its record, no head of 100,001 classes.
        let stray = set(&[0, 1, 100_000, 1])
            .training_classes()
            .unwrap_err()
            .to_string();
        assert!(stray.contains("`row2` has label 100000"), "{stray}");
        assert!(
            stray.contains(&format!("at most {}", MAX_CLASSES - 1)),
            "{stray}"
        );
        let huge = set(&[0, 4_000_000_000])
            .training_classes()
            .unwrap_err()
            .to_string();
        assert!(huge.contains("label 4000000000"), "{huge}");
        let gap = set(&[0, 1, 5]).training_classes().unwrap_err().to_string();
        assert!(
            gap.contains("no record has label 2") && gap.contains("`row2` has label 5"),
            "{gap}"
        );
    }

    #[test]
    fn every_row_once_per_epoch_in_a_fresh_order() {
        let mut b = EpochBatches::new(10, 4, 7);
        let mut epochs = Vec::new();
        for _ in 0..3 {
            let mut epoch = Vec::new();
            for want in [4, 4, 2] {
                let batch = b.next_batch();
                assert_eq!(batch.len(), want);
                epoch.extend_from_slice(batch);
            }
            let mut sorted = epoch.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            epochs.push(epoch);
        }
        assert_ne!(epochs[0], epochs[1]);
        assert_ne!(epochs[1], epochs[2]);
        // Seeded: the same seed gives the same order.
        let mut again = EpochBatches::new(10, 4, 7);
        assert_eq!(again.next_batch(), &epochs[0][..4]);
    }
}
