//! Training a BPE tokenizer with DNABERT-2's layout on DNA sequences
//! (`dnagpu tokenizer train`).
//!
//! Sequences are streamed into the `tokenizers` crate's `BpeTrainer` as
//! "words": every maximal run of A/C/G/T, cut into pieces of at most
//! [`TrainOptions::chunk_bp`] bases. Runs are split at `N` and the other
//! IUPAC ambiguity codes because those symbols only ever reach the model as
//! `[UNK]`: letting them into the training text would add them to the
//! alphabet and move the ids of A, C, G, T off 5..8. Tokens therefore never
//! span an ambiguity code or a chunk boundary (at the default 1000 bp the
//! boundaries cost a negligible share of the pair counts).
//!
//! The trainer keeps one entry per distinct chunk, so its memory grows with
//! the sample (about 60 bytes per base: 10 Mbp took 0.56 GB and 28 s for 4096
//! tokens on 2 cores); [`TrainOptions::max_bp`] caps it.
//! [`crate::data::FastaSequences`] reads FASTA / FASTA.gz files one
//! record at a time, so besides the sample only the current record is held.
//! The symbols are those of [`crate::data::alphabet`] (`U` reads as `T`).
//!
//! The output reproduces `assets/dnabert2/tokenizer.json` key for key:
//! `[UNK]`=0, `[CLS]`=1, `[SEP]`=2, `[PAD]`=3, `[MASK]`=4, A=5, C=6, G=7,
//! T=8, then the learned tokens in merge order; Whitespace pre-tokenizer, no
//! normalizer, `[CLS] $A [SEP]` post-processor, merges written as `"A B"`.

use super::BpeTokenizer;
use crate::data::alphabet;
use crate::error::{Error, Result};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::HashSet;
use std::sync::Mutex;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::{AddedToken, Trainer};

/// The special tokens, in id order (ids 0..=4).
pub const SPECIAL_TOKENS: [&str; 5] = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"];
/// The single bases, in id order right after the special tokens (ids 5..=8).
pub const BASES: [char; 4] = ['A', 'C', 'G', 'T'];
/// The smallest vocabulary: the special tokens and the four bases.
pub const MIN_VOCAB_SIZE: usize = SPECIAL_TOKENS.len() + BASES.len();

/// What to learn and how much input to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainOptions {
    /// Tokens in the vocabulary, special tokens and bases included (at least 9).
    pub vocab_size: usize,
    /// Pairs seen fewer times than this are never merged.
    pub min_frequency: u64,
    /// Longest piece of sequence given to the trainer as one word.
    pub chunk_bp: usize,
    /// Stop reading after this many sequences (records).
    pub max_sequences: Option<u64>,
    /// Stop reading after this many A/C/G/T bases (the last piece is cut).
    pub max_bp: Option<u64>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            vocab_size: 4096,
            min_frequency: 2,
            chunk_bp: 1000,
            max_sequences: None,
            max_bp: None,
        }
    }
}

/// How much input the trainer saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Sequences (records) read.
    pub sequences: u64,
    /// A/C/G/T bases given to the trainer.
    pub bp: u64,
    /// Ambiguity codes (`N`, ...) skipped; they split the sequence.
    pub ambiguous: u64,
    /// Pieces ("words") given to the trainer.
    pub chunks: u64,
}

/// Where training is, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainProgress {
    /// Reading input; sent after each sequence and every few Mbp.
    Reading(SampleStats),
    /// Input done; learning merges (no further updates until the end).
    Merging(SampleStats),
}

/// A trained tokenizer.
#[derive(Clone, Debug)]
pub struct TrainedTokenizer {
    /// The `tokenizer.json` text.
    pub json: String,
    /// Tokens in the vocabulary: `TrainOptions::vocab_size` unless the
    /// sample ran out of pairs seen `min_frequency` times.
    pub vocab_size: usize,
    /// Merge rules learned.
    pub merges: usize,
    pub sample: SampleStats,
}

/// Trains on `sequences` (any case; the symbols of [`alphabet`]).
pub fn train_bpe<I>(sequences: I, opts: &TrainOptions) -> Result<TrainedTokenizer>
where
    I: Iterator<Item = Result<String>> + Send,
{
    train_bpe_with_progress(sequences, opts, &|_| {})
}

/// [`train_bpe`], reporting progress to `progress` (called from worker threads).
pub fn train_bpe_with_progress<I>(
    sequences: I,
    opts: &TrainOptions,
    progress: &(dyn Fn(TrainProgress) + Sync),
) -> Result<TrainedTokenizer>
where
    I: Iterator<Item = Result<String>> + Send,
{
    check_options(opts)?;
    let mut trainer = BpeTrainer::builder()
        .vocab_size(opts.vocab_size)
        .min_frequency(opts.min_frequency)
        .show_progress(false)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(BASES.iter().copied().collect::<HashSet<char>>())
        .build();

    let failure = Mutex::new(None);
    let mut chunks = Chunks::new(sequences, opts, &failure, progress);
    // Chunks hold only A/C/G/T, so each is one word for the Whitespace
    // pre-tokenizer: give them to the trainer as they are.
    trainer
        .feed(&mut chunks, |chunk| Ok(vec![chunk.to_owned()]))
        .map_err(|e| Error::Invalid(format!("tokenizer training: {e}")))?;
    let sample = chunks.stats;
    drop(chunks);
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if sample.bp == 0 {
        return Err(Error::Invalid(format!(
            "no A/C/G/T bases to train on ({} sequences read, {} ambiguous symbols)",
            sample.sequences, sample.ambiguous
        )));
    }
    progress(TrainProgress::Merging(sample));

    let mut model = BPE::builder()
        .unk_token(SPECIAL_TOKENS[0].to_owned())
        .build()
        .map_err(|e| Error::Invalid(format!("tokenizer training: {e}")))?;
    trainer
        .train(&mut model)
        .map_err(|e| Error::Invalid(format!("tokenizer training: {e}")))?;

    let (vocab, merges) = vocab_and_merges(&model)?;
    let json = to_json(&vocab, &merges)?;
    // The result must load with our own loader and keep its size.
    let loaded = BpeTokenizer::from_json(&json, "the trained tokenizer")?;
    if loaded.vocab_size() != vocab.len() {
        return Err(Error::Invalid(format!(
            "the trained tokenizer reloads with {} tokens instead of {}",
            loaded.vocab_size(),
            vocab.len()
        )));
    }
    Ok(TrainedTokenizer {
        json,
        vocab_size: vocab.len(),
        merges: merges.len(),
        sample,
    })
}

fn check_options(opts: &TrainOptions) -> Result<()> {
    if opts.vocab_size < MIN_VOCAB_SIZE {
        return Err(Error::Invalid(format!(
            "vocabulary size {} is below {MIN_VOCAB_SIZE} (5 special tokens and A, C, G, T)",
            opts.vocab_size
        )));
    }
    if opts.vocab_size > u32::MAX as usize {
        return Err(Error::Invalid(format!(
            "vocabulary size {} does not fit 32-bit token ids",
            opts.vocab_size
        )));
    }
    if opts.chunk_bp == 0 {
        return Err(Error::Invalid(
            "chunk size must be at least 1 bp".to_owned(),
        ));
    }
    if opts.max_sequences == Some(0) || opts.max_bp == Some(0) {
        return Err(Error::Invalid(
            "the sample caps (max sequences, max bp) must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

/// Turns sequences into trainer words; the first error is parked in
/// `failure` and ends the stream (the trainer's input cannot fail).
struct Chunks<'a, I> {
    source: I,
    opts: &'a TrainOptions,
    failure: &'a Mutex<Option<Error>>,
    progress: &'a (dyn Fn(TrainProgress) + Sync),
    stats: SampleStats,
    /// The current sequence, upper-cased, and how far it is consumed.
    current: Vec<u8>,
    pos: usize,
    last_report_bp: u64,
    done: bool,
}

/// Bases between two progress reports within one long sequence.
const REPORT_EVERY_BP: u64 = 4_000_000;

impl<'a, I: Iterator<Item = Result<String>>> Chunks<'a, I> {
    fn new(
        source: I,
        opts: &'a TrainOptions,
        failure: &'a Mutex<Option<Error>>,
        progress: &'a (dyn Fn(TrainProgress) + Sync),
    ) -> Self {
        Self {
            source,
            opts,
            failure,
            progress,
            stats: SampleStats::default(),
            current: Vec::new(),
            pos: 0,
            last_report_bp: 0,
            done: false,
        }
    }

    fn fail(&mut self, e: Error) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        self.done = true;
    }

    fn bp_left(&self) -> u64 {
        self.opts
            .max_bp
            .map_or(u64::MAX, |max| max.saturating_sub(self.stats.bp))
    }

    /// Loads the next sequence; false at the end of the input or a cap.
    fn next_sequence(&mut self) -> bool {
        let capped = self
            .opts
            .max_sequences
            .is_some_and(|max| self.stats.sequences >= max);
        if capped || self.bp_left() == 0 {
            return false;
        }
        let seq = match self.source.next() {
            None => return false,
            Some(Err(e)) => {
                self.fail(e);
                return false;
            }
            Some(Ok(seq)) => seq,
        };
        let number = self.stats.sequences + 1;
        let mut seq = seq;
        if let Err(bad) = alphabet::normalize(&mut seq) {
            self.fail(Error::Invalid(format!("sequence {number}: {bad}")));
            return false;
        }
        self.stats.sequences = number;
        self.current = seq.into_bytes();
        self.pos = 0;
        (self.progress)(TrainProgress::Reading(self.stats));
        true
    }

    /// The next piece of A/C/G/T in the current sequence, if any.
    fn next_piece(&mut self) -> Option<String> {
        let rest = &self.current[self.pos..];
        let skip = rest
            .iter()
            .position(|b| alphabet::BASES.contains(b))
            .unwrap_or(rest.len());
        self.stats.ambiguous += skip as u64;
        self.pos += skip;
        let rest = &self.current[self.pos..];
        let run = rest
            .iter()
            .position(|b| !alphabet::BASES.contains(b))
            .unwrap_or(rest.len());
        let len = run
            .min(self.opts.chunk_bp)
            .min(usize::try_from(self.bp_left()).unwrap_or(usize::MAX));
        if len == 0 {
            return None;
        }
        // Only ASCII letters were selected.
        let piece = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len;
        self.stats.bp += len as u64;
        self.stats.chunks += 1;
        if self.stats.bp - self.last_report_bp >= REPORT_EVERY_BP {
            self.last_report_bp = self.stats.bp;
            (self.progress)(TrainProgress::Reading(self.stats));
        }
        Some(piece)
    }
}

impl<I: Iterator<Item = Result<String>>> Iterator for Chunks<'_, I> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        while !self.done {
            if let Some(piece) = self.next_piece() {
                return Some(piece);
            }
            if !self.next_sequence() {
                self.done = true;
            }
        }
        None
    }
}

/// A merge rule: the two tokens joined.
type Merge = (String, String);

/// The trained vocabulary in id order and the merges in rank order; checks
/// the fixed ids.
fn vocab_and_merges(model: &BPE) -> Result<(Vec<String>, Vec<Merge>)> {
    let bad = |msg: String| Error::Invalid(format!("tokenizer training: {msg}"));
    let map = model.get_vocab();
    let mut vocab = vec![String::new(); map.len()];
    for (token, id) in map {
        match vocab.get_mut(id as usize) {
            Some(slot) => *slot = token,
            None => return Err(bad(format!("token id {id} outside the vocabulary"))),
        }
    }
    let fixed = SPECIAL_TOKENS
        .iter()
        .map(|t| t.to_string())
        .chain(BASES.iter().map(|b| b.to_string()));
    for (id, want) in fixed.enumerate() {
        if vocab.get(id) != Some(&want) {
            return Err(bad(format!("id {id} is {:?}, not {want:?}", vocab.get(id))));
        }
    }
    // The model's own serialization is the only public view of its merges.
    let value = serde_json::to_value(model).map_err(|e| bad(e.to_string()))?;
    let merges: Vec<(String, String)> =
        serde_json::from_value(value["merges"].clone()).map_err(|e| bad(format!("merges: {e}")))?;
    Ok((vocab, merges))
}

/// `tokenizer.json` with exactly the fields, order and values of DNABERT-2's.
fn to_json(vocab: &[String], merges: &[Merge]) -> Result<String> {
    let added_tokens = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, content)| AddedTokenJson {
            id: id as u32,
            special: true,
            content,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
        })
        .collect();
    let piece = |special: Option<&'static str>, sequence: Option<&'static str>, type_id| Piece {
        special_token: special.map(|id| PieceRef { id, type_id }),
        sequence: sequence.map(|id| PieceRef { id, type_id }),
    };
    let special = |token: &'static str, id: u32| SpecialTokenJson {
        id: token,
        ids: [id],
        tokens: [token],
    };
    let doc = TokenizerJson {
        version: "1.0",
        truncation: None,
        padding: None,
        added_tokens,
        normalizer: None,
        pre_tokenizer: TypeOnly { kind: "Whitespace" },
        post_processor: PostProcessorJson {
            kind: "TemplateProcessing",
            single: [
                piece(Some("[CLS]"), None, 0),
                piece(None, Some("A"), 0),
                piece(Some("[SEP]"), None, 0),
            ],
            pair: [
                piece(Some("[CLS]"), None, 0),
                piece(None, Some("A"), 0),
                piece(Some("[SEP]"), None, 0),
                piece(None, Some("B"), 1),
                piece(Some("[SEP]"), None, 1),
            ],
            special_tokens: SpecialTokensJson {
                cls: special("[CLS]", 1),
                sep: special("[SEP]", 2),
            },
        },
        decoder: None,
        model: ModelJson {
            kind: "BPE",
            dropout: None,
            unk_token: SPECIAL_TOKENS[0],
            continuing_subword_prefix: None,
            end_of_word_suffix: None,
            fuse_unk: false,
            vocab: VocabInIdOrder(vocab),
            merges: merges.iter().map(|(a, b)| format!("{a} {b}")).collect(),
        },
    };
    serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::Invalid(format!("writing tokenizer.json: {e}")))
}

#[derive(serde::Serialize)]
struct TokenizerJson<'a> {
    version: &'static str,
    truncation: Option<()>,
    padding: Option<()>,
    added_tokens: Vec<AddedTokenJson>,
    normalizer: Option<()>,
    pre_tokenizer: TypeOnly,
    post_processor: PostProcessorJson,
    decoder: Option<()>,
    model: ModelJson<'a>,
}

#[derive(serde::Serialize)]
struct AddedTokenJson {
    id: u32,
    special: bool,
    content: &'static str,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
}

#[derive(serde::Serialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
struct PostProcessorJson {
    #[serde(rename = "type")]
    kind: &'static str,
    single: [Piece; 3],
    pair: [Piece; 5],
    special_tokens: SpecialTokensJson,
}

/// `{"SpecialToken": {...}}` or `{"Sequence": {...}}`.
#[derive(serde::Serialize)]
struct Piece {
    #[serde(rename = "SpecialToken", skip_serializing_if = "Option::is_none")]
    special_token: Option<PieceRef>,
    #[serde(rename = "Sequence", skip_serializing_if = "Option::is_none")]
    sequence: Option<PieceRef>,
}

#[derive(serde::Serialize)]
struct PieceRef {
    id: &'static str,
    type_id: u32,
}

#[derive(serde::Serialize)]
struct SpecialTokensJson {
    #[serde(rename = "[CLS]")]
    cls: SpecialTokenJson,
    #[serde(rename = "[SEP]")]
    sep: SpecialTokenJson,
}

#[derive(serde::Serialize)]
struct SpecialTokenJson {
    id: &'static str,
    ids: [u32; 1],
    tokens: [&'static str; 1],
}

#[derive(serde::Serialize)]
struct ModelJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    dropout: Option<f32>,
    unk_token: &'static str,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    fuse_unk: bool,
    vocab: VocabInIdOrder<'a>,
    merges: Vec<String>,
}

/// The vocabulary as a JSON object whose keys come in id order.
struct VocabInIdOrder<'a>(&'a [String]);

impl Serialize for VocabInIdOrder<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (id, token) in self.0.iter().enumerate() {
            map.serialize_entry(token, &id)?;
        }
        map.end()
    }
}

/// The sequences of FASTA files, read by `crate::data`.
#[cfg(not(target_arch = "wasm32"))]
#[cfg(test)]
mod tests {
    use super::*;

    fn ok(seqs: &[&str]) -> impl Iterator<Item = Result<String>> + Send {
        seqs.iter()
            .map(|s| Ok(s.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn chunks(seqs: &[&str], opts: &TrainOptions) -> (Vec<String>, SampleStats, Option<String>) {
        let failure = Mutex::new(None);
        let mut it = Chunks::new(ok(seqs), opts, &failure, &|_| {});
        let pieces: Vec<String> = it.by_ref().collect();
        let stats = it.stats;
        drop(it);
        let err = failure.into_inner().unwrap().map(|e| e.to_string());
        (pieces, stats, err)
    }

    #[test]
    fn chunks_split_at_ambiguity_codes_and_chunk_size() {
        let opts = TrainOptions {
            chunk_bp: 3,
            ..TrainOptions::default()
        };
        let (pieces, stats, err) = chunks(&["acgtaNNgRTTTTTTT", "N", "CC"], &opts);
        assert_eq!(err, None);
        assert_eq!(pieces, ["ACG", "TA", "G", "TTT", "TTT", "T", "CC"]);
        assert_eq!(
            stats,
            SampleStats {
                sequences: 3,
                bp: 15,
                ambiguous: 4,
                chunks: 7
            }
        );
    }

    #[test]
    fn caps_stop_reading() {
        let opts = TrainOptions {
            chunk_bp: 4,
            max_bp: Some(6),
            ..TrainOptions::default()
        };
        let (pieces, stats, _) = chunks(&["ACGTACGT", "GGGG"], &opts);
        assert_eq!(pieces, ["ACGT", "AC"]);
        assert_eq!((stats.sequences, stats.bp), (1, 6));
        let opts = TrainOptions {
            max_sequences: Some(2),
            ..TrainOptions::default()
        };
        let (pieces, stats, _) = chunks(&["A", "C", "G"], &opts);
        assert_eq!(pieces, ["A", "C"]);
        assert_eq!(stats.sequences, 2);
    }

    #[test]
    fn bad_symbols_and_source_errors_end_the_stream() {
        let (pieces, _, err) = chunks(&["ACGT", "AC*G"], &TrainOptions::default());
        assert_eq!(pieces, ["ACGT"]);
        assert_eq!(
            err.as_deref(),
            Some("sequence 2: invalid symbol '*' at position 3")
        );
        let failure = Mutex::new(None);
        let source = vec![Ok("AC".to_owned()), Err(Error::Invalid("boom".into()))];
        let opts = TrainOptions::default();
        let pieces: Vec<_> = Chunks::new(source.into_iter(), &opts, &failure, &|_| {}).collect();
        assert_eq!(pieces, ["AC"]);
        assert_eq!(failure.into_inner().unwrap().unwrap().to_string(), "boom");
    }

    #[test]
    fn symbols_are_the_shared_alphabet() {
        let (pieces, stats, err) = chunks(&["acgtNRYSWKMBDHVnrysUu"], &TrainOptions::default());
        assert_eq!(err, None);
        assert_eq!(pieces, ["ACGT", "TT"]);
        assert_eq!(stats.ambiguous, 15);
        for (seq, want) in [("AC1", "'1' at position 3"), ("ACé", "'é' at position 3")] {
            let (_, _, err) = chunks(&[seq], &TrainOptions::default());
            assert!(err.as_deref().unwrap().ends_with(want), "{err:?}");
        }
    }
}
