//! The model's part: for every ALT allele, its four windows (REF and ALT,
//! both strands) run twice through the encoder, batched across alleles:
//! once with the masked set replaced by the mask token and the MLM head on
//! the masked rows only (the per-row `lse − logit[id]` of the fused
//! cross-entropy op is −log softmax at the original id: no [T, V] logits
//! are read back), and once as they are, mean-pooled. A model with a
//! classification head adds the class probabilities of the forward REF and
//! ALT windows.

use super::tokens::{AlleleTokens, Tokens};
use crate::embed::{run_encoded, Batching, Embedding, Progress};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::ops::{self, PoolMode};
use crate::{Device, Tensor};

/// The scores of one ALT allele (see the module docs of [`crate::vep`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    pub llr: f64,
    pub llr_fwd: f64,
    pub llr_rev: f64,
    pub embedding_distance: f64,
    /// Class probabilities of the forward REF and ALT windows, when a
    /// classifier ran.
    pub p_ref: Option<Vec<f32>>,
    pub p_alt: Option<Vec<f32>>,
}

impl Scores {
    /// Every number, for finiteness checks.
    pub fn values(&self) -> Vec<f32> {
        let mut v = vec![
            self.llr as f32,
            self.llr_fwd as f32,
            self.llr_rev as f32,
            self.embedding_distance as f32,
        ];
        v.extend(self.p_ref.iter().chain(&self.p_alt).flatten());
        v
    }
}

/// The models that score.
pub struct Scorer<'a> {
    /// Its MLM head gives the log-likelihoods, its encoder the embeddings.
    pub model: &'a Model,
    /// The tokenizer's mask token.
    pub mask_id: u32,
    /// A model with a classification head (the same model, or one with a
    /// fine-tuned adapter folded in), for the class probabilities.
    pub classifier: Option<&'a Model>,
}

/// The windows [`score`] runs for `alleles` alleles: four, twice each, and
/// the two forward ones once more through a classifier.
pub fn runs(alleles: usize, classifier: bool) -> usize {
    alleles * if classifier { 10 } else { 8 }
}

/// Scores every allele, in order. `progress` hears windows run, of
/// [`runs`].
pub async fn score(
    dev: &Device,
    scorer: &Scorer<'_>,
    alleles: &[AlleleTokens],
    batching: Batching,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<Scores>> {
    let model = scorer.model;
    let Some(mlm) = &model.mlm else {
        return Err(Error::Invalid(
            "this model has no masked-language-model head (cls.predictions or lm_head weights): variant scores need it".into(),
        ));
    };
    let windows: Vec<&Tokens> = alleles.iter().flat_map(|a| a.all()).collect();
    let total = runs(alleles.len(), scorer.classifier.is_some());
    // Windows and tokens of the passes done.
    let mut offset = (0, 0);
    let mut report = |p: Progress, (windows, tokens): (usize, usize)| {
        progress(Progress {
            sequences: windows + p.sequences,
            total_sequences: total,
            tokens: tokens + p.tokens,
            ..p
        })
    };
    let window_tokens: usize = windows.iter().map(|w| w.ids.len()).sum();
    let last = model.encoder.config.num_hidden_layers;

    // Masked: the masked set's −log p(original id), [K] per window.
    let masked = run_encoded(
        dev,
        model,
        windows
            .iter()
            .map(|w| w.masked_ids(scorer.mask_id))
            .collect(),
        batching,
        last,
        false,
        &|i| offset.0 + i + 1,
        |x, batch| {
            let (b, t, h) = (x.dim(0), x.dim(1), x.dim(2));
            let members = || batch.members.iter().map(|&i| windows[i]);
            let k = members().map(|w| w.masked.len()).max().unwrap_or(1);
            // Padding entries read row 0 with label 0 and are never used.
            let mut rows = vec![0u32; b * k];
            let mut labels = vec![0u32; b * k];
            for (r, w) in members().enumerate() {
                for (j, &pos) in w.masked.iter().enumerate() {
                    rows[r * k + j] = (r * t + pos) as u32;
                    labels[r * k + j] = w.ids[pos];
                }
            }
            let states = ops::embedding(
                dev,
                &dev.tensor_u32(&[b * k], &rows)?,
                &x.reshape(&[b * t, h])?,
            )?;
            let logits = mlm.forward(dev, &states, &model.encoder.embeddings.word)?;
            let labels = dev.tensor_u32(&[b * k], &labels)?;
            ops::cross_entropy(dev, &logits, &labels, 1.0)?
                .loss
                .reshape(&[b, k])
        },
        |p| report(p, offset),
    )
    .await?;
    offset = (offset.0 + windows.len(), offset.1 + window_tokens);

    // As they are: the mean of the last hidden state over all tokens.
    let pooled = run_encoded(
        dev,
        model,
        windows.iter().map(|w| w.ids.clone()).collect(),
        batching,
        last,
        false,
        &|i| offset.0 + i + 1,
        |x, batch| mean(dev, x, batch.mask),
        |p| report(p, offset),
    )
    .await?;
    offset = (offset.0 + windows.len(), offset.1 + window_tokens);

    let probs = match scorer.classifier {
        None => None,
        Some(cls_model) => {
            let (Some(pooler), Some(classifier)) = (&cls_model.pooler, &cls_model.classifier)
            else {
                return Err(Error::Invalid(
                    "the classifying model has no classification head".into(),
                ));
            };
            let forward: Vec<Vec<u32>> = alleles
                .iter()
                .flat_map(|a| [a.ref_fwd.ids.clone(), a.alt_fwd.ids.clone()])
                .collect();
            let out = run_encoded(
                dev,
                cls_model,
                forward,
                batching,
                cls_model.encoder.config.num_hidden_layers,
                false,
                &|i| offset.0 + i + 1,
                |x, _| classifier.probabilities(dev, &pooler.forward(dev, x)?),
                |p| report(p, offset),
            )
            .await?;
            Some(out)
        }
    };

    Ok(alleles
        .iter()
        .enumerate()
        .map(|(a, tokens)| {
            let l = |j: usize| log_likelihood(&masked[4 * a + j], tokens.all()[j]);
            let d =
                |j: usize| 1.0 - cosine(&pooled[4 * a + j].values, &pooled[4 * a + j + 1].values);
            let llr_fwd = l(1) - l(0);
            let llr_rev = l(3) - l(2);
            let (p_ref, p_alt) = match &probs {
                Some(p) => (
                    Some(p[2 * a].values.clone()),
                    Some(p[2 * a + 1].values.clone()),
                ),
                None => (None, None),
            };
            Scores {
                llr: (llr_fwd + llr_rev) / 2.0,
                llr_fwd,
                llr_rev,
                embedding_distance: (d(0) + d(2)) / 2.0,
                p_ref,
                p_alt,
            }
        })
        .collect())
}

/// x [B, T, H] -> the mean over each sequence's tokens [B, H].
fn mean(dev: &Device, x: &Tensor, mask: &[u32]) -> Result<Tensor> {
    let m = dev.tensor_u32(&[x.dim(0), x.dim(1)], mask)?;
    ops::pool(dev, x, &m, PoolMode::Mean)
}

/// L(window): the sum over the masked set of log p(original id).
fn log_likelihood(losses: &Embedding, w: &Tokens) -> f64 {
    -losses.values[..w.masked.len()]
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
}

/// The cosine similarity of two vectors, in f64.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt())
}
