//! The stream of pretraining batches: FASTA pieces ([`Chunks`]), tokenized
//! and cut to the model's length, mixed in a seeded shuffle buffer, grouped
//! under a padded-token budget, epoch after epoch. The first
//! `val_sequences` pieces of the data are held out for validation and never
//! trained on.
//!
//! Everything is a pure function of the files and the seed, so a resumed run
//! rebuilds the exact same stream and skips the batches already trained on
//! (`skip`), and masking takes a per-batch seed: same data, same masks.

use std::path::PathBuf;

use super::batch::HostBatch;
use super::corpus::{Chunks, CorpusOptions, CorpusStats};
use super::masking::Masking;
use crate::error::{Error, Result};
use crate::rng::{derive_seed, Rng};
use crate::tokenize::BpeTokenizer;

#[derive(Clone, Debug, PartialEq)]
pub struct StreamOptions {
    pub corpus: CorpusOptions,
    /// Longest training sequence in tokens, [CLS] and [SEP] included.
    pub max_tokens: usize,
    /// Padded tokens per batch (batch size x longest sequence).
    pub batch_tokens: usize,
    /// Most sequences per batch.
    pub batch_size: usize,
    pub shuffle_buffer: usize,
    pub val_sequences: usize,
    pub seed: u64,
}

/// Batches' worth of sequences sorted together by length.
const POOL_BATCHES: usize = 16;

pub struct BatchStream {
    files: Vec<PathBuf>,
    opts: StreamOptions,
    tokenizer: std::sync::Arc<BpeTokenizer>,
    chunks: Chunks,
    /// Pieces read in this epoch (the first `val_sequences` are skipped).
    read_in_epoch: u64,
    trained_in_epoch: u64,
    buffer: Vec<Vec<u32>>,
    ready: std::collections::VecDeque<Vec<Vec<u32>>>,
    rng: Rng,
    pub epoch: u64,
    /// Batches handed out so far (the data position a checkpoint records).
    pub batches: u64,
}

impl BatchStream {
    /// Opens the stream and reads the held-out validation sequences.
    pub fn new(
        files: &[PathBuf],
        opts: StreamOptions,
        tokenizer: std::sync::Arc<BpeTokenizer>,
    ) -> Result<(Self, Vec<Vec<u32>>)> {
        if opts.max_tokens < 3 || opts.batch_tokens < opts.max_tokens || opts.batch_size == 0 {
            return Err(Error::Invalid(format!(
                "batching: sequences of up to {} tokens, {} tokens and {} sequences per batch: a batch must hold at least one full sequence",
                opts.max_tokens, opts.batch_tokens, opts.batch_size
            )));
        }
        let mut chunks = Chunks::new(files, opts.corpus)?;
        let mut val = Vec::new();
        for piece in chunks.by_ref().take(opts.val_sequences) {
            val.push(tokenize(&tokenizer, &piece?, opts.max_tokens)?);
        }
        let stream = Self {
            files: files.to_vec(),
            chunks: Chunks::new(files, opts.corpus)?,
            rng: Rng::new(derive_seed(opts.seed, 1, 0)),
            opts,
            tokenizer,
            read_in_epoch: 0,
            trained_in_epoch: 0,
            buffer: Vec::new(),
            ready: Default::default(),
            epoch: 0,
            batches: 0,
        };
        Ok((stream, val))
    }

    /// What the reader has met in the current epoch.
    pub fn stats(&self) -> &CorpusStats {
        &self.chunks.stats
    }

    /// The next training sequence, epochs wrapping around.
    fn next_sequence(&mut self) -> Result<Vec<u32>> {
        loop {
            while self.buffer.len() < self.opts.shuffle_buffer.max(1) {
                match self.chunks.next() {
                    Some(piece) => {
                        let piece = piece?;
                        self.read_in_epoch += 1;
                        if self.read_in_epoch <= self.opts.val_sequences as u64 {
                            continue;
                        }
                        self.buffer
                            .push(tokenize(&self.tokenizer, &piece, self.opts.max_tokens)?);
                    }
                    None => break,
                }
            }
            if !self.buffer.is_empty() {
                let i = self.rng.below(self.buffer.len() as u32) as usize;
                self.trained_in_epoch += 1;
                return Ok(self.buffer.swap_remove(i));
            }
            if self.trained_in_epoch == 0 {
                return Err(Error::Invalid(format!(
                    "no training sequences: the data holds {} pieces of at least {} bp and the first {} are held out for validation",
                    self.read_in_epoch, self.opts.corpus.min_bp, self.opts.val_sequences
                )));
            }
            self.epoch += 1;
            self.read_in_epoch = 0;
            self.trained_in_epoch = 0;
            self.chunks = Chunks::new(&self.files, self.opts.corpus)?;
        }
    }

    /// The next batch's token ids, unmasked. Batches are cut from a pool of
    /// `POOL_BATCHES` batches' worth of sequences sorted by length (so that
    /// little padding is computed), and the pool's batches are handed out in
    /// a random order.
    fn next_sequences(&mut self) -> Result<Vec<Vec<u32>>> {
        if self.ready.is_empty() {
            let mut pool = Vec::new();
            let budget = POOL_BATCHES * self.opts.batch_size;
            while pool.len() < budget {
                pool.push(self.next_sequence()?);
            }
            pool.sort_by_key(|s: &Vec<u32>| std::cmp::Reverse(s.len()));
            let mut batches: Vec<Vec<Vec<u32>>> = Vec::new();
            let mut cur: Vec<Vec<u32>> = Vec::new();
            for s in pool {
                // Sorted longest first: the first sequence sets the padding.
                let longest = cur.first().map_or(s.len(), Vec::len);
                if !cur.is_empty()
                    && (cur.len() == self.opts.batch_size
                        || longest * (cur.len() + 1) > self.opts.batch_tokens)
                {
                    batches.push(std::mem::take(&mut cur));
                }
                cur.push(s);
            }
            batches.push(cur);
            self.rng.shuffle(&mut batches);
            self.ready = batches.into();
        }
        self.batches += 1;
        Ok(self.ready.pop_front().expect("filled above"))
    }

    /// The next batch, masked with the batch's own seed.
    pub fn next_batch(&mut self, masking: &Masking) -> Result<HostBatch> {
        let n = self.batches;
        let seqs = self.next_sequences()?;
        let mut rng = Rng::new(derive_seed(self.opts.seed, 2, n));
        Ok(masking.collate(&seqs, &mut rng))
    }

    /// Skips `n` batches (a resumed run catching up with its checkpoint).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        for _ in 0..n {
            self.next_sequences()?;
        }
        Ok(())
    }
}

/// `[CLS] ... [SEP]`, cut to `max_tokens` (keeping the [SEP]).
fn tokenize(tok: &BpeTokenizer, piece: &str, max_tokens: usize) -> Result<Vec<u32>> {
    let mut ids = tok.encode(piece)?.ids;
    if ids.len() > max_tokens {
        let sep = *ids.last().expect("non-empty");
        ids.truncate(max_tokens - 1);
        ids.push(sep);
    }
    Ok(ids)
}
