//! The Snakemake workflows (workflows/): embed-genome run on a small
//! generated genome in 3 shards gives what one `dnagpu embed` over the same
//! windows gives (the same rows, to rounding), with a BED of the windows (one line
//! per row, every base covered); the SLURM profile passes a dry run.
//!
//! Needs Snakemake: `$SNAKEMAKE`, else `.venv/bin/snakemake` (what
//! scripts/setup.sh installs), else `snakemake` on PATH. Without it the
//! tests say SKIPPED, and fail under CI=true.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, tmp};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The snakemake command, or `None` (after saying so) where there is none.
fn snakemake() -> Option<PathBuf> {
    let found = std::env::var_os("SNAKEMAKE")
        .map(PathBuf::from)
        .or_else(|| Some(root().join(".venv/bin/snakemake")).filter(|p| p.is_file()))
        .or_else(|| {
            Command::new("snakemake")
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("snakemake"))
        });
    if found.is_none() {
        let msg = "no snakemake ($SNAKEMAKE, .venv/bin/snakemake or on PATH): scripts/setup.sh installs it";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A genome of three chromosomes (lower case, a run of N, 60-column lines).
fn write_genome(path: &Path) -> Vec<(String, usize)> {
    let mut rng = dnagpu::rng::Rng::new(11);
    let mut text = String::new();
    let mut lengths = Vec::new();
    for (name, n) in [("chr1", 9_000), ("chr2", 4_321), ("chrM", 777)] {
        let mut seq: Vec<u8> = (0..n).map(|_| b"ACGTacgt"[rng.below(8) as usize]).collect();
        if name == "chr1" {
            seq[2_000..2_600].fill(b'N');
        }
        text.push_str(&format!(">{name} generated\n"));
        for line in seq.chunks(60) {
            text.push_str(std::str::from_utf8(line).unwrap());
            text.push('\n');
        }
        lengths.push((name.to_string(), n));
    }
    std::fs::write(path, text).unwrap();
    lengths
}

fn workflow(snakemake: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(snakemake);
    c.current_dir(dir)
        .arg("--snakefile")
        .arg(root().join("workflows/embed-genome/Snakefile"))
        .args(extra)
        .arg("--config")
        .arg("genome=genome.fa")
        .arg(format!("dnagpu={}", env!("CARGO_BIN_EXE_dnagpu")))
        .args(["shards=3", "window=600", "stride=300", "gpu=0", "threads=2"])
        .arg("extra=--backend cpu");
    c
}

#[test]
fn embed_genome_in_three_shards_equals_one_run() {
    let Some(snakemake) = snakemake() else { return };
    let dir = tmp("workflow-embed-genome");
    let lengths = write_genome(&dir.join("genome.fa"));
    let (ok, out, err) =
        run(workflow(&snakemake, &dir, &["--cores", "2"]).env("DNAGPU_BACKEND", "cpu"));
    assert!(ok, "snakemake failed:\n{out}\n{err}");

    // One run over the same windows.
    let one = dir.join("one");
    std::fs::create_dir_all(&one).unwrap();
    let dnagpu = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dnagpu"));
        c.current_dir(&dir).args(["--backend", "cpu"]);
        c
    };
    let (ok, _, err) = run(dnagpu().args([
        "windows",
        "--input",
        "genome.fa",
        "--window",
        "600",
        "--stride",
        "300",
        "--output",
        "one",
    ]));
    assert!(ok, "{err}");
    let (ok, _, err) =
        run(dnagpu().args(["embed", "--input", "one/shard-0.fa", "--output", "one.npy"]));
    assert!(ok, "{err}");

    // The same rows; batches hold other windows in a shard than in one run,
    // which may move a sum's rounding (the CPU matmul's blocking follows
    // the batch's shape): within 1e-5 of the values' scale.
    let (shape, merged) = common::embed::read_npy(&dir.join("results/embeddings.npy"));
    let (one_shape, single) = common::embed::read_npy(&dir.join("one.npy"));
    assert_eq!(shape, one_shape);
    let scale = single.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = merged
        .iter()
        .zip(&single)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("workflow vs one run: largest difference {worst:e} (values up to {scale})");
    assert!(
        worst <= 1e-5 * scale,
        "the workflow's embeddings differ from one run's by {worst}"
    );
    let bed = std::fs::read_to_string(dir.join("results/windows.bed")).unwrap();
    assert_eq!(
        bed,
        std::fs::read_to_string(one.join("windows.bed")).unwrap()
    );

    // One BED line per row, and every base of every chromosome in a window.
    assert_eq!(shape[0], bed.lines().count());
    assert_eq!(shape[1], 256, "the shipped model's width");
    for (name, n) in lengths {
        let mut covered = vec![false; n];
        for line in bed.lines().filter(|l| l.starts_with(&format!("{name}\t"))) {
            let f: Vec<usize> = line
                .split('\t')
                .skip(1)
                .map(|v| v.parse().unwrap())
                .collect();
            assert!(f[0] < f[1] && f[1] <= n && f[1] - f[0] <= 600, "{line}");
            covered[f[0]..f[1]].fill(true);
        }
        assert!(
            covered.iter().all(|&c| c),
            "{name}: a base outside every window"
        );
    }
    // Three embedding jobs, one per shard.
    for i in 0..3 {
        assert!(dir.join(format!("work/shard-{i}.npy")).is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_slurm_profile_passes_a_dry_run() {
    let Some(snakemake) = snakemake() else { return };
    let dir = tmp("workflow-slurm");
    write_genome(&dir.join("genome.fa"));
    let profile = root().join("workflows/profiles/slurm");
    let (ok, out, err) = run(&mut workflow(
        &snakemake,
        &dir,
        &["-n", "--profile", profile.to_str().unwrap()],
    ));
    assert!(ok, "dry run failed:\n{out}\n{err}");
    let text = format!("{out}{err}");
    // The job table: 1 windows, 3 embed, 1 merge; embed on the GPU partition.
    let wanted = [
        "windows        1",
        "embed          3",
        "merge          1",
        "slurm_partition=gpu",
    ];
    let missing: Vec<&str> = wanted.into_iter().filter(|w| !text.contains(w)).collect();
    assert!(missing.is_empty(), "the dry run lacks {missing:?}:\n{text}");
    assert!(!dir.join("results").exists(), "a dry run made results");
    let _ = std::fs::remove_dir_all(&dir);
}

/// workflows/score-variants in 3 shards gives the CSV of one `dnagpu vep`
/// run over the whole VCF: the same rows in VCF order, the same columns,
/// scores within 1e-5 of their scale (a shard batches other windows
/// together, which may move a sum's rounding).
#[test]
fn score_variants_in_three_shards_equals_one_run() {
    let Some(snakemake) = snakemake() else { return };
    let dir = tmp("workflow-score-variants");
    let (ok, out, err) = run(Command::new(&snakemake)
        .current_dir(&dir)
        .arg("--snakefile")
        .arg(root().join("workflows/score-variants/Snakefile"))
        .args(["--cores", "2", "--config"])
        .arg(format!(
            "reference={}",
            root().join("examples/sample.fa").display()
        ))
        .arg(format!(
            "variants={}",
            root().join("examples/variants.vcf").display()
        ))
        .arg(format!("dnagpu={}", env!("CARGO_BIN_EXE_dnagpu")))
        .args(["shards=3", "flank=64", "gpu=0", "threads=2"])
        .arg("extra=--backend cpu")
        .env("DNAGPU_BACKEND", "cpu"));
    assert!(ok, "snakemake failed:\n{out}\n{err}");
    let (ok, single, err) = run(Command::new(env!("CARGO_BIN_EXE_dnagpu"))
        .args(["--backend", "cpu", "vep", "--flank", "64", "--reference"])
        .arg(root().join("examples/sample.fa"))
        .arg("--variants")
        .arg(root().join("examples/variants.vcf")));
    assert!(ok, "{err}");
    let merged = std::fs::read_to_string(dir.join("results/scores.csv")).unwrap();
    let rows = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (m, s) = (rows(&merged), rows(&single));
    assert_eq!(m.len(), s.len(), "{merged}\nvs\n{single}");
    assert!(m.len() > 3, "a few alleles: {merged}");
    assert_eq!(m[0], s[0], "columns");
    let scale = s[1..]
        .iter()
        .flat_map(|r| r[5..].iter().map(|v| v.parse::<f64>().unwrap().abs()))
        .fold(0f64, f64::max);
    for (a, b) in m[1..].iter().zip(&s[1..]) {
        assert_eq!(a[..5], b[..5], "the same allele in the same place");
        for (x, y) in a[5..].iter().zip(&b[5..]) {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!((x - y).abs() <= 1e-5 * scale, "{a:?} vs {b:?}");
        }
    }
    for i in 0..3 {
        assert!(dir.join(format!("work/scores-{i}.csv")).is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
