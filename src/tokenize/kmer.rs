//! DNABERT's tokenizer: overlapping k-mers (stride 1, k = 3..6) looked up in
//! its `vocab.txt`, as DNABERT's `seq2kmer` + Hugging Face `BertTokenizer`
//! (`do_lower_case` false) give them: `[CLS] kmer_0 … kmer_{n-k} [SEP]`,
//! any k-mer that is not in the vocabulary (N, lower case, IUPAC codes) one
//! `[UNK]`. Ids are checked against that class (tests/other_tokenizers.rs).

use std::collections::HashMap;

use super::{Encoded, Vocab};
use crate::error::{Error, Result};

pub struct KmerTokenizer {
    k: usize,
    ids: HashMap<String, u32>,
    vocab_size: usize,
    /// The vocabulary, by id.
    tokens: Vec<String>,
    unk: u32,
    cls: u32,
    sep: u32,
    mask: u32,
}

impl KmerTokenizer {
    /// Reads DNABERT's `vocab.txt` (one token per line, id = line number):
    /// the five BERT specials and every k-mer of one length k.
    pub fn from_vocab_txt(text: &str, origin: &str) -> Result<Self> {
        let vocab = Vocab::read(text, origin)?;
        let special = |name: &str| vocab.require(name, "DNABERT (BERT)");
        let (unk, cls, sep) = (special("[UNK]")?, special("[CLS]")?, special("[SEP]")?);
        special("[PAD]")?;
        let mask = special("[MASK]")?;
        let kmers: Vec<(usize, &String)> = vocab
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.starts_with('['))
            .collect();
        let k = kmers.first().map_or(0, |(_, t)| t.len());
        if !(3..=6).contains(&k) {
            return Err(Error::Invalid(format!(
                "{origin}: the first k-mer has length {k}: DNABERT vocabularies have k = 3..6"
            )));
        }
        for &(line, t) in &kmers {
            if t.len() != k || !t.bytes().all(|b| b"ACGT".contains(&b)) {
                return Err(Error::Invalid(format!(
                    "{origin}:{}: token `{t}` is not a {k}-mer of A, C, G, T (the vocabulary's k, from its first k-mer, is {k})",
                    line + 1
                )));
            }
        }
        if kmers.len() != 4usize.pow(k as u32) {
            return Err(Error::Invalid(format!(
                "{origin}: {} {k}-mers, but a k = {k} vocabulary has all 4^{k} = {}",
                kmers.len(),
                4usize.pow(k as u32)
            )));
        }
        Ok(Self {
            k,
            vocab_size: vocab.tokens.len(),
            ids: vocab.ids,
            tokens: vocab.tokens,
            unk,
            cls,
            sep,
            mask,
        })
    }

    pub fn k(&self) -> usize {
        self.k
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

    /// `seq` as ids. Only letters: whitespace and punctuation would be
    /// split by BERT's pre-tokenizer into several tokens, which DNABERT
    /// never does, so they are an error here.
    pub fn encode(&self, seq: &str) -> Result<Encoded> {
        if let Some(c) = seq.chars().find(|c| !c.is_ascii_alphabetic()) {
            return Err(Error::Invalid(format!(
                "symbol {c:?} in a sequence: DNABERT's tokenizer takes letters only"
            )));
        }
        let b = seq.as_bytes();
        let mut ids = Vec::with_capacity(b.len().saturating_sub(self.k) + 3);
        ids.push(self.cls);
        if b.len() >= self.k {
            for w in b.windows(self.k) {
                let kmer = std::str::from_utf8(w).expect("ASCII");
                ids.push(self.ids.get(kmer).copied().unwrap_or(self.unk));
            }
        }
        ids.push(self.sep);
        // k-mer i covers bases i..i + k.
        let mut spans = vec![None];
        spans.extend((0..ids.len() - 2).map(|i| Some(i..i + self.k)));
        spans.push(None);
        Ok(Encoded {
            ids,
            unknown_symbols: b.iter().filter(|c| !b"ACGT".contains(c)).count(),
            spans,
        })
    }
}
