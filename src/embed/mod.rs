//! Embedding sequences: tokenize, pack into batches under a token budget
//! (longest first, so padding stays small), run the encoder, pool, and
//! return results in input order; `stream` does it chunk by chunk for
//! inputs of any size.

pub mod per_base;
mod stream;

pub use per_base::per_base;
pub use stream::{classify_stream, embed_stream, Chunking, Ran};

use crate::error::{Error, Result};
use crate::model::classifier::cls_rows;
use crate::model::Model;
use crate::ops::{self, PoolMode};
use crate::tokenize::Tokenizer;
use crate::{Device, Tensor};

/// How a sequence's `[T, H]` states become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Average of all T rows, [CLS] and [SEP] included (the model card's).
    Mean,
    /// Average without [CLS] and [SEP] (the Nucleotide Transformer appends
    /// nothing: without `<cls>` only).
    MeanNoSpecial,
    /// Row 0 ([CLS]).
    Cls,
    /// Element-wise maximum over all T rows.
    Max,
    /// The model's pooler: tanh(dense(row 0)), where the checkpoint has one.
    Pooler,
    /// No pooling: every row (`[T, H]`).
    None,
    /// No pooling, per base: `[bases, H]`, each base the mean of the rows of
    /// the tokens covering it ([`per_base`]; `embed --pooling none
    /// --per-base`, not a `--pooling` name).
    PerBase,
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
            "pooler" => Self::Pooler,
            _ => {
                return Err(Error::Invalid(format!(
                "unknown pooling `{s}`: expected mean, mean-nospecial, cls, max, pooler or none"
            )))
            }
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct EmbedOptions {
    pub pooling: Pooling,
    /// Hugging Face `hidden_states` index: 0 = embedding output, L = last
    /// layer; negative counts from the end (-1 = L). `None` = last.
    pub layer: Option<isize>,
    pub batching: Batching,
    /// Embed sequences longer than the window in windows and average their
    /// pooled vectors (models with a learned position table, e.g. DNABERT's
    /// 512 tokens, need it for long input).
    pub window: Option<Window>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            layer: None,
            batching: Batching::default(),
            window: None,
        }
    }
}

/// Windows of `size` bases every `stride` bases; the last one ends at the
/// sequence's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub size: usize,
    pub stride: usize,
}

impl Window {
    /// A positive window and a stride between 1 and the window, else the
    /// error naming both.
    pub fn check(self) -> Result<Self> {
        if self.size == 0 || self.stride == 0 || self.stride > self.size {
            return Err(Error::Invalid(format!(
                "--window {} --stride {}: the window must be positive and the stride between 1 and the window",
                self.size, self.stride
            )));
        }
        Ok(self)
    }

    /// How many windows [`Window::ranges`] gives for `len` bases.
    pub fn count(self, len: usize) -> usize {
        if len <= self.size {
            1
        } else {
            // Starts 0, stride, ... while start + size < len; then the last.
            (len - self.size - 1) / self.stride + 2
        }
    }

    /// The windows of a sequence of `len` bases (one, the whole, if it fits).
    pub fn ranges(self, len: usize) -> Vec<std::ops::Range<usize>> {
        if len <= self.size {
            let whole = 0..len;
            return vec![whole];
        }
        let mut out: Vec<std::ops::Range<usize>> = (0..)
            .map(|k| k * self.stride)
            .take_while(|&s| s + self.size < len)
            .map(|s| s..s + self.size)
            .collect();
        out.push(len - self.size..len);
        out
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

/// Progress after each batch: sequences and tokens done, of the totals,
/// and the batches that ran out of GPU memory and were split.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub sequences: usize,
    pub total_sequences: usize,
    pub tokens: usize,
    pub total_tokens: usize,
    /// Batches split in two so far because the GPU ran out of memory.
    pub batches_split: usize,
    /// Sequences in the largest batch that did not fit (0: none).
    pub largest_unfit: usize,
}

impl Progress {
    /// The one-line notice a caller shows once batches were split.
    pub fn split_notice(&self) -> Option<String> {
        (self.batches_split > 0).then(|| {
            format!(
                "the GPU ran out of memory for a batch of {} sequences: running smaller batches (the results are the same)",
                self.largest_unfit
            )
        })
    }
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

/// How sequences are grouped into batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Most sequences in one batch.
    pub batch_size: usize,
    /// Most padded tokens (B x T) in one batch; a longer sequence runs alone.
    pub max_tokens: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            batch_size: 32,
            max_tokens: 16384,
        }
    }
}

/// One batch as a head sees it: its sequences, padded length and mask.
pub struct Batch<'a> {
    /// Input indices of the batch's sequences, longest first.
    pub members: &'a [usize],
    /// Token counts of all inputs (index with `members`).
    pub lengths: &'a [usize],
    /// Padded length T.
    pub t: usize,
    /// [B, T], 1 = real token.
    pub mask: &'a [u32],
}

/// The token ids of one batch (`members`, longest first) padded with
/// [PAD] to the first one's length `t`, and its mask (1 = real token):
/// `(ids, mask, t)`, ids and mask [B, T].
pub fn padded_batch(
    encoded: &[Vec<u32>],
    lengths: &[usize],
    members: &[usize],
) -> (Vec<u32>, Vec<u32>, usize) {
    let (b, t) = (members.len(), lengths[members[0]]);
    let mut ids = vec![3u32; b * t]; // [PAD]
    let mut mask = vec![0u32; b * t];
    for (r, &i) in members.iter().enumerate() {
        ids[r * t..r * t + lengths[i]].copy_from_slice(&encoded[i]);
        mask[r * t..r * t + lengths[i]].fill(1);
    }
    (ids, mask, t)
}

/// Runs one batch (`members`, longest first) through the encoder and
/// `head`, and reads the head's output back: its values and last dimension.
async fn run_batch(
    dev: &Device,
    model: &Model,
    encoded: &[Vec<u32>],
    lengths: &[usize],
    members: &[usize],
    layer: usize,
    head: &mut impl FnMut(&Tensor, &Batch<'_>) -> Result<Tensor>,
) -> Result<(Vec<f32>, usize)> {
    let b = members.len();
    let (ids, mask, t) = padded_batch(encoded, lengths, members);
    let states = model
        .encoder
        .forward_host(dev, &ids, &mask, b, |l| l == layer)?;
    let x = &states
        .iter()
        .find(|(l, _)| *l == layer)
        .expect("the requested layer is kept")
        .1;
    let y = head(
        x,
        &Batch {
            members,
            lengths,
            t,
            mask: &mask,
        },
    )?;
    Ok((dev.read_f32(&y).await?, y.dim(-1)))
}

/// Input sequence `number` (1-based, `tokens` long) did not fit on the GPU
/// alone. `embed` says more where it knows more (windows).
fn too_large(number: usize, tokens: usize, cause: Error) -> Error {
    Error::SequenceTooLarge {
        sequence: number,
        tokens,
        cause: Box::new(cause),
        fix: "cut it, or run on the CPU backend (--backend cpu)".into(),
    }
}

/// Tokenizes `sequences`, runs the encoder batch by batch up to hidden state
/// `layer`, applies `head` to each batch's states [B, T, H] and reads its
/// output back: [B, W] rows (or [B, T, W] when `per_token`), returned per
/// input in input order with the token ids. Messages call sequence `i`
/// "input sequence `number(i)`".
#[allow(clippy::too_many_arguments)]
pub async fn run_batches(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    sequences: &[&str],
    batching: Batching,
    layer: usize,
    per_token: bool,
    number: &dyn Fn(usize) -> usize,
    head: impl FnMut(&Tensor, &Batch<'_>) -> Result<Tensor>,
    progress: impl FnMut(Progress),
) -> Result<Vec<Embedding>> {
    let cfg = &model.encoder.config;
    check_longest(cfg, tokenizer, sequences, None, batching.max_tokens, number)?;
    let encoded: Vec<Vec<u32>> = sequences
        .iter()
        .map(|s| tokenizer.encode(s).map(|e| e.ids))
        .collect::<Result<_>>()?;
    let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
    if let Some(max) = model.encoder.max_positions() {
        if let Some(i) = lengths.iter().position(|&n| n > max) {
            return Err(crate::Error::Invalid(format!(
                "input sequence {} ({} bp) is {} tokens, over the model's {max} positions (a learned position table): embed it in windows (embed --window BP, a window of at most {max} tokens) or cut it",
                number(i),
                sequences[i].len(),
                lengths[i]
            )));
        }
    }
    check_longest(
        cfg,
        tokenizer,
        sequences,
        Some(&lengths),
        batching.max_tokens,
        number,
    )?;
    run_encoded(
        dev, model, encoded, batching, layer, per_token, number, head, progress,
    )
    .await
}

/// [`run_batches`] on sequences already tokenized (`encoded`, each with
/// its special tokens; any ids the model takes, mask tokens included);
/// `number(i)` names sequence i in errors.
#[allow(clippy::too_many_arguments)]
pub async fn run_encoded(
    dev: &Device,
    model: &Model,
    encoded: Vec<Vec<u32>>,
    batching: Batching,
    layer: usize,
    per_token: bool,
    number: &dyn Fn(usize) -> usize,
    mut head: impl FnMut(&Tensor, &Batch<'_>) -> Result<Tensor>,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<Embedding>> {
    let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
    let total_tokens = lengths.iter().sum();
    let mut out: Vec<Option<Embedding>> = vec![None; encoded.len()];
    let mut done = Progress {
        total_sequences: encoded.len(),
        total_tokens,
        ..Progress::default()
    };
    // A stack, next batch on top: the halves of a split batch run next.
    let mut pending = plan_batches(&lengths, batching.batch_size, batching.max_tokens);
    pending.reverse();
    // Whatever was recorded before is submitted: a failed batch then
    // discards only its own commands.
    dev.flush()?;
    while let Some(members) = pending.pop() {
        let batch = run_batch(dev, model, &encoded, &lengths, &members, layer, &mut head);
        let (rows, w) = match batch.await {
            Ok(out) => out,
            // Out of GPU memory: the same batch in two halves, down to one
            // sequence. Only padding differs, so the results are the same.
            Err(e) if e.is_out_of_memory() => {
                dev.recover();
                if members.len() == 1 {
                    return Err(too_large(number(members[0]), lengths[members[0]], e));
                }
                done.batches_split += 1;
                done.largest_unfit = done.largest_unfit.max(members.len());
                let (first, second) = members.split_at(members.len() / 2);
                pending.push(second.to_vec());
                pending.push(first.to_vec());
                continue;
            }
            Err(e) => return Err(e),
        };
        let t = lengths[members[0]];
        for (r, &i) in members.iter().enumerate() {
            let values = if per_token {
                rows[r * t * w..(r * t + lengths[i]) * w].to_vec()
            } else {
                rows[r * w..(r + 1) * w].to_vec()
            };
            out[i] = Some(Embedding {
                values,
                input_ids: encoded[i].clone(),
            });
            done.tokens += lengths[i];
        }
        done.sequences += members.len();
        progress(done);
    }
    Ok(out
        .into_iter()
        .map(|e| e.expect("every sequence is in a batch"))
        .collect())
}

/// Operations beyond which one sequence is not run whole unless asked:
/// ~10 minutes of a 2-core CPU, seconds of a large GPU.
pub const LONG_RUN_FLOPS: f64 = 1e14;

/// A sequence that is longer than a batch holds (`max_tokens`) and would
/// cost more than [`LONG_RUN_FLOPS`] run whole is refused before any work,
/// with its cost and the fix: one 50 Mbp chromosome would take days
/// (attention grows with the square of its length), while `--window`
/// embeds it in seconds. Raising `max_tokens` to its length runs it whole.
/// `tokens[i]` is the sequence's token count, or `None` before tokenizing:
/// then a lower bound from its length in bases stands in, so no time goes
/// into tokenizing a chromosome either.
fn check_longest(
    cfg: &crate::model::Config,
    tokenizer: &Tokenizer,
    sequences: &[&str],
    tokens: Option<&[usize]>,
    max_tokens: usize,
    number: &dyn Fn(usize) -> usize,
) -> Result<()> {
    let count = |i: usize| match tokens {
        Some(t) => t[i],
        None => sequences[i].len() / tokenizer.most_bases_per_token(),
    };
    let Some(i) = (0..sequences.len()).max_by_key(|&i| count(i)) else {
        return Ok(());
    };
    let (bp, tokens) = (sequences[i].len(), tokens.map(|_| count(i)));
    check_cost(cfg, tokenizer, number(i), bp, tokens, max_tokens)
}

/// [`check_longest`] for one sequence of `bp` bases (input sequence
/// `number`), before it is read: a stream's longest record is refused
/// before any work, as a sequence in memory is.
pub fn check_long_sequence(
    cfg: &crate::model::Config,
    tokenizer: &Tokenizer,
    number: usize,
    bp: usize,
    max_tokens: usize,
) -> Result<()> {
    check_cost(cfg, tokenizer, number, bp, None, max_tokens)
}

/// The refusal of one sequence of `bp` bases and `tokens` tokens (`None`:
/// not tokenized yet, a lower bound stands in), if it is due.
fn check_cost(
    cfg: &crate::model::Config,
    tokenizer: &Tokenizer,
    number: usize,
    bp: usize,
    tokens: Option<usize>,
    max_tokens: usize,
) -> Result<()> {
    let t = tokens.unwrap_or(bp / tokenizer.most_bases_per_token());
    let (layers, hidden, n) = (
        cfg.num_hidden_layers as f64,
        cfg.hidden_size as f64,
        t as f64,
    );
    // Attention (QK^T and PV) plus the dense layers (~12 H^2 per token per layer).
    let flops = layers * (4.0 * hidden * n * n + 24.0 * hidden * hidden * n);
    if t <= max_tokens || flops <= LONG_RUN_FLOPS {
        return Ok(());
    }
    let at_least = if tokens.is_some() { "" } else { "at least " };
    Err(Error::Invalid(format!(
        "input sequence {number} ({bp} bp) is {at_least}{t} tokens: run whole it would cost {at_least}{flops:.1e} floating-point operations (growing with the square of its length: hours to days on most machines). Embed it in windows (embed --window 2000: the windows' vectors are averaged) or cut it; to run it whole anyway, raise --max-tokens to its length",
    )))
}

/// Embeds `sequences` (already validated and upper-cased) with `model`:
/// one chunk holding them all ([`embed_stream`] with [`Chunking::whole`]).
pub async fn embed(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    sequences: &[&str],
    opts: &EmbedOptions,
    progress: impl FnMut(Progress),
) -> Result<Vec<Embedding>> {
    let mut out = Vec::with_capacity(sequences.len());
    embed_stream(
        dev,
        model,
        tokenizer,
        sequences.iter().map(|s| Ok(*s)),
        opts,
        Chunking::whole(sequences.len()),
        |_, e| {
            out.push(e);
            Ok(())
        },
        progress,
    )
    .await?;
    Ok(out)
}

/// Pools `x` [B, T, H] to [B, H] (or keeps it, for `Pooling::None`).
pub(crate) fn pool(
    dev: &Device,
    model: &Model,
    x: &Tensor,
    batch: &Batch<'_>,
    pooling: Pooling,
) -> Result<Tensor> {
    let (b, t) = (batch.members.len(), batch.t);
    let mask = |m: &[u32]| dev.tensor_u32(&[b, t], m);
    match pooling {
        Pooling::None | Pooling::PerBase => Ok(x.clone()),
        Pooling::Mean => ops::pool(dev, x, &mask(batch.mask)?, PoolMode::Mean),
        Pooling::Max => ops::pool(dev, x, &mask(batch.mask)?, PoolMode::Max),
        Pooling::MeanNoSpecial => {
            let ends_with_sep = model.encoder.family != crate::model::encoder::Family::Esm;
            let mut inner = batch.mask.to_vec();
            for (r, &i) in batch.members.iter().enumerate() {
                inner[r * t] = 0; // [CLS]
                if ends_with_sep {
                    inner[r * t + batch.lengths[i] - 1] = 0; // [SEP]
                }
            }
            ops::pool(dev, x, &mask(&inner)?, PoolMode::Mean)
        }
        Pooling::Cls => cls_rows(dev, x),
        Pooling::Pooler => model
            .pooler
            .as_ref()
            .expect("checked by embed")
            .forward(dev, x),
    }
}

/// Class probabilities [C] per sequence, from the model's classification head.
pub async fn classify(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    sequences: &[&str],
    batching: Batching,
    progress: impl FnMut(Progress),
) -> Result<Vec<Embedding>> {
    let (Some(pooler), Some(classifier)) = (&model.pooler, &model.classifier) else {
        return Err(Error::Invalid(
            "this model has no classification head (bert.pooler.dense and classifier weights)"
                .into(),
        ));
    };
    let last = model.encoder.config.num_hidden_layers;
    run_batches(
        dev,
        model,
        tokenizer,
        sequences,
        batching,
        last,
        false,
        &|i| i + 1,
        |x, _| classifier.probabilities(dev, &pooler.forward(dev, x)?),
        progress,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_cover_the_sequence_and_end_at_its_end() {
        let w = super::Window {
            size: 60,
            stride: 30,
        };
        assert_eq!(w.ranges(50), vec![0..50]);
        assert_eq!(w.ranges(60), vec![0..60]);
        assert_eq!(w.ranges(150), vec![0..60, 30..90, 60..120, 90..150]);
        assert_eq!(w.ranges(100), vec![0..60, 30..90, 40..100]);
        for len in 0..400 {
            for (size, stride) in [(60, 30), (60, 60), (60, 1), (7, 3), (1, 1)] {
                let w = super::Window { size, stride };
                assert_eq!(w.count(len), w.ranges(len).len(), "{len} {size} {stride}");
            }
        }
    }

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
