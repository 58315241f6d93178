//! Embedding sequences: tokenize, pack into batches under a token budget
//! (longest first, so padding stays small), run the encoder, pool, and
//! return results in input order.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::ops::{self, PoolMode};
use crate::tokenize::BpeTokenizer;
use crate::{Device, Tensor};

/// How a sequence's `[T, H]` states become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Average of all T rows, [CLS] and [SEP] included (the model card's).
    Mean,
    /// Average without [CLS] and [SEP].
    MeanNoSpecial,
    /// Row 0 ([CLS]).
    Cls,
    /// Element-wise maximum over all T rows.
    Max,
    /// No pooling: every row (`[T, H]`).
    None,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "mean" => Self::Mean,
            "mean-nospecial" => Self::MeanNoSpecial,
            "cls" => Self::Cls,
            "max" => Self::Max,
            "none" => Self::None,
            "pooler" => {
                return Err(Error::Invalid(
                    "--pooling pooler needs a model with a pooler (bert.pooler.dense); classification heads are not loaded yet".into(),
                ))
            }
            _ => return Err(Error::Invalid(format!("unknown pooling `{s}`: expected mean, mean-nospecial, cls, max or none"))),
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct EmbedOptions {
    pub pooling: Pooling,
    /// Hugging Face `hidden_states` index: 0 = embedding output, L = last
    /// layer; negative counts from the end (-1 = L). `None` = last.
    pub layer: Option<isize>,
    /// Most sequences in one batch.
    pub batch_size: usize,
    /// Most padded tokens (B x T) in one batch; a longer sequence runs alone.
    pub max_tokens: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            layer: None,
            batch_size: 32,
            max_tokens: 16384,
        }
    }
}

/// One sequence's result.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Pooled `[H]`, or `[T, H]` with `Pooling::None`.
    pub values: Vec<f32>,
    /// The token ids, `[CLS]` and `[SEP]` included.
    pub input_ids: Vec<u32>,
}

/// Progress after each batch: sequences and tokens done, of the totals.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub sequences: usize,
    pub total_sequences: usize,
    pub tokens: usize,
    pub total_tokens: usize,
}

/// Resolves `layer` against `layers` encoder layers to 0..=layers.
pub fn resolve_layer(layer: Option<isize>, layers: usize) -> Result<usize> {
    let l = layer.unwrap_or(layers as isize);
    let i = if l < 0 { layers as isize + 1 + l } else { l };
    if i < 0 || i > layers as isize {
        return Err(Error::Invalid(format!(
            "--layer {l}: this model has hidden states 0..={layers} (0 = embeddings, {layers} = last; negative counts from the end)"
        )));
    }
    Ok(i as usize)
}

/// Groups sequence indices (sorted longest first) into batches of at most
/// `batch_size` sequences and `max_tokens` padded tokens.
pub fn plan_batches(lengths: &[usize], batch_size: usize, max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    for i in order {
        // Longest first: the batch's padded length is its first sequence's.
        let t = cur.first().map_or(lengths[i], |&f| lengths[f]);
        if !cur.is_empty()
            && (cur.len() + 1 > batch_size.max(1) || (cur.len() + 1) * t > max_tokens)
        {
            batches.push(std::mem::take(&mut cur));
        }
        cur.push(i);
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

/// Embeds `sequences` (already validated and upper-cased) with `model`.
pub async fn embed(
    dev: &Device,
    model: &Model,
    tokenizer: &BpeTokenizer,
    sequences: &[&str],
    opts: &EmbedOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<Embedding>> {
    let cfg = &model.encoder.config;
    let layer = resolve_layer(opts.layer, cfg.num_hidden_layers)?;
    let h = cfg.hidden_size;
    let encoded: Vec<Vec<u32>> = sequences
        .iter()
        .map(|s| tokenizer.encode(s).map(|e| e.ids))
        .collect::<Result<_>>()?;
    let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
    let total_tokens = lengths.iter().sum();
    let mut out: Vec<Option<Embedding>> = vec![None; sequences.len()];
    let mut done = Progress {
        sequences: 0,
        total_sequences: sequences.len(),
        tokens: 0,
        total_tokens,
    };
    for batch in plan_batches(&lengths, opts.batch_size, opts.max_tokens) {
        let (b, t) = (batch.len(), lengths[batch[0]]);
        let mut ids = vec![3u32; b * t]; // [PAD]
        let mut mask = vec![0u32; b * t];
        for (r, &i) in batch.iter().enumerate() {
            ids[r * t..r * t + lengths[i]].copy_from_slice(&encoded[i]);
            mask[r * t..r * t + lengths[i]].fill(1);
        }
        let ids_t = dev.tensor_u32(&[b, t], &ids)?;
        let mask_t = dev.tensor_u32(&[b, t], &mask)?;
        let states = model
            .encoder
            .forward(dev, &ids_t, &mask_t, |l| l == layer)?;
        let x = &states
            .iter()
            .find(|(l, _)| *l == layer)
            .expect("the requested layer is kept")
            .1;
        let rows = pool(dev, x, &mask, &lengths, &batch, t, opts.pooling).await?;
        for (r, &i) in batch.iter().enumerate() {
            let values = match opts.pooling {
                Pooling::None => rows[r * t * h..(r * t + lengths[i]) * h].to_vec(),
                _ => rows[r * h..(r + 1) * h].to_vec(),
            };
            out[i] = Some(Embedding {
                values,
                input_ids: encoded[i].clone(),
            });
            done.tokens += lengths[i];
        }
        done.sequences += b;
        progress(done);
    }
    Ok(out
        .into_iter()
        .map(|e| e.expect("every sequence is in a batch"))
        .collect())
}

/// Pools `x` [B, T, H] and reads the result back: [B, H] (or [B, T, H]).
async fn pool(
    dev: &Device,
    x: &Tensor,
    mask: &[u32],
    lengths: &[usize],
    batch: &[usize],
    t: usize,
    pooling: Pooling,
) -> Result<Vec<f32>> {
    let b = batch.len();
    let pooled = match pooling {
        Pooling::None => x.clone(),
        Pooling::Mean => ops::pool(dev, x, &dev.tensor_u32(&[b, t], mask)?, PoolMode::Mean)?,
        Pooling::Max => ops::pool(dev, x, &dev.tensor_u32(&[b, t], mask)?, PoolMode::Max)?,
        Pooling::MeanNoSpecial => {
            let mut inner = mask.to_vec();
            for (r, &i) in batch.iter().enumerate() {
                inner[r * t] = 0; // [CLS]
                inner[r * t + lengths[i] - 1] = 0; // [SEP]
            }
            ops::pool(dev, x, &dev.tensor_u32(&[b, t], &inner)?, PoolMode::Mean)?
        }
        Pooling::Cls => {
            // Row 0 of each sequence, gathered as rows of the [B*T, H] table.
            let rows: Vec<u32> = (0..b).map(|r| (r * t) as u32).collect();
            let h = x.dim(2);
            ops::embedding(dev, &dev.tensor_u32(&[b], &rows)?, &x.reshape(&[b * t, h])?)?
        }
    };
    dev.read_f32(&pooled).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_limits_and_cover_everything() {
        let lengths = [5, 100, 7, 3, 100, 50, 1, 2000];
        let batches = plan_batches(&lengths, 3, 300);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for b in &batches {
            let t = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() <= 3);
            assert!(b.len() == 1 || b.len() * t <= 300, "{b:?}");
        }
        assert_eq!(batches[0], vec![7], "the 2000-token sequence runs alone");
    }

    #[test]
    fn layers_follow_hugging_face_indexing() {
        assert_eq!(resolve_layer(None, 12).unwrap(), 12);
        assert_eq!(resolve_layer(Some(0), 12).unwrap(), 0);
        assert_eq!(resolve_layer(Some(-1), 12).unwrap(), 12);
        assert_eq!(resolve_layer(Some(-13), 12).unwrap(), 0);
        assert!(resolve_layer(Some(13), 12).is_err());
        assert!(resolve_layer(Some(-14), 12).is_err());
    }
}
