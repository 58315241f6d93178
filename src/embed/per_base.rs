//! Per-base vectors (`embed --pooling none --per-base`): base i of a
//! sequence takes the mean of the states of the tokens whose bases include
//! it, special tokens excluded: one token for BPE and the Nucleotide
//! Transformer's 6-mers, the k overlapping k-mers over it for DNABERT
//! (fewer within k - 1 bases of either end). N and other symbols outside
//! A, C, G, T belong to the `[UNK]` (`<unk>`) token that stands for them, as
//! any base belongs to its token. A base that no token covers (a sequence
//! shorter than DNABERT's k) is an error.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;

/// [bases, H] from a sequence's per-token states `states` [T, H], the
/// tokens' base spans `spans` (`None` for specials, as
/// [`crate::tokenize::Encoded`] gives them) and its length in bases.
pub fn spread(
    spans: &[Option<Range<usize>>],
    bases: usize,
    states: &[f32],
    hidden: usize,
) -> Result<Vec<f32>> {
    if states.len() != spans.len() * hidden {
        return Err(Error::Invalid(format!(
            "{} values for {} tokens of width {hidden}",
            states.len(),
            spans.len()
        )));
    }
    let mut sum = vec![0f64; bases * hidden];
    let mut count = vec![0u32; bases];
    for (row, span) in states.chunks(hidden.max(1)).zip(spans) {
        for b in span.clone().into_iter().flatten().filter(|&b| b < bases) {
            count[b] += 1;
            for (s, &v) in sum[b * hidden..(b + 1) * hidden].iter_mut().zip(row) {
                *s += v as f64;
            }
        }
    }
    if let Some(b) = count.iter().position(|&c| c == 0) {
        return Err(Error::Invalid(format!(
            "base {} is in no token (a sequence shorter than the model's k-mer): it has no per-base vector",
            b + 1
        )));
    }
    Ok(sum
        .chunks(hidden.max(1))
        .zip(&count)
        .flat_map(|(row, &c)| row.iter().map(move |&s| (s / c as f64) as f32))
        .collect())
}

/// [`spread`] for `seq` as `tokenizer` cuts it; `states` [T, H] are its
/// tokens' states, special tokens included.
pub fn per_base(
    tokenizer: &Tokenizer,
    seq: &str,
    states: &[f32],
    hidden: usize,
) -> Result<Vec<f32>> {
    let enc = tokenizer.encode(seq)?;
    spread(&enc.spans, seq.len(), states, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_kmers_average_and_single_tokens_copy() {
        // [CLS], 3-mers at 0..3, 1..4, 2..5, [SEP] over 5 bases; width 1.
        let spans = [None, Some(0..3), Some(1..4), Some(2..5), None];
        let states = [100.0, 1.0, 2.0, 4.0, 100.0];
        let got = spread(&spans, 5, &states, 1).unwrap();
        assert_eq!(got, [1.0, 1.5, 7.0 / 3.0, 3.0, 4.0]);
        // Tiling tokens (BPE, 6-mers): each base copies its token; width 2.
        let spans = [None, Some(0..2), Some(2..3)];
        let got = spread(&spans, 3, &[9.0, 9.0, 1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(got, [1.0, 2.0, 1.0, 2.0, 3.0, 4.0]);
        // A base in no token, and a state count that does not fit.
        assert!(spread(&[None, None], 2, &[0.0, 0.0], 1).is_err());
        assert!(spread(&spans, 3, &[0.0; 5], 2).is_err());
    }
}
