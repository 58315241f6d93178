//! Tokenizers. DNABERT-2's is a Hugging Face BPE (`tokenizer.json`), run
//! through the `tokenizers` crate so that ids equal the reference's;
//! DNABERT's overlapping k-mers (`kmer`) and the Nucleotide Transformer's
//! 6-mers (`nt`) are written here, checked against the Hugging Face classes.

mod bpe_guard;
pub mod kmer;
pub mod nt;
pub mod train;

pub use kmer::KmerTokenizer;
pub use nt::NtTokenizer;

use crate::error::{Error, Result};

/// A tokenized sequence and what the tokenizer could not represent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `[CLS] tokens [SEP]`.
    pub ids: Vec<u32>,
    /// Symbols other than A, C, G, T (after upper-casing): they reach the
    /// model as `[UNK]`, and callers warn about them per record.
    pub unknown_symbols: usize,
    /// Per id, the bases it stands for: a byte range of the input, `None`
    /// for the special tokens (`[CLS]`, `[SEP]`). Overlapping k-mers have
    /// overlapping spans; variant scoring masks the tokens whose span meets
    /// an allele.
    pub spans: Vec<Option<std::ops::Range<usize>>>,
}

/// A `vocab.txt`: one token per line, id = line number (a final newline is
/// not a token). Empty lines and repeated tokens are errors.
pub(crate) struct Vocab {
    pub tokens: Vec<String>,
    pub ids: std::collections::HashMap<String, u32>,
    origin: String,
}

impl Vocab {
    pub fn read(text: &str, origin: &str) -> Result<Self> {
        let mut ids = std::collections::HashMap::new();
        let mut tokens = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_end_matches('\r');
            if t.is_empty() {
                return Err(Error::Invalid(format!(
                    "{origin}:{}: empty line in vocab.txt",
                    i + 1
                )));
            }
            if ids.insert(t.to_string(), i as u32).is_some() {
                return Err(Error::Invalid(format!(
                    "{origin}:{}: token `{t}` appears twice",
                    i + 1
                )));
            }
            tokens.push(t.to_string());
        }
        if tokens.is_empty() {
            return Err(Error::Invalid(format!("{origin}: vocab.txt is empty")));
        }
        Ok(Self {
            tokens,
            ids,
            origin: origin.to_string(),
        })
    }

    /// The id of `name`, which a `family` vocabulary must have.
    pub fn require(&self, name: &str, family: &str) -> Result<u32> {
        self.ids.get(name).copied().ok_or_else(|| {
            Error::Invalid(format!(
                "{}: no `{name}` token: not a {family} vocab.txt",
                self.origin
            ))
        })
    }
}

/// The tokenizer a model folder names: DNABERT-2's BPE (`tokenizer.json`),
/// DNABERT's overlapping k-mers or the Nucleotide Transformer's 6-mers
/// (`vocab.txt`).
pub enum Tokenizer {
    /// Boxed: it is much larger than the vocab.txt tokenizers.
    Bpe(Box<BpeTokenizer>),
    Kmer(KmerTokenizer),
    Nt(NtTokenizer),
}

impl Tokenizer {
    /// Upper-cases `seq` (the k-mer vocabularies have upper case only, as
    /// the model cards say to feed them) and encodes it with the model's
    /// special tokens.
    pub fn encode(&self, seq: &str) -> Result<Encoded> {
        match self {
            Tokenizer::Bpe(t) => t.encode(seq),
            Tokenizer::Kmer(t) => t.encode(&seq.to_ascii_uppercase()),
            Tokenizer::Nt(t) => t.encode(&seq.to_ascii_uppercase()),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Bpe(t) => t.vocab_size(),
            Tokenizer::Kmer(t) => t.vocab_size(),
            Tokenizer::Nt(t) => t.vocab_size(),
        }
    }

    /// How many rows of the model's embedding table the ids can reach.
    pub fn table_rows_needed(&self) -> usize {
        match self {
            Tokenizer::Nt(t) => t.max_id() as usize + 1,
            t => t.vocab_size(),
        }
    }

    /// Whether encodings end with a separator ([SEP]); the Nucleotide
    /// Transformer's only start with <cls>.
    pub fn ends_with_separator(&self) -> bool {
        !matches!(self, Tokenizer::Nt(_))
    }

    /// The tokenizer's file in a model folder.
    pub fn file_name(&self) -> &'static str {
        match self {
            Tokenizer::Bpe(_) => "tokenizer.json",
            Tokenizer::Kmer(_) | Tokenizer::Nt(_) => "vocab.txt",
        }
    }

    /// The most bases one token covers: `n` bases make at least
    /// `n / most_bases_per_token()` tokens, known before tokenizing (a
    /// chromosome is refused without the minutes its tokenization takes).
    pub fn most_bases_per_token(&self) -> usize {
        match self {
            Tokenizer::Bpe(t) => t.longest_token,
            // Overlapping k-mers: one token per base (after the first k-1).
            Tokenizer::Kmer(_) => 1,
            Tokenizer::Nt(_) => 6,
        }
    }

    /// The mask token's id (`[MASK]`, `<mask>`), if the vocabulary has one.
    pub fn mask_id(&self) -> Option<u32> {
        match self {
            Tokenizer::Bpe(t) => t.inner.token_to_id("[MASK]"),
            Tokenizer::Kmer(t) => Some(t.mask_id()),
            Tokenizer::Nt(t) => Some(t.mask_id()),
        }
    }

    /// The text of token `id` (`[CLS]`, `ACGTTA`, ...), if the vocabulary has it.
    pub fn token(&self, id: u32) -> Option<String> {
        match self {
            Tokenizer::Bpe(t) => t.inner.id_to_token(id),
            Tokenizer::Kmer(t) => t.token(id).map(str::to_owned),
            Tokenizer::Nt(t) => t.token(id).map(str::to_owned),
        }
    }

    /// The BPE tokenizer, for what only DNABERT-2's models do (pretraining).
    pub fn bpe(&self) -> Option<&BpeTokenizer> {
        match self {
            Tokenizer::Bpe(t) => Some(t.as_ref()),
            _ => None,
        }
    }
}

impl From<BpeTokenizer> for Tokenizer {
    fn from(t: BpeTokenizer) -> Self {
        Tokenizer::Bpe(Box::new(t))
    }
}

/// DNABERT-2's BPE tokenizer.
pub struct BpeTokenizer {
    inner: tokenizers::Tokenizer,
    /// Bases in the longest token of the vocabulary.
    longest_token: usize,
}

impl BpeTokenizer {
    /// Reads `tokenizer.json` text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        bpe_guard::check_text(text)
            .map_err(|e| Error::Invalid(format!("{origin}: not a usable tokenizer.json ({e})")))?;
        let inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e| Error::Invalid(format!("{origin}: not a usable tokenizer.json ({e})")))?;
        bpe_guard::check(&inner)
            .map_err(|e| Error::Invalid(format!("{origin}: not a usable tokenizer.json: {e}")))?;
        let longest_token = inner
            .get_vocab(false)
            .keys()
            .filter(|t| !t.starts_with('['))
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(1);
        Ok(Self {
            inner,
            longest_token,
        })
    }

    /// The text of the real DNABERT-2 `tokenizer.json`, shipped in the repository.
    pub const DNABERT2_JSON: &'static str = include_str!("../../assets/dnabert2/tokenizer.json");

    /// The real DNABERT-2 tokenizer.
    pub fn dnabert2() -> Self {
        Self::from_json(Self::DNABERT2_JSON, "assets/dnabert2/tokenizer.json")
            .expect("the shipped tokenizer.json parses")
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Upper-cases `seq` and encodes it with the special tokens.
    pub fn encode(&self, seq: &str) -> Result<Encoded> {
        let upper = seq.to_ascii_uppercase();
        let unknown_symbols = upper
            .bytes()
            .filter(|b| !matches!(b, b'A' | b'C' | b'G' | b'T'))
            .count();
        let enc = self.inner.encode(upper.as_str(), true).map_err(|e| {
            Error::Invalid(format!("tokenizing a sequence of {} bp: {e}", seq.len()))
        })?;
        // Offsets index the upper-cased text, which is the input's length.
        let spans = enc
            .get_offsets()
            .iter()
            .zip(enc.get_special_tokens_mask())
            .map(|(&(a, b), &special)| (special == 0).then_some(a..b))
            .collect();
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            unknown_symbols,
            spans,
        })
    }
}
