//! `dnagpu vep` from the command line: the output formats (CSV on stdout
//! against the PyTorch reference's numbers, TSV from gzipped inputs, a VCF
//! copy with INFO fields, class probabilities with --adapter) and every
//! error path: each names what is wrong and where, exits 1 (2 for a usage
//! error), never panics and leaves the user's folder as it was.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{dnagpu, run, tmp};
use dnagpu::testing::{check_close, csv_table as table, Tol};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn genome() -> PathBuf {
    fixtures().join("vep/genome.fa")
}

fn variants() -> PathBuf {
    fixtures().join("vep/variants.vcf")
}

/// `dnagpu --backend cpu vep --model M --flank 20` plus `args`.
fn vep(model: &str, args: Vec<OsString>) -> std::process::Command {
    let mut c = dnagpu();
    c.args(["--backend", "cpu", "vep", "--flank", "20", "--model"])
        .arg(fixtures().join(model))
        .args(args);
    c
}

/// `--reference genome --variants vcf` and `more`.
fn inputs(genome: &Path, vcf: &Path, more: &[&Path]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "--reference".into(),
        genome.into(),
        "--variants".into(),
        vcf.into(),
    ];
    v.extend(more.iter().map(|p| p.as_os_str().to_owned()));
    v
}

/// `got` has `want`'s header and allele columns, and its numbers within
/// the f32 tolerance, column by column.
fn assert_matches(got: &str, want: &str, what: &str) {
    let (gh, g) = table(got, b',');
    let (wh, w) = table(want, b',');
    assert_eq!(gh, wh, "{what}: header");
    assert_eq!(g.len(), w.len(), "{what}: rows");
    for (c, name) in wh.iter().enumerate() {
        if c < 5 {
            let col = |t: &[Vec<String>]| t.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
            assert_eq!(col(&g), col(&w), "{what}: {name}");
            continue;
        }
        let got: Vec<f32> = g.iter().map(|r| r[c].parse().unwrap()).collect();
        let want: Vec<f64> = w.iter().map(|r| r[c].parse().unwrap()).collect();
        check_close(&format!("{what} {name}"), &got, &want, Tol::F32).unwrap();
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn csv_on_stdout_matches_the_reference() {
    for model in ["nt_v2_tiny", "dnabert_tiny"] {
        let (ok, out, err) = run(&mut vep(model, inputs(&genome(), &variants(), &[])));
        assert!(ok, "{err}");
        assert!(
            err.contains("skipped 3 symbolic ALT alleles and 0 records"),
            "{err}"
        );
        let want = std::fs::read_to_string(fixtures().join(format!("vep/{model}.csv"))).unwrap();
        assert_matches(&out, &want, model);
    }
}

#[test]
fn gpu_matches_the_reference() {
    let mut c = dnagpu();
    c.args(["--backend", "gpu", "vep", "--flank", "20", "--model"])
        .arg(fixtures().join("nt_v1_tiny"))
        .args(inputs(&genome(), &variants(), &[]));
    let (ok, out, err) = run(&mut c);
    if !ok && err.contains("no GPU") && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("SKIPPED: {err}");
        return;
    }
    assert!(ok, "{err}");
    let want = std::fs::read_to_string(fixtures().join("vep/nt_v1_tiny.csv")).unwrap();
    assert_matches(&out, &want, "nt_v1_tiny on the GPU");
}

#[test]
fn gzipped_inputs_tsv_and_vcf_outputs() {
    let dir = tmp("vep-formats");
    let (g, v) = (dir.join("genome.fa.gz"), dir.join("variants.vcf.gz"));
    std::fs::write(&g, gz(&std::fs::read(genome()).unwrap())).unwrap();
    std::fs::write(&v, gz(&std::fs::read(variants()).unwrap())).unwrap();
    let (ok, plain, err) = run(&mut vep("nt_v2_tiny", inputs(&genome(), &variants(), &[])));
    assert!(ok, "{err}");

    let tsv = dir.join("scores.tsv");
    let out_arg = |p: &Path| inputs(&g, &v, &[Path::new("--output"), p]);
    let (ok, out, err) = run(&mut vep("nt_v2_tiny", out_arg(&tsv)));
    assert!(ok && out.is_empty(), "{err}");
    assert!(err.contains("wrote"), "{err}");
    let text = std::fs::read_to_string(&tsv).unwrap();
    assert_eq!(
        text.replace('\t', ","),
        plain,
        "TSV = the CSV, tab-separated"
    );

    let vcf_out = dir.join("scored.vcf");
    let (ok, _, err) = run(&mut vep("nt_v2_tiny", out_arg(&vcf_out)));
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&vcf_out).unwrap();
    let input = std::fs::read_to_string(variants()).unwrap();
    let (_, rows) = table(&plain, b',');
    let infos = text
        .lines()
        .filter(|l| l.starts_with("##INFO=<ID=DNAGPU_"))
        .count();
    assert_eq!(infos, 4, "{text}");
    let records: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let inputs: Vec<&str> = input.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(records.len(), inputs.len());
    for (out, inp) in records.iter().zip(&inputs) {
        let cols: Vec<&str> = out.split('\t').collect();
        assert_eq!(cols[..7], inp.split('\t').collect::<Vec<_>>()[..7]);
        if cols[4] == "<INS>" {
            assert_eq!(out, inp, "a record with nothing scored is copied");
            continue;
        }
        // Its llr values are the CSV's, in ALT order, `.` for symbolic ones.
        let llr = cols[7]
            .split(';')
            .find_map(|f| f.strip_prefix("DNAGPU_LLR="))
            .unwrap();
        let want: Vec<String> = cols[4]
            .split(',')
            .map(|alt| {
                rows.iter()
                    .find(|r| r[0] == cols[0] && r[1] == cols[1] && r[4] == alt)
                    .map_or(".".to_string(), |r| r[5].clone())
            })
            .collect();
        assert_eq!(llr, want.join(","), "{out}");
    }
    assert!(records[1].contains("\tDP=7;DNAGPU_LLR="), "{}", records[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adapter_adds_class_probabilities_and_keeps_the_scores() {
    let (ok, base, err) = run(&mut vep("tiny", inputs(&genome(), &variants(), &[])));
    assert!(ok, "{err}");
    let adapter = fixtures().join("peft/adapter");
    let args = inputs(&genome(), &variants(), &[Path::new("--adapter"), &adapter]);
    let (ok, out, err) = run(&mut vep("tiny", args));
    assert!(ok, "{err}");
    let (bh, b) = table(&base, b',');
    let (h, rows) = table(&out, b',');
    let p: Vec<&String> = h.iter().filter(|c| c.starts_with("p_")).collect();
    assert!(
        p.len() >= 4 && p[0] == "p_ref_0",
        "probability columns: {h:?}"
    );
    // The variant scores are the base model's; the adapter only classifies.
    for (x, y) in b.iter().zip(&rows) {
        assert_eq!(x[..9], y[..9]);
    }
    assert_eq!(bh[..9], h[..9]);
    for r in &rows {
        let sum: f64 = r[9..9 + p.len() / 2]
            .iter()
            .map(|v| v.parse::<f64>().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5, "{r:?}");
    }
}

/// Every file of `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Runs `vep` in a folder holding a copy of the fixture inputs, changed by
/// `setup`; it must fail with `code` and a message holding every `want`,
/// and leave the folder as it was.
fn refused(
    name: &str,
    model: &str,
    setup: impl FnOnce(&Path),
    extra: &[&str],
    code: i32,
    want: &[&str],
) {
    let dir = tmp(&format!("vep-{name}"));
    std::fs::copy(genome(), dir.join("genome.fa")).unwrap();
    std::fs::copy(variants(), dir.join("variants.vcf")).unwrap();
    std::fs::write(dir.join("scores.csv"), b"an earlier result").unwrap();
    setup(&dir);
    let before = snapshot(&dir);
    let mut c = dnagpu();
    c.current_dir(&dir)
        .args(["--backend", "cpu", "vep", "--model"]);
    c.arg(fixtures().join(model))
        .args(["--reference", "genome.fa", "--variants", "variants.vcf"])
        .args(extra);
    if !extra.contains(&"--flank") {
        c.args(["--flank", "20"]);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if std::env::var_os("HOSTILE_SHOW").is_some() {
        eprintln!("{name}: {err}");
    }
    assert_eq!(out.status.code(), Some(code), "{name}: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
    for w in want {
        assert!(err.contains(w), "{name}: {err:?} lacks {w:?}");
    }
    assert_eq!(snapshot(&dir), before, "{name}: the folder changed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Replaces `from` by `to` in the folder's file `name`.
fn edit(dir: &Path, name: &str, from: &str, to: &str) {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{name} lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

const OUT: &[&str] = &["--output", "scores.csv"];

/// A refused run: name, how the inputs are spoiled, extra arguments, exit
/// code, what the message says.
type Case = (
    &'static str,
    Box<dyn FnOnce(&Path)>,
    &'static [&'static str],
    i32,
    Vec<&'static str>,
);

#[test]
fn ref_mismatch_is_an_error_naming_the_record_or_skipped() {
    refused(
        "mismatch",
        "nt_v2_tiny",
        |d| edit(d, "variants.vcf", "chr1\t100\trs1\tC", "chr1\t100\trs1\tG"),
        OUT,
        1,
        &[
            "variants.vcf: line 5: chr1:100 (rs1): REF G does not match genome.fa: the genome has C",
            "--skip-mismatch",
        ],
    );
    let dir = tmp("vep-skip");
    std::fs::copy(genome(), dir.join("genome.fa")).unwrap();
    std::fs::copy(variants(), dir.join("variants.vcf")).unwrap();
    edit(
        &dir,
        "variants.vcf",
        "chr1\t100\trs1\tC",
        "chr1\t100\trs1\tG",
    );
    let mut c = dnagpu();
    c.current_dir(&dir)
        .args(["--backend", "cpu", "vep", "--flank", "20", "--model"])
        .arg(fixtures().join("nt_v2_tiny"))
        .args([
            "--reference",
            "genome.fa",
            "--variants",
            "variants.vcf",
            "--skip-mismatch",
        ]);
    let (ok, out, err) = run(&mut c);
    assert!(ok, "{err}");
    assert!(
        err.contains("and 1 records whose REF does not match"),
        "{err}"
    );
    assert_eq!(out.lines().count(), 11, "header + 10 alleles: {out}");
    assert!(!out.contains(",rs1,"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_refused_before_any_work() {
    let cases: Vec<Case> = vec![
        (
            "unknown-chrom",
            Box::new(|d: &Path| edit(d, "variants.vcf", "chr2\t58", "chrZ\t58")),
            OUT,
            1,
            vec!["variants.vcf: line 13: chromosome `chrZ` is not in genome.fa"],
        ),
        (
            "bad-pos",
            Box::new(|d: &Path| edit(d, "variants.vcf", "chr1\t230", "chr1\t23O")),
            OUT,
            1,
            vec!["variants.vcf: line 9: POS \"23O\""],
        ),
        (
            "bad-alt",
            Box::new(|d: &Path| edit(d, "variants.vcf", "TGTA", "TG-A")),
            OUT,
            1,
            vec!["variants.vcf: line 8: ALT \"TG-A\": symbol '-' at position 3"],
        ),
        (
            "spaces",
            Box::new(|d: &Path| {
                edit(
                    d,
                    "variants.vcf",
                    "chr1\t100\trs1\tC\tT",
                    "chr1 100 rs1 C T",
                )
            }),
            OUT,
            1,
            vec!["variants.vcf: line 5", "separated by tabs"],
        ),
        (
            "binary-vcf",
            Box::new(|d: &Path| {
                std::fs::write(d.join("variants.vcf"), b"\x00\x01\x02garbage\x00").unwrap()
            }),
            OUT,
            1,
            vec!["variants.vcf does not look like a text"],
        ),
        (
            "truncated-gzip",
            Box::new(|d: &Path| {
                let full = gz(&std::fs::read(variants()).unwrap());
                std::fs::write(d.join("variants.vcf"), &full[..full.len() / 2]).unwrap()
            }),
            OUT,
            1,
            vec!["variants.vcf", "corrupt or truncated gzip"],
        ),
        (
            "no-records",
            Box::new(|d: &Path| {
                std::fs::write(d.join("variants.vcf"), "##fileformat=VCFv4.2\n").unwrap()
            }),
            OUT,
            1,
            vec!["variants.vcf: no variant records"],
        ),
        (
            "only-symbolic",
            Box::new(|d: &Path| {
                std::fs::write(d.join("variants.vcf"), "chr1\t5\t.\tC\t<DEL>,*\n").unwrap()
            }),
            OUT,
            1,
            vec!["no allele to score (2 symbolic"],
        ),
        (
            "bad-genome",
            Box::new(|d: &Path| {
                let text = std::fs::read_to_string(d.join("genome.fa")).unwrap();
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                lines[2].replace_range(10..11, "?");
                std::fs::write(d.join("genome.fa"), lines.join("\n")).unwrap()
            }),
            OUT,
            1,
            vec!["genome.fa:3: chromosome `chr1`: `?` (column 11) is not a DNA symbol"],
        ),
        (
            "missing-genome",
            Box::new(|d: &Path| std::fs::remove_file(d.join("genome.fa")).unwrap()),
            OUT,
            1,
            vec!["cannot read genome.fa"],
        ),
    ];
    for (name, setup, extra, code, want) in cases {
        refused(name, "nt_v2_tiny", setup, extra, code, &want);
    }
    // Options refused as given.
    for (name, extra, code, want) in [
        (
            "output-is-input",
            ["--output", "./variants.vcf"],
            1,
            "is the input variants.vcf",
        ),
        (
            "output-is-genome",
            ["--output", "genome.fa"],
            1,
            "genome.fa: vep writes .csv, .tsv or .vcf",
        ),
        (
            "output-folder-missing",
            ["--output", "nowhere/s.csv"],
            1,
            "folder nowhere does not exist",
        ),
        (
            "flank-too-large",
            ["--flank", "60000"],
            2,
            "'--flank <FLANK>': at most 50000",
        ),
        (
            "batch-size-zero",
            ["--batch-size", "0"],
            2,
            "'--batch-size <BATCH_SIZE>': must be at least 1",
        ),
    ] {
        refused(name, "nt_v2_tiny", |_| {}, &extra, code, &[want]);
    }
}

#[test]
fn windows_beyond_the_position_table_name_the_flank() {
    // DNABERT's 64 positions hold 62 3-mers: a 301 bp window does not fit.
    refused(
        "positions",
        "dnabert_tiny",
        |_| {},
        &["--flank", "150", "--output", "scores.csv"],
        1,
        &[
            "variants.vcf: line 5: chr1:100 (rs1): a window of",
            "longer than the model's 64 positions",
            "use a smaller --flank",
        ],
    );
}

#[test]
fn a_model_without_an_mlm_head_is_refused() {
    let dir = tmp("vep-nomlm-model");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let src = fixtures().join("dnabert_tiny");
    for f in ["config.json", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), model.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("cls."))
        .collect();
    std::fs::write(
        model.join("model.safetensors"),
        safetensors::serialize(kept, None).unwrap(),
    )
    .unwrap();
    let mut c = dnagpu();
    c.args(["--backend", "cpu", "vep", "--model"])
        .arg(&model)
        .args(["--reference"])
        .arg(genome())
        .arg("--variants")
        .arg(variants());
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("has no masked-language-model head"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn required_inputs_are_named() {
    let mut c = dnagpu();
    c.args(["vep", "--variants", "v.vcf"]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--reference"), "{err}");
}

#[test]
fn a_vcf_larger_than_a_chunk_is_scored_in_order() {
    // More alleles than vep::CHUNK (4096): scored a chunk at a time, rows in
    // VCF order, the same record giving the same numbers in every chunk.
    let dir = tmp("vep-chunks");
    let vcf = std::fs::read_to_string(variants()).unwrap();
    let records: Vec<&str> = vcf
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("<INS>"))
        .collect();
    let mut big = String::from("#CHROM\tPOS\tID\tREF\tALT\n");
    let mut n = 0;
    while n < dnagpu::vep::CHUNK + 50 {
        let r = records[n % records.len()];
        big.push_str(r);
        big.push('\n');
        n += 1;
    }
    let path = dir.join("big.vcf");
    std::fs::write(&path, big).unwrap();
    let mut c = vep("nt_v2_tiny", inputs(&genome(), &path, &[]));
    c.args(["--batch-size", "64"]);
    let (ok, out, err) = run(&mut c);
    assert!(ok, "{err}");
    let (_, rows) = table(&out, b',');
    let (_, one) = table(
        &run(&mut vep("nt_v2_tiny", inputs(&genome(), &variants(), &[]))).1,
        b',',
    );
    let mut k = 0;
    for i in 0..n {
        let r = records[i % records.len()];
        let alts = r.split('\t').nth(4).unwrap();
        let scored: Vec<&str> = alts
            .split(',')
            .filter(|a| !a.starts_with('<') && *a != "*")
            .collect();
        for alt in scored {
            let row = &rows[k];
            let want = one
                .iter()
                .find(|w| w[..5] == row[..5])
                .unwrap_or_else(|| panic!("row {k} {row:?}"));
            assert_eq!(row[4], alt, "row {k}");
            for c in 5..row.len() {
                let (g, w): (f64, f64) = (row[c].parse().unwrap(), want[c].parse().unwrap());
                assert!(
                    (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
                    "row {k} column {c}: {g} vs {w}"
                );
            }
            k += 1;
        }
    }
    assert_eq!(k, rows.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn variants_from_stdin_match_the_file() {
    use std::process::Stdio;
    let (ok, want, err) = run(&mut vep("nt_v2_tiny", inputs(&genome(), &variants(), &[])));
    assert!(ok, "{err}");
    let mut c = vep("nt_v2_tiny", inputs(&genome(), Path::new("-"), &[]));
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(variants()).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}
