//! A genome cut into windows, for embedding at scale (`dnagpu windows`, the
//! `workflows/embed-genome` workflow): each record (chromosome) is cut into
//! windows of `size` bases every `stride` bases, the last one ending at the
//! record's end (as `embed --window` cuts a sequence), so that every base is
//! in a window. The windows go to `shards` FASTA files of nearly equal
//! length in genome order (shard i holds windows `i N / K ..`), so that the
//! shards' results, concatenated, are the rows of one run over all windows;
//! a BED file (chrom, 0-based start, end) lists them in that order.
//!
//! A window's FASTA id is `chrom:start-end` in BED coordinates, as
//! `bedtools getfasta` names it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{InvalidPolicy, StreamedInput, Summary};
use crate::embed::Window;
use crate::error::{Error, Result};
use crate::fs::{check_output, io_error, AtomicFile, Closed};

/// What [`plan`] found: the windows to cut and the shards to fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub window: Window,
    pub shards: usize,
    /// Windows in all.
    pub windows: usize,
}

/// What [`write_shards`] cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Windows in all, and in each shard.
    pub windows: usize,
    pub per_shard: Vec<usize>,
    /// The BED file and the shards' FASTA files.
    pub bed: PathBuf,
    pub shards: Vec<PathBuf>,
}

/// The files `write_shards` writes into `dir`: `windows.bed` and
/// `shard-0.fa` … `shard-{K-1}.fa`.
pub fn shard_files(dir: &Path, shards: usize) -> (PathBuf, Vec<PathBuf>) {
    let fasta = (0..shards)
        .map(|i| dir.join(format!("shard-{i}.fa")))
        .collect();
    (dir.join("windows.bed"), fasta)
}

/// The shard of window `g` of `n` in `k` shards: contiguous blocks whose
/// sizes differ by one at most.
pub fn shard_of(g: usize, n: usize, k: usize) -> usize {
    (g as u128 * k as u128 / n.max(1) as u128) as usize
}

/// Checks that `input` (scanned: `summary`) cut by `window` fills `shards`
/// shards, and that `dir`'s files can be written without touching the
/// input, before any work: the number of windows, from the records'
/// lengths (one more pass over the input).
pub fn plan(
    input: &StreamedInput,
    policy: InvalidPolicy,
    summary: &Summary,
    window: Window,
    shards: usize,
    dir: &Path,
    inputs: &[&Path],
) -> Result<Plan> {
    window.check()?;
    if shards == 0 {
        return Err(Error::Invalid("--shards 0: at least one shard".into()));
    }
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "--output {}: not a folder (create it first)",
            dir.display()
        )));
    }
    let (bed, fasta) = shard_files(dir, shards);
    for path in std::iter::once(&bed).chain(&fasta) {
        check_output(path, inputs)?;
    }
    let mut n = 0usize;
    for r in input.records(policy, summary)? {
        n += window.count(r?.seq.len());
    }
    if shards > n {
        return Err(Error::Invalid(format!(
            "{}: {n} windows of {} bp cannot fill {shards} shards: use --shards {n} or fewer",
            input.name(),
            window.size
        )));
    }
    Ok(Plan {
        window,
        shards,
        windows: n,
    })
}

/// Writes the windows of `input` that `plan` counted into `dir`
/// ([`shard_files`]); every file is written to a temporary name first and
/// all are renamed once all are complete.
pub fn write_shards(
    input: &StreamedInput,
    policy: InvalidPolicy,
    summary: &Summary,
    plan: &Plan,
    dir: &Path,
) -> Result<Cut> {
    let Plan {
        window,
        shards,
        windows: n,
    } = *plan;
    let (bed_path, fasta) = shard_files(dir, shards);
    let mut bed = AtomicFile::create(&bed_path)?;
    let mut done: Vec<Closed> = Vec::with_capacity(shards + 1);
    let mut per_shard = vec![0; shards];
    let mut current: Option<(usize, AtomicFile)> = None;
    let mut g = 0;
    let failed = |path: &Path| io_error(format!("writing {}", path.display()));
    for record in input.records(policy, summary)? {
        let record = record?;
        for r in window.ranges(record.seq.len()) {
            if g == n {
                return Err(Error::Invalid(format!(
                    "{}: more windows than when it was first read (did it change meanwhile?)",
                    input.name()
                )));
            }
            let s = shard_of(g, n, shards);
            if current.as_ref().is_none_or(|(c, _)| *c != s) {
                if let Some((_, f)) = current.take() {
                    done.push(f.close()?);
                }
                current = Some((s, AtomicFile::create(&fasta[s])?));
            }
            let (_, file) = current.as_mut().expect("opened above");
            let (chrom, start, end) = (&record.id, r.start, r.end);
            writeln!(file, ">{chrom}:{start}-{end}\n{}", &record.seq[r])
                .map_err(failed(&fasta[s]))?;
            writeln!(bed, "{chrom}\t{start}\t{end}").map_err(failed(&bed_path))?;
            per_shard[s] += 1;
            g += 1;
        }
    }
    if g != n {
        return Err(Error::Invalid(format!(
            "{}: {g} windows where {n} were counted (did it change meanwhile?)",
            input.name()
        )));
    }
    if let Some((_, f)) = current.take() {
        done.push(f.close()?);
    }
    done.push(bed.close()?);
    for f in done {
        f.commit()?;
    }
    Ok(Cut {
        windows: n,
        per_shard,
        bed: bed_path,
        shards: fasta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_and_even() {
        for (n, k) in [(10, 3), (3, 3), (7, 1), (1000, 7)] {
            let mut sizes = vec![0; k];
            let mut last = 0;
            for g in 0..n {
                let s = shard_of(g, n, k);
                assert!(s >= last && s < k);
                last = s;
                sizes[s] += 1;
            }
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1 && *lo >= 1, "{n} {k}: {sizes:?}");
        }
    }

    #[test]
    fn a_genome_becomes_shards_of_windows_and_a_bed() {
        let dir = std::env::temp_dir().join(format!("dnagpu-windows-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let genome = dir.join("g.fa");
        // chr1: 25 bp (windows 0-10, 5-15, 10-20, 15-25), chr2: 4 bp (one
        // window, all of it), chrU: RNA read as DNA.
        std::fs::write(
            &genome,
            ">chr1 first\nACGTACGTAC\nGGGGGCCCCC\nacgtn\n>chr2\nTTTT\n>chrU\nUUUUUUUUUUUU\n",
        )
        .unwrap();
        let input = StreamedInput::open(genome.to_str().unwrap()).unwrap();
        let policy = InvalidPolicy::Error;
        let summary = input.scan(policy, &mut |_| {}).unwrap();
        let w = Window {
            size: 10,
            stride: 5,
        };
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let p = plan(&input, policy, &summary, w, 3, &out, &[&genome]).unwrap();
        assert_eq!(p.windows, 4 + 1 + 2);
        let cut = write_shards(&input, policy, &summary, &p, &out).unwrap();
        assert_eq!(cut.per_shard, [3, 2, 2]);
        let bed = std::fs::read_to_string(&cut.bed).unwrap();
        assert_eq!(
            bed,
            "chr1\t0\t10\nchr1\t5\t15\nchr1\t10\t20\nchr1\t15\t25\nchr2\t0\t4\nchrU\t0\t10\nchrU\t2\t12\n"
        );
        let shard = |i: usize| std::fs::read_to_string(&cut.shards[i]).unwrap();
        assert_eq!(
            shard(0),
            ">chr1:0-10\nACGTACGTAC\n>chr1:5-15\nCGTACGGGGG\n>chr1:10-20\nGGGGGCCCCC\n"
        );
        assert_eq!(shard(1), ">chr1:15-25\nCCCCCACGTN\n>chr2:0-4\nTTTT\n");
        assert_eq!(shard(2), ">chrU:0-10\nTTTTTTTTTT\n>chrU:2-12\nTTTTTTTTTT\n");
        // Only the outputs are left: no temporaries.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
        // More shards than windows, or a window out of range: refused.
        let err = plan(&input, policy, &summary, w, 8, &out, &[&genome]).unwrap_err();
        assert!(err
            .to_string()
            .contains("7 windows of 10 bp cannot fill 8 shards"));
        let bad = Window { size: 4, stride: 5 };
        assert!(plan(&input, policy, &summary, bad, 1, &out, &[&genome]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
