//! Builds a decontaminated pretraining corpus from the GUE train splits.
//!
//! Train sequences sharing a k-bp window (either strand) with any dev/test
//! sequence of any subset are dropped, then exact duplicates across subsets;
//! the rest are shuffled (seeded) and written as FASTA (gzip for `.gz`), with
//! a per-subset table on stdout and in `<output>.stats.json`.
//!
//! `cargo run --release --example gue_corpus -- --gue DIR --output corpus.fa.gz`

use dnagpu::data::{read_path, InvalidPolicy};
use dnagpu::rng::Rng;
use flate2::{write::GzEncoder, Compression};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Calls `f(forward, reverse_complement)` for every k-bp window of `seq` made of
/// A/C/G/T only (1 <= k <= 32), 2 bits per base, first base in the highest bits.
fn for_each_kmer(seq: &[u8], k: usize, mut f: impl FnMut(u64, u64)) {
    assert!((1..=32).contains(&k), "window must be 1..=32");
    let mask = u64::MAX >> (64 - 2 * k);
    let (mut fwd, mut rc, mut valid) = (0u64, 0u64, 0usize);
    for &b in seq {
        let Some(code) = b"ACGT".iter().position(|&c| c == b.to_ascii_uppercase()) else {
            valid = 0;
            continue;
        };
        let code = code as u64; // A=0 C=1 G=2 T=3; complement = 3 - code
        fwd = ((fwd << 2) | code) & mask;
        rc = (rc >> 2) | ((3 - code) << (2 * (k - 1)));
        valid += 1;
        if valid >= k {
            f(fwd, rc);
        }
    }
}

/// Sorted, deduplicated canonical k-mers (the smaller of a window and its
/// reverse complement): two windows match on either strand exactly when
/// their canonical forms are equal.
struct KmerSet(Vec<u64>);

impl KmerSet {
    fn build(seqs: &[String], k: usize) -> Self {
        let mut all = Vec::new();
        for s in seqs {
            for_each_kmer(s.as_bytes(), k, |f, r| all.push(f.min(r)));
        }
        all.sort_unstable();
        all.dedup();
        KmerSet(all)
    }

    /// Whether any k-bp window of `seq` (either strand) is in the set.
    fn hits(&self, seq: &str, k: usize) -> bool {
        let mut hit = false;
        for_each_kmer(seq.as_bytes(), k, |f, r| {
            hit = hit || self.0.binary_search(&f.min(r)).is_ok();
        });
        hit
    }
}

#[derive(Default, serde::Serialize)]
struct SubsetStats {
    subset: String,
    train_rows: usize,
    dropped_overlap: usize,
    dropped_duplicate: usize,
    kept: usize,
    kept_bp: usize,
}

/// `--gue DIR --output FILE [--window 32] [--seed 0]`.
fn parse_args() -> Res<(PathBuf, PathBuf, usize, u64)> {
    let (mut gue, mut output, mut window, mut seed) = (None, None, 32, 0);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--gue" => gue = Some(PathBuf::from(value()?)),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--window" => window = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            _ => return Err(format!("unknown argument {flag}").into()),
        }
    }
    let usage = "usage: gue_corpus --gue DIR --output FILE [--window 32] [--seed 0]";
    let window = Some(window)
        .filter(|w| (1..=32).contains(w))
        .ok_or("--window must be 1..=32")?;
    Ok((gue.ok_or(usage)?, output.ok_or(usage)?, window, seed))
}

/// Every `<task>/<subset>` directory under the GUE root, sorted.
fn subsets(root: &Path) -> Res<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let tasks = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for task in tasks {
        let task = task?.path();
        if !task.is_dir() {
            continue;
        }
        for sub in std::fs::read_dir(&task)? {
            let sub = sub?.path();
            if sub.is_dir() {
                let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
                out.push((format!("{}_{}", name(&task), name(&sub)), sub));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The sequences of `<dir>/<split>.csv` or `<dir>/<split>.csv.gz`; `None` if neither exists.
fn read_split(dir: &Path, split: &str) -> Res<Option<Vec<String>>> {
    for name in [format!("{split}.csv"), format!("{split}.csv.gz")] {
        let path = dir.join(name);
        if path.is_file() {
            let read = read_path(&path.to_string_lossy(), InvalidPolicy::Error)?;
            return Ok(Some(read.records.into_iter().map(|r| r.seq).collect()));
        }
    }
    Ok(None)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Res<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn main() -> Res<()> {
    let (gue, output, k, seed) = parse_args()?;
    let subsets = subsets(&gue)?;

    let mut eval = Vec::new();
    for (_, dir) in &subsets {
        for split in ["dev", "test"] {
            eval.extend(read_split(dir, split)?.unwrap_or_default());
        }
    }
    let set = KmerSet::build(&eval, k);
    let (n_eval, n_kmers) = (eval.len(), set.0.len());
    eprintln!("{n_eval} dev/test sequences, {n_kmers} canonical {k}-mers");

    // Kept (header, sequence) pairs; every sequence seen so far; per-subset counts.
    let (mut kept, mut seen, mut stats) = (Vec::new(), HashSet::new(), Vec::new());
    for (name, dir) in &subsets {
        let Some(train) = read_split(dir, "train")? else {
            continue;
        };
        let mut st = SubsetStats {
            subset: name.clone(),
            train_rows: train.len(),
            ..Default::default()
        };
        for (row, seq) in train.into_iter().enumerate() {
            if set.hits(&seq, k) {
                st.dropped_overlap += 1;
            } else if !seen.insert(seq.clone()) {
                st.dropped_duplicate += 1;
            } else {
                st.kept += 1;
                st.kept_bp += seq.len();
                kept.push((format!("gue_{name}_{row}"), seq));
            }
        }
        stats.push(st);
    }

    let mut rng = Rng::new(seed);
    for i in (1..kept.len()).rev() {
        kept.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut fasta = Vec::new();
    for (header, seq) in &kept {
        writeln!(fasta, ">{header}\n{seq}")?;
    }
    if output.to_string_lossy().ends_with(".gz") {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&fasta)?;
        fasta = gz.finish()?;
    }
    write_atomic(&output, &fasta)?;

    let sum = |f: fn(&SubsetStats) -> usize| stats.iter().map(f).sum();
    let total = SubsetStats {
        subset: "total".into(),
        train_rows: sum(|s| s.train_rows),
        dropped_overlap: sum(|s| s.dropped_overlap),
        dropped_duplicate: sum(|s| s.dropped_duplicate),
        kept: sum(|s| s.kept),
        kept_bp: sum(|s| s.kept_bp),
    };
    println!("| subset | train rows | dropped (overlap) | dropped (duplicate) | kept | kept bp |");
    println!("|---|---:|---:|---:|---:|---:|");
    for st in stats.iter().chain(std::iter::once(&total)) {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            st.subset, st.train_rows, st.dropped_overlap, st.dropped_duplicate, st.kept, st.kept_bp
        );
    }
    let json = serde_json::json!({
        "window": k,
        "seed": seed,
        "eval_sequences": n_eval,
        "eval_canonical_kmers": n_kmers,
        "subsets": stats,
        "total": total,
    });
    let json_path = PathBuf::from(format!("{}.stats.json", output.display()));
    write_atomic(&json_path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revcomp(s: &str) -> String {
        s.chars()
            .rev()
            .map(|c| ['T', 'G', 'C', 'A']["ACGT".find(c).unwrap()])
            .collect()
    }

    fn kmers(s: &str, k: usize) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for_each_kmer(s.as_bytes(), k, |f, r| out.push((f, r)));
        out
    }

    /// A deterministic pseudo-random ACGT string.
    fn random_dna(len: usize, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        (0..len)
            .map(|_| b"ACGT"[rng.below(4) as usize] as char)
            .collect()
    }

    #[test]
    fn encoding_is_two_bits_per_base() {
        assert_eq!(kmers("ACGT", 4), vec![(0b00_01_10_11, 0b00_01_10_11)]);
        assert_eq!(kmers("AAC", 2), vec![(0b0000, 0b1111), (0b0001, 0b1011)]);
        assert_eq!(kmers(&"T".repeat(32), 32), vec![(u64::MAX, 0)]);
        assert!(kmers("ACG", 4).is_empty());
        // Windows containing N (or any non-ACGT) are skipped.
        let got = kmers(&format!("{}N{}", "A".repeat(32), "C".repeat(33)), 32);
        assert_eq!(
            got.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 0x5555_5555_5555_5555, 0x5555_5555_5555_5555]
        );
    }

    #[test]
    fn reverse_complement_matches_string_revcomp() {
        for k in [1, 5, 31, 32] {
            let s = random_dna(100, k as u64);
            // The reverse strand's windows, in reverse order with roles swapped.
            let rc = kmers(&revcomp(&s), k)
                .into_iter()
                .rev()
                .map(|(f, r)| (r, f));
            assert_eq!(kmers(&s, k), rc.collect::<Vec<_>>(), "k={k}");
            assert_eq!(kmers(&s, k).len(), 101 - k);
        }
    }

    #[test]
    fn overlap_on_either_strand_is_caught_and_31_bp_is_not() {
        let test = random_dna(200, 7);
        let set = KmerSet::build(&[test.clone()], 32);
        let window = &test[50..82];
        let flank = |seed| random_dna(40, seed);
        // Forward 32-mer inside a train sequence.
        assert!(set.hits(&format!("{}{window}{}", flank(1), flank(2)), 32));
        // A train sequence whose reverse complement contains a test 32-mer.
        let train = revcomp(&format!("{}{window}{}", flank(3), flank(4)));
        assert!(set.hits(&train, 32));
        // 31 bp shared (either strand) is not an overlap: the flanks' bases
        // next to it differ from the test's, so no 32-mer is shared.
        let short = &test[50..81];
        let other = |b: u8| if b == b'A' { 'C' } else { 'A' };
        let left = format!("{}{}", &flank(5)[1..], other(test.as_bytes()[49]));
        let right = format!("{}{}", other(test.as_bytes()[81]), &flank(6)[1..]);
        let train = format!("{left}{short}{right}");
        assert!(!set.hits(&train, 32));
        assert!(!set.hits(&revcomp(&train), 32));
        // ...while extending it by the test's next base makes it one.
        assert!(set.hits(&format!("{left}{}{}", &test[50..82], &right[1..]), 32));
    }
}
