//! The four commands that read sequences (embed and classify through
//! `read_path`, tokenizer training through `FastaSequences` and the BPE
//! trainer, pretraining through the streamed corpus) agree on every byte:
//! the same symbols are accepted, and read as the same bases.

use super::alphabet::{symbol, Symbol};
use super::{read_path, FastaSequences, InvalidPolicy};
use crate::tokenize::train::{train_bpe, TrainOptions};
use crate::train::corpus::{Chunks, CorpusOptions};
use std::path::PathBuf;

/// What one command made of `>r\nAC?GT\n`: whether it took the record, and
/// the bases and ambiguity codes it read.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    accepted: bool,
    bases: usize,
    ambiguous: usize,
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dnagpu-alphabet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn embed(path: &str) -> Reading {
    match read_path(path, InvalidPolicy::Error) {
        Ok(out) => {
            let seq = &out.records[0].seq;
            let bases = seq.bytes().filter(|b| b"ACGT".contains(b)).count();
            Reading {
                accepted: true,
                bases,
                ambiguous: seq.len() - bases,
            }
        }
        Err(_) => Reading {
            accepted: false,
            bases: 0,
            ambiguous: 0,
        },
    }
}

fn pretrain(path: &str) -> Reading {
    let opts = CorpusOptions {
        chunk_bp: 100,
        min_bp: 1,
    };
    let mut chunks = Chunks::new(&[PathBuf::from(path)], opts).unwrap();
    match chunks.by_ref().collect::<crate::error::Result<Vec<_>>>() {
        Ok(_) => Reading {
            accepted: true,
            bases: chunks.stats.bases as usize,
            ambiguous: chunks.stats.ambiguous as usize,
        },
        Err(_) => Reading {
            accepted: false,
            bases: 0,
            ambiguous: 0,
        },
    }
}

fn tokenizer_train(path: &str) -> Reading {
    let sequences = FastaSequences::open(&[path.to_owned()]).unwrap();
    let opts = TrainOptions {
        vocab_size: 9,
        ..TrainOptions::default()
    };
    match train_bpe(sequences, &opts) {
        Ok(t) => Reading {
            accepted: true,
            bases: t.sample.bp as usize,
            ambiguous: t.sample.ambiguous as usize,
        },
        Err(_) => Reading {
            accepted: false,
            bases: 0,
            ambiguous: 0,
        },
    }
}

#[test]
fn every_command_reads_every_symbol_alike() {
    // Whitespace and '>' are FASTA structure, not symbols.
    for b in (0..=255u8).filter(|&b| !b.is_ascii_whitespace() && b != b'>') {
        let mut fasta = b">r\nAC".to_vec();
        fasta.extend([b, b'G', b'T', b'\n']);
        let path = write(&format!("sym{b}.fa"), &fasta);
        let path = path.to_string_lossy().into_owned();
        let want = match symbol(b) {
            // Non-ASCII bytes are not UTF-8 text here, also an error.
            _ if !b.is_ascii() => None,
            Symbol::Base(_) => Some((5, 0)),
            Symbol::Ambiguous(_) => Some((4, 1)),
            Symbol::Invalid => None,
        };
        let want = Reading {
            accepted: want.is_some(),
            bases: want.map_or(0, |w| w.0),
            ambiguous: want.map_or(0, |w| w.1),
        };
        let byte = char::from(b);
        assert_eq!(embed(&path), want, "embed/classify, {byte:?}");
        assert_eq!(pretrain(&path), want, "pretrain, {byte:?}");
        assert_eq!(tokenizer_train(&path), want, "tokenizer train, {byte:?}");
    }
}

#[test]
fn rna_u_reads_as_t_everywhere() {
    let path = write("rna.fa", b">r\nacgu\nUU\n");
    let path = path.to_string_lossy().into_owned();
    let out = read_path(&path, InvalidPolicy::Error).unwrap();
    assert_eq!(out.records[0].seq, "ACGTTT");
    let opts = CorpusOptions {
        chunk_bp: 100,
        min_bp: 1,
    };
    let pieces: Vec<String> = Chunks::new(&[PathBuf::from(&path)], opts)
        .unwrap()
        .collect::<crate::error::Result<_>>()
        .unwrap();
    assert_eq!(pieces, ["ACGTTT"]);
    let seqs: Vec<String> = FastaSequences::open(&[path])
        .unwrap()
        .collect::<crate::error::Result<_>>()
        .unwrap();
    assert_eq!(seqs, ["ACGTTT"]);
}
