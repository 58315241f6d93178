//! Sequence classification (BertForSequenceClassification, as GUE uses):
//! `pooled = tanh(x[CLS] Wp^T + bp)` (`bert.pooler.dense`), then
//! `logits = pooled Wc^T + bc` (`classifier`). Dropout is training-only.
//! EsmForSequenceClassification's head is the same math under other names
//! (`classifier.dense`, then `classifier.out_proj`), loaded into the same
//! two parts.

use super::config::Config;
use super::encoder::Family;
use super::io::Weights;
use super::layers::Linear;
use crate::error::{Error, Result};
use crate::ops::{self, Epilogue};
use crate::{Device, Tensor};

/// Where a family's checkpoints keep the classification head: the pooler's
/// and the classifier's linear layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadNames {
    pub pooler: &'static str,
    pub classifier: &'static str,
}

impl HeadNames {
    /// BertForSequenceClassification's (DNABERT-2, DNABERT).
    pub const BERT: Self = Self {
        pooler: "bert.pooler.dense",
        classifier: "classifier",
    };
    /// EsmForSequenceClassification's (the Nucleotide Transformer).
    pub const ESM: Self = Self {
        pooler: "classifier.dense",
        classifier: "classifier.out_proj",
    };
    pub const ALL: [Self; 2] = [Self::BERT, Self::ESM];

    pub fn of(family: Family) -> Self {
        match family {
            Family::Dnabert2 | Family::Bert => Self::BERT,
            Family::Esm => Self::ESM,
        }
    }

    /// The class count of the first classifier weight `shape_of` finds.
    pub fn classes_in(shape_of: impl Fn(&str) -> Option<Vec<usize>>) -> Option<usize> {
        Self::ALL
            .iter()
            .find_map(|n| shape_of(&n.classifier_weight()).and_then(|s| s.first().copied()))
    }

    /// The classifier's weight, `[classes, H]`.
    pub fn classifier_weight(&self) -> String {
        format!("{}.weight", self.classifier)
    }

    /// The shape of head tensor `name` under any family's names: the
    /// pooler's [H, H] and [H], the classifier's [classes, H] and [classes]
    /// (none while the class count is unknown); none for other names.
    pub fn shape_in_any(name: &str, hidden: usize, classes: Option<usize>) -> Option<Vec<usize>> {
        let shapes = [
            Some(vec![hidden, hidden]),
            Some(vec![hidden]),
            classes.map(|c| vec![c, hidden]),
            classes.map(|c| vec![c]),
        ];
        Self::ALL
            .iter()
            .flat_map(|n| n.tensors().into_iter().zip(shapes.clone()))
            .find(|(t, _)| t == name)
            .and_then(|(_, shape)| shape)
    }

    /// The four tensors: pooler weight and bias, classifier weight and bias.
    pub fn tensors(&self) -> [String; 4] {
        let (p, c) = (self.pooler, self.classifier);
        [
            format!("{p}.weight"),
            format!("{p}.bias"),
            format!("{c}.weight"),
            format!("{c}.bias"),
        ]
    }
}

/// `bert.pooler.dense`: tanh of a linear map of the [CLS] row.
#[derive(Clone)]
pub struct Pooler {
    pub dense: Linear,
}

impl Pooler {
    /// The pooler stored under `prefix` ([`HeadNames::pooler`]).
    pub fn load_from(dev: &Device, cfg: &Config, w: &Weights, prefix: &str) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            dense: Linear::load(dev, w, prefix, h, h, true)?,
        })
    }

    /// x: [B, T, H] -> [B, H].
    pub fn forward(&self, dev: &Device, x: &Tensor) -> Result<Tensor> {
        let cls = cls_rows(dev, x)?;
        ops::tanh(dev, &self.dense.forward(dev, &cls, Epilogue::None)?)
    }
}

/// Row 0 ([CLS]) of each sequence: x [B, T, H] -> [B, H], gathered as rows
/// of the [B*T, H] table.
pub fn cls_rows(dev: &Device, x: &Tensor) -> Result<Tensor> {
    let (b, t, h) = (x.dim(0), x.dim(1), x.dim(2));
    let rows: Vec<u32> = (0..b).map(|r| (r * t) as u32).collect();
    ops::embedding(dev, &dev.tensor_u32(&[b], &rows)?, &x.reshape(&[b * t, h])?)
}

/// The `classifier` linear layer on the pooler's output.
#[derive(Clone)]
pub struct Classifier {
    pub linear: Linear,
    pub num_labels: usize,
}

impl Classifier {
    /// The classifier stored under `prefix` ([`HeadNames::classifier`]); the
    /// class count comes from the config when it names one, else from the
    /// weight's shape.
    pub fn load_from(dev: &Device, cfg: &Config, w: &Weights, prefix: &str) -> Result<Self> {
        let weight = format!("{prefix}.weight");
        let num_labels = match cfg.labels() {
            Some(c) => c,
            None => w
                .shape_of(&weight)
                .map(|s| s[0])
                .ok_or_else(|| Error::Invalid(format!("{}: no {weight}", w.origin())))?,
        };
        Ok(Self {
            linear: Linear::load(dev, w, prefix, num_labels, cfg.hidden_size, true)?,
            num_labels,
        })
    }

    /// pooled [B, H] -> class probabilities [B, C].
    pub fn probabilities(&self, dev: &Device, pooled: &Tensor) -> Result<Tensor> {
        ops::softmax(dev, &self.linear.forward(dev, pooled, Epilogue::None)?)
    }
}
