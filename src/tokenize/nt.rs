//! The Nucleotide Transformer's tokenizer (v1 and v2 vocabularies), as
//! Hugging Face `EsmTokenizer` gives its ids: `<cls>`, then left to right
//! the 6-mer starting here if all six are A/C/G/T, else one A/C/G/T/N
//! token; any other run of characters (lower case, IUPAC codes) is one
//! `<unk>` per whitespace-separated piece, and whitespace restarts the grid.
//! The literal text `<mask>` is the mask token. Nothing is appended.

use std::collections::HashMap;

use super::{Encoded, Vocab};
use crate::error::{Error, Result};

pub struct NtTokenizer {
    ids: HashMap<String, u32>,
    vocab_size: usize,
    /// The vocabulary, by id.
    tokens: Vec<String>,
    /// The largest id `encode` can emit (v1's vocab.txt lists `<eos>` and
    /// `<bos>` past its 4,105-row embedding table; they are never emitted).
    max_id: u32,
    unk: u32,
    cls: u32,
    mask: u32,
}

const SPECIALS: [&str; 4] = ["<unk>", "<pad>", "<mask>", "<cls>"];

impl NtTokenizer {
    /// Reads the model's `vocab.txt` (id = line number): `<unk> <pad>
    /// <mask> <cls>`, all 4,096 6-mers and the single tokens A T C G N
    /// (v1 and v2 differ in where they put `<eos>`/`<bos>`).
    pub fn from_vocab_txt(text: &str, origin: &str) -> Result<Self> {
        let vocab = Vocab::read(text, origin)?;
        let id = |name: &str| vocab.require(name, "Nucleotide Transformer");
        for name in SPECIALS.iter().copied().chain(["A", "C", "G", "T", "N"]) {
            id(name)?;
        }
        let sixmers = vocab
            .tokens
            .iter()
            .filter(|t| t.len() == 6 && t.bytes().all(|b| b"ACGT".contains(&b)))
            .count();
        if sixmers != 4096 {
            return Err(Error::Invalid(format!(
                "{origin}: {sixmers} 6-mers, but a Nucleotide Transformer vocabulary has all 4,096"
            )));
        }
        let max_id = SPECIALS
            .iter()
            .map(|s| vocab.ids[*s])
            .chain(
                vocab
                    .tokens
                    .iter()
                    .filter(|t| t.bytes().all(|b| b"ACGTN".contains(&b)))
                    .map(|t| vocab.ids[t]),
            )
            .max()
            .unwrap_or(0);
        Ok(Self {
            max_id,
            vocab_size: vocab.tokens.len(),
            unk: id("<unk>")?,
            cls: id("<cls>")?,
            mask: id("<mask>")?,
            ids: vocab.ids,
            tokens: vocab.tokens,
        })
    }

    /// The token `id` stands for.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn mask_id(&self) -> u32 {
        self.mask
    }

    /// The largest id [`NtTokenizer::encode`] emits.
    pub fn max_id(&self) -> u32 {
        self.max_id
    }

    pub fn encode(&self, seq: &str) -> Result<Encoded> {
        let b = seq.as_bytes();
        let mut ids = vec![self.cls];
        let mut spans = vec![None];
        let mut unknown_symbols = 0;
        // Start of the current run of characters no token covers.
        let mut other: Option<usize> = None;
        let flush = |ids: &mut Vec<u32>,
                     spans: &mut Vec<Option<std::ops::Range<usize>>>,
                     other: &mut Option<usize>,
                     end: usize| {
            if let Some(start) = other.take() {
                for piece in seq[start..end].split_whitespace() {
                    // The piece's byte offset in `seq` (it is a slice of it).
                    let at = piece.as_ptr() as usize - seq.as_ptr() as usize;
                    ids.push(self.unk);
                    spans.push(Some(at..at + piece.len()));
                }
            }
        };
        let mut i = 0;
        while i < b.len() {
            let six = b
                .get(i..i + 6)
                .filter(|w| w.iter().all(|c| b"ACGT".contains(c)));
            let token = if let Some(w) = six {
                Some((self.ids[std::str::from_utf8(w).expect("ASCII")], 6))
            } else if b"ACGTN".contains(&b[i]) {
                Some((self.ids[&seq[i..i + 1]], 1))
            } else if b[i..].starts_with(b"<mask>") {
                Some((self.mask, 6))
            } else {
                None
            };
            match token {
                Some((id, len)) => {
                    flush(&mut ids, &mut spans, &mut other, i);
                    ids.push(id);
                    spans.push(Some(i..i + len));
                    i += len;
                }
                None => {
                    if !b[i].is_ascii_whitespace() {
                        unknown_symbols += 1;
                    }
                    other.get_or_insert(i);
                    // Multi-byte characters stay whole.
                    i += seq[i..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        flush(&mut ids, &mut spans, &mut other, b.len());
        Ok(Encoded {
            ids,
            unknown_symbols,
            spans,
        })
    }
}
