//! Tokenizer files: DNABERT-2's `tokenizer.json` (Hugging Face
//! `tokenizers`) and the `vocab.txt` of DNABERT's k-mers and the
//! Nucleotide Transformer's 6-mers. A tokenizer that loads must encode what
//! the readers pass it (upper-case bases and ambiguity codes) into ids its
//! model's embedding table has.

use super::ORIGIN;
use crate::tokenize::{BpeTokenizer, Encoded, KmerTokenizer, NtTokenizer, Tokenizer};

/// Sequences as the readers hand them over, and lower case (the k-mer
/// tokenizers upper-case their input).
const PROBES: &[&str] = &[
    "",
    "A",
    "ACGT",
    "acgtn",
    "NRYSWKMBDHV",
    "ACGTTGCAAGGCTTAACCGGTTAAGCTAGCTAGGATCCNNACGT",
];

pub fn tokenizer_json(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match BpeTokenizer::from_json(text, ORIGIN) {
        Ok(t) => check_encodings(&t.into(), PROBES),
        Err(e) => assert!(e.to_string().contains(ORIGIN), "{e}"),
    }
}

pub fn vocab_txt(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(t) = KmerTokenizer::from_vocab_txt(text, ORIGIN) {
        let k = t.k();
        let t = Tokenizer::Kmer(t);
        for p in PROBES {
            let ids = t.encode(p).expect("letters encode").ids;
            // [CLS], one id per k-mer, [SEP].
            assert_eq!(ids.len(), p.len().saturating_sub(k - 1) + 2, "{p:?}");
        }
        check_encodings(&t, PROBES);
    }
    match NtTokenizer::from_vocab_txt(text, ORIGIN) {
        Ok(t) => check_encodings(&Tokenizer::Nt(t), &[PROBES, &["<mask>ACGT"]].concat()),
        Err(e) => assert!(e.to_string().contains(ORIGIN), "{e}"),
    }
}

/// Every id fits the embedding table; unknown symbols are counted.
fn check_encodings(t: &Tokenizer, probes: &[&str]) {
    for p in probes {
        let Ok(Encoded {
            ids,
            unknown_symbols,
            spans,
        }) = t.encode(p)
        else {
            continue;
        };
        assert!(unknown_symbols <= p.len(), "{p:?}");
        assert_eq!(spans.len(), ids.len(), "{p:?}: a span per id");
        assert!(
            spans
                .iter()
                .flatten()
                .all(|s| s.start <= s.end && s.end <= p.len()),
            "{p:?}: spans {spans:?} inside the input"
        );
        let rows = t.table_rows_needed();
        assert!(
            ids.iter().all(|&id| (id as usize) < rows),
            "{p:?}: {ids:?} for {rows} rows"
        );
    }
}
