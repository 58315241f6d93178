//! A labelled classification set (GUE's `sequence,label` CSV), tokenized:
//! what fine-tuning trains on and evaluation scores, in the CLI and the
//! browser alike.

use crate::data::Record;
use crate::error::{Error, Result};
use crate::tokenize::BpeTokenizer;

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
    /// (keeping `[SEP]` last). Every record needs a class number label.
    pub fn from_records(
        records: Vec<Record>,
        tokenizer: &BpeTokenizer,
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
                    let sep = *ids.last().expect("non-empty");
                    ids.truncate(m.max(2) - 1);
                    ids.push(sep);
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

    /// Number of classes a classifier trained on this set has (the largest
    /// label + 1); an error when there is only one label: nothing to learn.
    pub fn training_classes(&self) -> Result<usize> {
        let first = self.labels[0];
        if self.labels.iter().all(|&l| l == first) {
            return Err(Error::Invalid(format!(
                "{}: every label is {first}: nothing to learn",
                self.origin
            )));
        }
        Ok(*self.labels.iter().max().expect("non-empty") as usize + 1)
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
