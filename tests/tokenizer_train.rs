//! BPE tokenizer training (`dnagpu::tokenize::train`): DNABERT-2's layout,
//! fixed special and base ids, the requested vocabulary size, learned motifs,
//! FASTA / FASTA.gz streaming and its errors.

use dnagpu::data::FastaSequences;
use dnagpu::tokenize::train::{train_bpe, TrainOptions, TrainedTokenizer};
use dnagpu::tokenize::BpeTokenizer;
use flate2::{write::GzEncoder, Compression};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;

const MOTIF: &str = "GATTACA";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "dnagpu-tokenizer-train-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Records of random bases with `MOTIF` every few bases (fixed seed),
/// lower case, `N` runs and line wrapping included.
fn motif_fasta(records: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut out = String::new();
    for r in 0..records {
        let mut seq = String::new();
        while seq.len() < 400 {
            for _ in 0..1 + next(6) {
                seq.push(b"ACGT"[next(4) as usize] as char);
            }
            seq.push_str(MOTIF);
        }
        if r % 5 == 0 {
            seq.insert_str(100, "NNNNN");
        }
        if r % 7 == 0 {
            seq = seq.to_ascii_lowercase();
        }
        out.push_str(&format!(">rec{r} sample\n"));
        for line in seq.as_bytes().chunks(60) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
    }
    out
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn train_files(paths: &[String], opts: &TrainOptions) -> dnagpu::Result<TrainedTokenizer> {
    train_bpe(FastaSequences::open(paths)?, opts)
}

fn opts(vocab_size: usize) -> TrainOptions {
    TrainOptions {
        vocab_size,
        ..TrainOptions::default()
    }
}

/// The vocabulary as (token, id) in file order.
fn vocab_in_file_order(json: &str) -> Vec<(String, u64)> {
    // serde_json's Value sorts keys: read the object in order instead.
    let start = json.find("\"vocab\": {").expect("a vocab object");
    let end = start + json[start..].find('}').unwrap();
    json[start + "\"vocab\": {".len()..end]
        .split(',')
        .map(|entry| {
            let (k, v) = entry.trim().rsplit_once(':').unwrap();
            (serde_json::from_str(k).unwrap(), v.trim().parse().unwrap())
        })
        .collect()
}

#[test]
fn learns_the_motif_with_dnabert2_ids_and_layout() {
    let dir = tmp("motif");
    let plain = write(&dir, "a.fa", motif_fasta(40).as_bytes());
    let zipped = write(&dir, "b.fasta.gz", &gz(motif_fasta(30).as_bytes()));
    let trained = train_files(&[plain, zipped], &opts(40)).unwrap();
    assert_eq!(trained.vocab_size, 40);
    assert_eq!(trained.sample.sequences, 70);
    assert_eq!(trained.sample.ambiguous, 14 * 5);

    let vocab = vocab_in_file_order(&trained.json);
    assert_eq!(vocab.len(), 40);
    let want_first = [
        "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T",
    ];
    for (id, (token, got_id)) in vocab.iter().enumerate() {
        assert_eq!(*got_id, id as u64, "ids in file order");
        if id < want_first.len() {
            assert_eq!(token, want_first[id]);
        } else {
            assert!(
                token.len() > 1 && token.bytes().all(|b| b"ACGT".contains(&b)),
                "{token}"
            );
        }
    }
    let motif_id = vocab
        .iter()
        .position(|(t, _)| t == MOTIF)
        .expect("motif learned");

    let tok = BpeTokenizer::from_json(&trained.json, "trained").unwrap();
    assert_eq!(tok.vocab_size(), 40);
    assert_eq!(tok.encode(MOTIF).unwrap().ids, [1, motif_id as u32, 2]);
    assert_eq!(tok.encode("gattaca").unwrap().ids, [1, motif_id as u32, 2]);
    let enc = tok.encode("ANC").unwrap();
    assert_eq!((enc.ids, enc.unknown_symbols), (vec![1, 5, 0, 6, 2], 1));

    // Everything but the learned vocabulary and merges equals DNABERT-2's file,
    // text included: same keys, same order, same formatting.
    let shipped = include_str!("../assets/dnabert2/tokenizer.json");
    let head = |json: &str| json[..json.find("\"vocab\": {").unwrap()].to_owned();
    assert_eq!(head(&trained.json), head(shipped));
    let mut ours: Value = serde_json::from_str(&trained.json).unwrap();
    let mut theirs: Value = serde_json::from_str(shipped).unwrap();
    let merges = ours["model"]["merges"].as_array().unwrap().clone();
    assert_eq!(merges.len(), trained.merges);
    assert_eq!(merges.len(), 40 - 9, "no merge repeats a token here");
    for m in &merges {
        let (a, b) = m.as_str().unwrap().split_once(' ').unwrap();
        assert!(
            vocab.iter().any(|(t, _)| *t == format!("{a}{b}")),
            "{a} {b}"
        );
    }
    for doc in [&mut ours, &mut theirs] {
        doc["model"]["vocab"] = Value::Null;
        doc["model"]["merges"] = Value::Null;
    }
    assert_eq!(ours, theirs);
}

#[test]
fn same_input_same_tokenizer() {
    let dir = tmp("determinism");
    let path = write(&dir, "a.fa", motif_fasta(30).as_bytes());
    let small_chunks = TrainOptions {
        chunk_bp: 50,
        ..opts(60)
    };
    let a = train_files(std::slice::from_ref(&path), &small_chunks).unwrap();
    let b = train_files(std::slice::from_ref(&path), &small_chunks).unwrap();
    assert_eq!(a.json, b.json);
    assert_eq!(a.vocab_size, 60);
    let c = train_files(&[path], &opts(60)).unwrap();
    assert_eq!(c.vocab_size, 60);
}

#[test]
fn a_small_sample_learns_what_it_can() {
    let dir = tmp("small");
    // Only A: the alphabet still has C, G, T at 6..8.
    let path = write(&dir, "a.fa", b">x\nAAAAAAAA\n>y\nAAAA\n");
    let trained = train_files(&[path], &opts(4096)).unwrap();
    let vocab = vocab_in_file_order(&trained.json);
    let tokens: Vec<&str> = vocab.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tokens,
        ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T", "AA", "AAAA"]
    );
    // AAAA AAAA is seen once only: below the default minimum frequency 2.
    assert_eq!(trained.vocab_size, 11);
    let tok = BpeTokenizer::from_json(&trained.json, "trained").unwrap();
    assert_eq!(
        tok.encode("AAAAAAAAAAAAAC").unwrap().ids,
        [1, 10, 10, 10, 5, 6, 2]
    );
}

#[test]
fn caps_limit_the_sample() {
    let dir = tmp("caps");
    let path = write(&dir, "a.fa", motif_fasta(20).as_bytes());
    let capped = TrainOptions {
        max_bp: Some(1000),
        ..opts(20)
    };
    let t = train_files(std::slice::from_ref(&path), &capped).unwrap();
    assert_eq!(t.sample.bp, 1000);
    assert_eq!(t.sample.sequences, 3);
    let capped = TrainOptions {
        max_sequences: Some(2),
        ..opts(20)
    };
    let t = train_files(&[path], &capped).unwrap();
    assert_eq!(t.sample.sequences, 2);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tmp("bad");
    let good = write(&dir, "good.fa", b">a\nACGT\n");
    let cases: Vec<(String, String)> = vec![
        (
            write(&dir, "star.fa", b">a\nACGT\n>b desc\nACGTAC\nGG*T\n"),
            "star.fa: record \"b\" (line 3): invalid symbol '*' at position 9".into(),
        ),
        (
            write(&dir, "digit.fa.gz", &gz(b">chr1\nAC1\n")),
            "digit.fa.gz: record \"chr1\" (line 1): invalid symbol '1' at position 3".into(),
        ),
        (
            write(&dir, "empty.fa", b""),
            "empty.fa: no sequences found".into(),
        ),
        (
            write(&dir, "header.fa", b">a\n>b\nAC\n"),
            "header.fa: record \"a\" (line 1): empty sequence".into(),
        ),
        (
            write(&dir, "plain.fa", b"ACGT\n"),
            "plain.fa: line 1: sequence data before the first '>' header".into(),
        ),
    ];
    for (path, want) in cases {
        let msg = train_files(&[good.clone(), path], &opts(20))
            .unwrap_err()
            .to_string();
        assert!(msg.ends_with(&want), "{msg}\nwanted: …{want}");
    }
    let missing = dir.join("missing.fa").to_string_lossy().into_owned();
    let msg = FastaSequences::open(&[good.clone(), missing.clone()])
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with(&format!("cannot read {missing}: ")),
        "{msg}"
    );
    let msg = FastaSequences::open(&[dir.to_string_lossy().into_owned()])
        .err()
        .unwrap()
        .to_string();
    assert!(msg.ends_with("it is a folder"), "{msg}");
    let only_n = write(&dir, "n.fa", b">a\nNNNN\n");
    let msg = train_files(&[only_n], &opts(20)).unwrap_err().to_string();
    assert!(msg.starts_with("no A/C/G/T bases to train on"), "{msg}");
    let msg = train_files(&[good], &opts(8)).unwrap_err().to_string();
    assert!(msg.contains("vocabulary size 8 is below 9"), "{msg}");
}

#[test]
fn plain_sequences_train_too() {
    let seqs = ["ACGTACGTACGT", "acgtnacgt", "TTTT"].map(|s| Ok(s.to_owned()));
    let t = train_bpe(seqs.into_iter(), &opts(12)).unwrap();
    assert_eq!(t.vocab_size, 12);
    assert_eq!(
        (t.sample.sequences, t.sample.bp, t.sample.ambiguous),
        (3, 24, 1)
    );
    let msg = train_bpe(
        ["AC", "A-C"].map(|s| Ok(s.to_owned())).into_iter(),
        &opts(12),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(msg, "sequence 2: invalid symbol '-' at position 2");
}
