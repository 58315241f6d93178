//! Tokenizers. DNABERT-2's is a Hugging Face BPE (`tokenizer.json`), run
//! through the `tokenizers` crate so that ids equal the reference's.

pub mod train;

use crate::error::{Error, Result};

/// A tokenized sequence and what the tokenizer could not represent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `[CLS] tokens [SEP]`.
    pub ids: Vec<u32>,
    /// Symbols other than A, C, G, T (after upper-casing): they reach the
    /// model as `[UNK]`, and callers warn about them per record.
    pub unknown_symbols: usize,
}

/// DNABERT-2's BPE tokenizer.
pub struct BpeTokenizer {
    inner: tokenizers::Tokenizer,
}

impl BpeTokenizer {
    /// Reads `tokenizer.json` text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e| Error::Invalid(format!("{origin}: not a usable tokenizer.json ({e})")))?;
        Ok(Self { inner })
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
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            unknown_symbols,
        })
    }
}
