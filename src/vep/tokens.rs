//! A window as the model reads it: its token ids and its masked set, the
//! tokens (specials excluded) whose bases meet the allele's span: one
//! token for BPE and the Nucleotide Transformer's 6-mers (more when the
//! allele crosses a token boundary), k or more for overlapping k-mers.

use super::windows::Window;
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;

/// One tokenized window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// The window's ids, special tokens included.
    pub ids: Vec<u32>,
    /// Positions in `ids` of the masked set, ascending.
    pub masked: Vec<usize>,
}

impl Tokens {
    /// Tokenizes `w` and finds its masked set; a window in which no token
    /// covers the allele (a chromosome shorter than one k-mer) is an error.
    pub fn of(tokenizer: &Tokenizer, w: &Window) -> Result<Self> {
        let enc = tokenizer.encode(&w.seq)?;
        let masked: Vec<usize> = enc
            .spans
            .iter()
            .enumerate()
            .filter_map(|(i, span)| {
                let s = span.as_ref()?;
                (s.start < w.allele.end && w.allele.start < s.end).then_some(i)
            })
            .collect();
        if masked.is_empty() {
            return Err(Error::Invalid(format!(
                "no token of the {} bp window covers the allele at bases {}..{}",
                w.seq.len(),
                w.allele.start,
                w.allele.end
            )));
        }
        Ok(Self {
            ids: enc.ids,
            masked,
        })
    }

    /// The ids with every token of the masked set replaced by `mask_id`.
    pub fn masked_ids(&self, mask_id: u32) -> Vec<u32> {
        let mut ids = self.ids.clone();
        for &i in &self.masked {
            ids[i] = mask_id;
        }
        ids
    }
}

/// The four windows of one ALT allele, in the order they are scored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlleleTokens {
    pub ref_fwd: Tokens,
    pub alt_fwd: Tokens,
    pub ref_rev: Tokens,
    pub alt_rev: Tokens,
}

impl AlleleTokens {
    /// Tokenizes both strands of the REF and ALT windows.
    pub fn of(tokenizer: &Tokenizer, reference: &Window, alternate: &Window) -> Result<Self> {
        Ok(Self {
            ref_fwd: Tokens::of(tokenizer, reference)?,
            alt_fwd: Tokens::of(tokenizer, alternate)?,
            ref_rev: Tokens::of(tokenizer, &reference.reverse_complement())?,
            alt_rev: Tokens::of(tokenizer, &alternate.reverse_complement())?,
        })
    }

    /// [ref_fwd, alt_fwd, ref_rev, alt_rev].
    pub fn all(&self) -> [&Tokens; 4] {
        [&self.ref_fwd, &self.alt_fwd, &self.ref_rev, &self.alt_rev]
    }

    /// The longest of the four, in tokens.
    pub fn longest(&self) -> usize {
        self.all().iter().map(|t| t.ids.len()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{KmerTokenizer, NtTokenizer};

    fn window(seq: &str, allele: std::ops::Range<usize>) -> Window {
        Window {
            seq: seq.into(),
            allele,
        }
    }

    #[test]
    fn kmers_mask_every_kmer_over_the_allele() {
        let vocab = include_str!("../../tests/fixtures/dnabert_tiny/vocab.txt");
        let t = Tokenizer::Kmer(KmerTokenizer::from_vocab_txt(vocab, "vocab.txt").unwrap());
        // 3-mers of ACGTACG: 5 tokens after [CLS]; base 3 lies in k-mers 1..=3.
        let tok = Tokens::of(&t, &window("ACGTACG", 3..4)).unwrap();
        assert_eq!(tok.masked, [2, 3, 4]);
        let mask = t.mask_id().unwrap();
        let m = tok.masked_ids(mask);
        assert_eq!(m[1], tok.ids[1]);
        assert!(m[2..5].iter().all(|&id| id == mask));
        // Near the start only the k-mers that exist.
        assert_eq!(
            Tokens::of(&t, &window("ACGTACG", 0..1)).unwrap().masked,
            [1]
        );
        assert!(Tokens::of(&t, &window("AC", 0..1)).is_err());
    }

    #[test]
    fn nt_masks_the_six_mers_and_single_bases_it_meets() {
        let vocab = include_str!("../../tests/fixtures/nt_v2_tiny/vocab.txt");
        let t = Tokenizer::Nt(NtTokenizer::from_vocab_txt(vocab, "vocab.txt").unwrap());
        // ACGTAC GTACGT A C: 6-mers at 0 and 6, then single bases.
        let seq = "ACGTACGTACGTAC";
        assert_eq!(Tokens::of(&t, &window(seq, 2..3)).unwrap().masked, [1]);
        assert_eq!(Tokens::of(&t, &window(seq, 5..7)).unwrap().masked, [1, 2]);
        assert_eq!(Tokens::of(&t, &window(seq, 13..14)).unwrap().masked, [4]);
        // N is a single token.
        let tok = Tokens::of(&t, &window("ACNGTACGT", 2..3)).unwrap();
        assert_eq!((tok.ids.len(), tok.masked.clone()), (5, vec![3]));
    }

    #[test]
    fn bpe_masks_the_tokens_over_the_allele() {
        let t = Tokenizer::from(crate::tokenize::BpeTokenizer::dnabert2());
        let seq = "ACGTTAGCCATGGATTACAGGCATGCA";
        let enc = t.encode(seq).unwrap();
        assert_eq!(enc.spans.first(), Some(&None));
        assert_eq!(enc.spans.last(), Some(&None));
        // The spans tile the sequence.
        let mut at = 0;
        for s in enc.spans.iter().flatten() {
            assert_eq!(s.start, at);
            at = s.end;
        }
        assert_eq!(at, seq.len());
        for base in 0..seq.len() {
            let tok = Tokens::of(&t, &window(seq, base..base + 1)).unwrap();
            assert_eq!(tok.masked.len(), 1);
            let span = enc.spans[tok.masked[0]].clone().unwrap();
            assert!(span.contains(&base));
        }
    }
}
