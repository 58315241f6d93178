//! Embedding and classifying a stream of sequences in bounded memory: the
//! sequences are taken a chunk at a time (at most [`Chunking::pieces`]
//! sequences or windows and [`Chunking::bases`] bases), each chunk is
//! batched as [`super::embed`] batches (longest first, under the token
//! budget), and each sequence's result is handed on, in input order, as
//! soon as its chunk is done. A sequence embedded in windows may span
//! chunks: its windows' vectors are summed as they come and averaged when
//! its last window is done, so a chromosome is held once, as text, and its
//! windows a chunk at a time.

use std::collections::VecDeque;
use std::ops::Range;

use super::{pool, resolve_layer, run_batches, Batch, Batching, EmbedOptions, Embedding};
use super::{Pooling, Progress, Window};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tokenize::Tokenizer;
use crate::{Device, Tensor};

/// How much of a stream is held at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// Most pieces (sequences, or windows of them) in one chunk.
    pub pieces: usize,
    /// Most bases in one chunk (a longer piece makes a chunk of its own).
    pub bases: usize,
    /// Sequences in the stream, when known (progress); 0: unknown.
    pub total: usize,
    /// Whether a sequence embedded in windows keeps the token ids of all
    /// its windows (`Embedding::input_ids`); without, they are left empty
    /// (a chromosome's would take 4 bytes a token).
    pub window_ids: bool,
}

impl Chunking {
    /// Everything in one chunk: what [`super::embed`] does with sequences
    /// already in memory.
    pub fn whole(total: usize) -> Self {
        Self {
            pieces: usize::MAX,
            bases: usize::MAX,
            total,
            window_ids: true,
        }
    }

    /// Chunks of at most 4096 pieces and 4 Mbp: a few MB of text, token
    /// ids and results, with batches as full as in one chunk.
    pub const fn bounded(total: usize) -> Self {
        Self {
            pieces: 4096,
            bases: 4 << 20,
            total,
            window_ids: false,
        }
    }
}

/// What a stream ran: sequences handed on, tokens embedded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    pub sequences: usize,
    pub tokens: usize,
}

/// A sequence taken from the stream whose result is not handed on yet.
struct Open<T> {
    /// 0-based position in the stream.
    index: usize,
    item: T,
    /// Its pieces: the whole sequence, or its windows.
    ranges: Vec<Range<usize>>,
    /// Pieces put into a chunk so far, and pieces done.
    queued: usize,
    done: usize,
    /// The pieces' results: the one piece's, or the windows' sum.
    result: Option<Embedding>,
    sum: Vec<f64>,
}

/// What is done with each chunk's pieces.
struct Job<H> {
    batching: Batching,
    layer: usize,
    per_token: bool,
    window: Option<Window>,
    head: H,
    /// The fix a piece too large for the GPU is told.
    too_large: fn(Option<Window>) -> String,
}

/// Embeds the sequences of `items` (validated, upper-cased: anything that
/// reads as its sequence, e.g. a [`crate::data::Record`]) as [`super::embed`]
/// does, a chunk at a time, handing each on with its embedding to `emit`
/// in input order. An error from `items` or `emit` ends the run with it.
#[allow(clippy::too_many_arguments)]
pub async fn embed_stream<T: AsRef<str>>(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    items: impl Iterator<Item = Result<T>>,
    opts: &EmbedOptions,
    chunking: Chunking,
    emit: impl FnMut(T, Embedding) -> Result<()>,
    progress: impl FnMut(Progress),
) -> Result<Ran> {
    let layer = resolve_layer(opts.layer, model.encoder.config.num_hidden_layers)?;
    if opts.pooling == Pooling::Pooler && model.pooler.is_none() {
        return Err(Error::Invalid(
            "--pooling pooler: this model has no pooler (bert.pooler.dense)".into(),
        ));
    }
    let per_token = matches!(opts.pooling, Pooling::None | Pooling::PerBase);
    if let Some(w) = opts.window {
        w.check()?;
        if per_token {
            return Err(Error::Invalid(
                "--window averages pooled vectors: choose a pooling other than none".into(),
            ));
        }
    }
    let job = Job {
        batching: opts.batching,
        layer,
        per_token,
        window: opts.window,
        head: |x: &Tensor, batch: &Batch<'_>| pool(dev, model, x, batch, opts.pooling),
        too_large: |window| {
            match window {
            None => "embed it in windows (embed --window 2000: the windows' vectors are averaged), cut it, or run on the CPU backend (--backend cpu)".into(),
            Some(w) => format!(
                "that is one window of it ({} bp): use a smaller --window, or run on the CPU backend (--backend cpu)",
                w.size
            ),
        }
        },
    };
    let (per_base, hidden) = (
        opts.pooling == Pooling::PerBase,
        model.encoder.config.hidden_size,
    );
    let (mut emit, mut number) = (emit, 0);
    let emit = move |item: T, mut e: Embedding| {
        number += 1;
        if per_base {
            let seq = item.as_ref();
            e.values = super::per_base(tokenizer, seq, &e.values, hidden).map_err(|err| {
                Error::Invalid(format!("input sequence {number} ({} bp): {err}", seq.len()))
            })?;
        }
        emit(item, e)
    };
    run(dev, model, tokenizer, items, job, chunking, emit, progress).await
}

/// Class probabilities [C] of the sequences of `items`, as
/// [`super::classify`] gives them, a chunk at a time, handed on to `emit`
/// in input order.
#[allow(clippy::too_many_arguments)]
pub async fn classify_stream<T: AsRef<str>>(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    items: impl Iterator<Item = Result<T>>,
    batching: Batching,
    chunking: Chunking,
    emit: impl FnMut(T, Embedding) -> Result<()>,
    progress: impl FnMut(Progress),
) -> Result<Ran> {
    let (Some(pooler), Some(classifier)) = (&model.pooler, &model.classifier) else {
        return Err(Error::Invalid(
            "this model has no classification head (bert.pooler.dense and classifier weights)"
                .into(),
        ));
    };
    let job = Job {
        batching,
        layer: model.encoder.config.num_hidden_layers,
        per_token: false,
        window: None,
        head: |x: &Tensor, _: &Batch<'_>| classifier.probabilities(dev, &pooler.forward(dev, x)?),
        too_large: |_| "cut it, or run on the CPU backend (--backend cpu)".into(),
    };
    run(dev, model, tokenizer, items, job, chunking, emit, progress).await
}

#[allow(clippy::too_many_arguments)]
async fn run<T: AsRef<str>, H>(
    dev: &Device,
    model: &Model,
    tokenizer: &Tokenizer,
    mut items: impl Iterator<Item = Result<T>>,
    mut job: Job<H>,
    chunking: Chunking,
    mut emit: impl FnMut(T, Embedding) -> Result<()>,
    mut progress: impl FnMut(Progress),
) -> Result<Ran>
where
    H: FnMut(&Tensor, &Batch<'_>) -> Result<Tensor>,
{
    let mut open: VecDeque<Open<T>> = VecDeque::new();
    let mut taken = 0;
    let mut ran = Ran::default();
    // Batches split for want of GPU memory, over every chunk.
    let mut split = (0, 0);
    loop {
        // The next chunk: (position in `open`, piece).
        let mut chunk: Vec<(usize, Range<usize>)> = Vec::new();
        let mut bases = 0;
        let mut at = 0;
        while chunk.len() < chunking.pieces && bases < chunking.bases {
            while at < open.len() && open[at].queued == open[at].ranges.len() {
                at += 1;
            }
            if at == open.len() {
                let Some(item) = items.next() else { break };
                let item = item?;
                let len = item.as_ref().len();
                let whole: Range<usize> = 0..len;
                open.push_back(Open {
                    index: taken,
                    ranges: match job.window {
                        Some(w) => w.ranges(len),
                        None => vec![whole],
                    },
                    item,
                    queued: 0,
                    done: 0,
                    result: None,
                    sum: Vec::new(),
                });
                taken += 1;
                continue;
            }
            let o = &mut open[at];
            let piece = o.ranges[o.queued].clone();
            o.queued += 1;
            bases += piece.len();
            chunk.push((at, piece));
        }
        if chunk.is_empty() {
            return Ok(ran);
        }
        // Sequences whose last piece is in this chunk: progress moves by them.
        let finishing = open.iter().filter(|o| o.queued == o.ranges.len()).count();
        let parts = {
            let pieces: Vec<&str> = chunk
                .iter()
                .map(|(at, r)| &open[*at].item.as_ref()[r.clone()])
                .collect();
            let number = |i: usize| open[chunk[i].0].index + 1;
            let before = (ran, split);
            let total = chunking.total.max(taken);
            run_batches(
                dev,
                model,
                tokenizer,
                &pieces,
                job.batching,
                job.layer,
                job.per_token,
                &number,
                &mut job.head,
                |p| {
                    split = (
                        before.1 .0 + p.batches_split,
                        before.1 .1.max(p.largest_unfit),
                    );
                    progress(Progress {
                        sequences: before.0.sequences
                            + p.sequences * finishing / p.total_sequences.max(1),
                        total_sequences: total,
                        tokens: before.0.tokens + p.tokens,
                        total_tokens: before.0.tokens + p.total_tokens,
                        batches_split: split.0,
                        largest_unfit: split.1,
                    })
                },
            )
            .await
            .map_err(|e| match e {
                Error::SequenceTooLarge {
                    sequence,
                    tokens,
                    cause,
                    ..
                } => Error::SequenceTooLarge {
                    sequence,
                    tokens,
                    cause,
                    fix: (job.too_large)(job.window),
                },
                e => e,
            })?
        };
        for ((at, _), e) in chunk.iter().zip(parts) {
            ran.tokens += e.input_ids.len();
            add(&mut open[*at], e, job.window.is_some(), chunking.window_ids);
        }
        while open.front().is_some_and(|o| o.done == o.ranges.len()) {
            let o = open.pop_front().expect("checked above");
            ran.sequences += 1;
            let (item, e) = finish(o, job.window.is_some());
            emit(item, e)?;
        }
    }
}

/// Adds one piece's result to its sequence's.
fn add<T>(o: &mut Open<T>, e: Embedding, windows: bool, keep_ids: bool) {
    o.done += 1;
    if !windows {
        o.result = Some(e);
        return;
    }
    if o.sum.is_empty() {
        o.sum.resize(e.values.len(), 0.0);
    }
    for (s, v) in o.sum.iter_mut().zip(&e.values) {
        *s += *v as f64;
    }
    let r = o.result.get_or_insert_with(|| Embedding {
        values: Vec::new(),
        input_ids: Vec::new(),
    });
    if keep_ids {
        r.input_ids.extend(e.input_ids);
    }
}

/// A sequence's result once all its pieces are done: the one piece's, or
/// the mean of its windows'.
fn finish<T>(o: Open<T>, windows: bool) -> (T, Embedding) {
    let mut e = o.result.unwrap_or(Embedding {
        values: Vec::new(),
        input_ids: Vec::new(),
    });
    if windows {
        let n = o.done as f64;
        e.values = o.sum.iter().map(|v| (v / n) as f32).collect();
    }
    (o.item, e)
}
