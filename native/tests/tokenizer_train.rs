//! `dnagpu tokenizer train` end to end: a FASTA.gz in, a tokenizer.json that
//! loads out; bad input fails clearly and leaves an existing output alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use dnagpu::tokenize::BpeTokenizer;

fn dnagpu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dnagpu"));
    c.env_remove("DNAGPU_BACKEND");
    c
}

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().expect("the dnagpu binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "dnagpu-cli-tokenizer-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*block);
    }
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// Random records with GGATCC every few bases (fixed seed).
fn fasta() -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = String::new();
    for r in 0..30 {
        out.push_str(&format!(">r{r}\n"));
        for _ in 0..60 {
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                out.push(b"ACGT"[(state % 4) as usize] as char);
            }
            out.push_str("GGATCC");
        }
        out.push('\n');
    }
    out
}

fn train(data: &[&Path], output: &Path, extra: &[&str]) -> (bool, String) {
    let mut c = dnagpu();
    c.args(["tokenizer", "train", "--data"]).args(data);
    c.arg("--output").arg(output).args(extra);
    run(&mut c)
}

#[test]
fn trains_a_loadable_tokenizer_from_fasta_gz() {
    let dir = tmp("ok");
    let data = dir.join("reads.fa.gz");
    std::fs::write(&data, gzip(fasta().as_bytes())).unwrap();
    let out = dir.join("tokenizer.json");
    let (ok, err) = train(&[&data], &out, &["--vocab-size", "32"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("learned 32 tokens (23 merges) from 30 sequences, 16.20 kbp"),
        "{err}"
    );
    let tok = BpeTokenizer::from_json(&std::fs::read_to_string(&out).unwrap(), "out").unwrap();
    assert_eq!(tok.vocab_size(), 32);
    let ids = tok.encode("GGATCC").unwrap().ids;
    assert_eq!(ids.len(), 3, "the motif is one token: {ids:?}");
    assert!(ids[1] >= 9);
    for (base, id) in ["A", "C", "G", "T"].iter().zip(5..) {
        assert_eq!(tok.encode(base).unwrap().ids, [1, id, 2]);
    }

    // Caps, and a vocabulary the sample cannot fill.
    let (ok, err) = train(
        &[&data],
        &out,
        &[
            "--vocab-size",
            "5000",
            "--max-bp",
            "1k",
            "--min-frequency",
            "3",
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("warning: learned "), "{err}");
    assert!(err.contains("1000 bp") || err.contains("1.00 kbp"), "{err}");
}

#[test]
fn bad_input_fails_and_keeps_the_old_output() {
    let dir = tmp("bad");
    let out = dir.join("tokenizer.json");
    std::fs::write(&out, "old").unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = write("good.fa", b">a\nACGTACGT\n");
    let cases = [
        (
            write("star.fa", b">a\nAC\n>chr2 x\nACG*T\n"),
            "star.fa: record \"chr2\" (line 3): invalid symbol '*' at position 4",
        ),
        (
            write("one.fa.gz", &gzip(b">s1\nAC1\n")),
            "one.fa.gz: record \"s1\" (line 1): invalid symbol '1' at position 3",
        ),
        (write("empty.fa", b""), "empty.fa: no sequences found"),
        (dir.join("missing.fa"), "missing.fa: "),
    ];
    for (path, want) in &cases {
        let (ok, err) = train(&[&good, path], &out, &[]);
        assert!(!ok, "{path:?} was accepted");
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    }
    let (ok, err) = train(&[&good], &out, &["--vocab-size", "8"]);
    assert!(!ok && err.contains("--vocab-size"), "{err}");
    let (ok, err) = train(&[&good], &dir.join("no/such/dir/t.json"), &[]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, err) = run(dnagpu().args(["tokenizer", "train", "--output", "x.json"]));
    assert!(!ok && err.contains("--data"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
}
