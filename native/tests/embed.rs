//! `dnagpu embed` end to end on the fixture model, against the independent
//! PyTorch reference's outputs (tests/fixtures/tiny), in every output format,
//! and on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use dnagpu::testing::ReferenceFixtures;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model() -> PathBuf {
    root().join("tests/fixtures/tiny")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dnagpu-embed-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs dnagpu on the CPU backend (the GPU path is covered by the library's
/// fixture tests); returns (success, stdout, stderr).
fn dnagpu(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_dnagpu"));
    c.args(["--backend", "cpu"]).args(args);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut sin = child.stdin.take().unwrap();
    sin.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(sin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

struct Reference(ReferenceFixtures);

impl Reference {
    fn load() -> Self {
        Self(ReferenceFixtures::load(&model()).unwrap())
    }

    /// (rows, width, values) of a float fixture.
    fn get(&self, name: &str) -> (usize, usize, Vec<f32>) {
        let (shape, v) = self.0.get(name).unwrap();
        (
            shape[0],
            *shape.get(1).unwrap_or(&1),
            v.iter().map(|&x| x as f32).collect(),
        )
    }

    /// Pools reference hidden states of sequence `i` at `layer` over `rows`.
    fn pooled(&self, i: usize, layer: usize, rows: std::ops::Range<usize>, max: bool) -> Vec<f32> {
        let (t, h, x) = self.get(&format!("{i}.hidden.{layer}"));
        let rows = rows.start..rows.end.min(t);
        (0..h)
            .map(|j| {
                let col = rows.clone().map(|r| x[r * h + j]);
                if max {
                    col.fold(f32::NEG_INFINITY, f32::max)
                } else {
                    col.sum::<f32>() / rows.len() as f32
                }
            })
            .collect()
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * max + 1e-4 * w.abs(),
            "{what}: element {k} is {g}, reference {w}"
        );
    }
}

fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_txt
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    (
        shape,
        b[10 + hlen..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

fn fixture_input(dir: &Path, r: &Reference) -> PathBuf {
    let p = dir.join("seqs.fa");
    let fasta: String =
        r.0.sequences
            .iter()
            .enumerate()
            .map(|(i, s)| format!(">s{i} fixture\n{s}\n"))
            .collect();
    std::fs::write(&p, fasta).unwrap();
    p
}

#[test]
fn every_pooling_and_layer_matches_the_reference() {
    let r = Reference::load();
    let dir = tmp("pooling");
    let input = fixture_input(&dir, &r);
    let m = model();
    let last = 2;
    for (pooling, layer, rows_of, max) in [
        (
            "mean",
            None,
            (|t: usize| 0..t) as fn(usize) -> std::ops::Range<usize>,
            false,
        ),
        ("mean", Some("0"), |t| 0..t, false),
        ("mean", Some("-2"), |t| 0..t, false),
        ("mean-nospecial", None, |t| 1..t - 1, false),
        ("cls", None, |_| 0..1, false),
        ("max", None, |t| 0..t, true),
    ] {
        let out = dir.join(format!("{pooling}-{}.npy", layer.unwrap_or("last")));
        let mut args = vec![
            "embed",
            "--model",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--pooling",
            pooling,
        ];
        if let Some(l) = layer {
            args.extend(["--layer", l]);
        }
        // Small batches so that several batches and padding are exercised.
        args.extend(["--batch-size", "2", "--max-tokens", "500"]);
        let (ok, _, err) = dnagpu(&args, None);
        assert!(ok, "{pooling}: {err}");
        let (shape, vals) = read_npy(&out);
        assert_eq!(shape, vec![r.0.sequences.len(), 128]);
        let l = match layer {
            None => last,
            Some("0") => 0,
            Some("-2") => 1,
            _ => unreachable!(),
        };
        for i in 0..r.0.sequences.len() {
            let t = r.get(&format!("{i}.input_ids")).0;
            let want = r.pooled(i, l, rows_of(t), max);
            assert_close(
                &format!("{pooling} layer {l} sequence {i}"),
                &vals[i * 128..(i + 1) * 128],
                &want,
            );
        }
    }
}

#[test]
fn output_formats_hold_the_same_embeddings() {
    let r = Reference::load();
    let dir = tmp("formats");
    let input = fixture_input(&dir, &r);
    let m = model();
    let base = [
        "embed",
        "--model",
        m.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let (ok, out, err) = dnagpu(&args, None);
        assert!(ok, "{extra:?}: {err}");
        out
    };
    let npy = dir.join("e.npy");
    run(&["--output", npy.to_str().unwrap()]);
    let (_, want) = read_npy(&npy);

    let stdout = run(&[]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), r.0.sequences.len());
    assert_eq!(lines[1]["id"], "s1");
    let row1: Vec<f32> = lines[1]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(row1, want[128..256]);

    let csv = dir.join("e.csv");
    run(&["--output", csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    assert!(rows.next().unwrap().starts_with("id,e0,e1,"));
    let first: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(first[0], "s0");
    assert_eq!(first[1].parse::<f32>().unwrap(), want[0]);

    let st = dir.join("e.safetensors");
    run(&["--output", st.to_str().unwrap()]);
    let bytes = std::fs::read(&st).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(t.tensor("s2").unwrap().shape(), [128]);

    let tokens = dir.join("t.safetensors");
    run(&["--output", tokens.to_str().unwrap(), "--pooling", "none"]);
    let bytes = std::fs::read(&tokens).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (n, _, hidden) = r.get("1.hidden.2");
    assert_eq!(t.tensor("s1").unwrap().shape(), [n, 128]);
    let got: Vec<f32> = t
        .tensor("s1")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_close("per-token states of s1", &got, &hidden);
    let ids = t.tensor("s1.input_ids").unwrap();
    assert_eq!(ids.dtype(), safetensors::Dtype::I64);
    assert_eq!(ids.shape(), [n]);
}

#[test]
fn stdin_plain_text_and_duplicate_ids() {
    let m = model();
    let (ok, out, err) = dnagpu(
        &["embed", "--model", m.to_str().unwrap()],
        Some("ACGTACGTTT\nacgtNNacgt\n"),
    );
    assert!(ok, "{err}");
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["0", "1"]);
    assert!(
        err.contains("warning") && err.contains("ambiguous"),
        "IUPAC codes must be reported: {err}"
    );
    let (ok, out, err) = dnagpu(
        &["embed", "--model", m.to_str().unwrap()],
        Some(">a\nACGT\n>a\nGGCC\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"a#2\""), "{out}");
    assert!(err.contains("warning"), "{err}");
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_existing_output_alone() {
    let m = model();
    let dir = tmp("bad");
    let out = dir.join("keep.npy");
    std::fs::write(&out, b"precious").unwrap();
    let m_s = m.to_str().unwrap();
    let o_s = out.to_str().unwrap();
    for (stdin, needle) in [
        ("", "no sequences"),
        (">a\nACGTX\n", "position 5"),
        ("\u{0}\u{1}binary", "text"),
        (">only\n", "only"),
    ] {
        let (ok, _, err) = dnagpu(&["embed", "--model", m_s, "--output", o_s], Some(stdin));
        assert!(!ok, "{stdin:?} should fail");
        assert!(
            err.contains(needle),
            "{stdin:?}: error should mention `{needle}`: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"precious",
            "a failed run must not touch the output"
        );
    }
    // Without --model: the shipped model.
    let (ok, out, err) = dnagpu(&["embed", "--input", "-"], Some("ACGT\n"));
    assert!(
        ok && out.starts_with("{\"id\"") && err.contains("dnabert2-small-gue (shipped)"),
        "{err}"
    );
    let missing = dir.join("no/such/dir/e.npy");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            m_s,
            "--output",
            missing.to_str().unwrap(),
        ],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            m_s,
            "--output",
            dir.join("e.txt").to_str().unwrap(),
        ],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("unknown output format"), "{err}");
    let (ok, _, err) = dnagpu(
        &["embed", "--model", m_s, "--pooling", "none"],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains(".safetensors"), "{err}");
    let (ok, _, err) = dnagpu(&["embed", "--model", m_s, "--layer", "3"], Some("ACGT\n"));
    assert!(!ok && err.contains("0..=2"), "{err}");
}

#[test]
fn broken_model_folders_name_what_is_wrong() {
    let dir = tmp("models");
    let copy = |name: &str, skip: &str| -> PathBuf {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            if f != skip {
                std::fs::copy(model().join(f), d.join(f)).unwrap();
            }
        }
        d
    };
    let run = |d: &Path| dnagpu(&["embed", "--model", d.to_str().unwrap()], Some("ACGT\n"));

    let (ok, _, err) = run(&copy("no-tok", "tokenizer.json"));
    assert!(!ok && err.contains("tokenizer.json"), "{err}");
    let (ok, _, err) = run(&copy("no-weights", "model.safetensors"));
    assert!(!ok && err.contains("model.safetensors"), "{err}");

    // Only pytorch_model.bin: same embeddings as from model.safetensors.
    let d = copy("bin-only", "model.safetensors");
    std::fs::copy(
        model().join("pytorch_model.bin"),
        d.join("pytorch_model.bin"),
    )
    .unwrap();
    let (ok, from_bin, err) = run(&d);
    assert!(ok, "{err}");
    let (ok, from_st, err) = run(&model());
    assert!(ok, "{err}");
    assert_eq!(
        from_bin, from_st,
        "pytorch_model.bin and model.safetensors must give the same embeddings"
    );
    let bytes = std::fs::read(model().join("pytorch_model.bin")).unwrap();
    std::fs::write(d.join("pytorch_model.bin"), &bytes[..bytes.len() - 1000]).unwrap();
    let (ok, _, err) = run(&d);
    assert!(
        !ok && err.contains("pytorch_model.bin") && !err.contains("panicked"),
        "{err}"
    );

    let d = copy("truncated", "");
    let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, err) = run(&d);
    assert!(!ok && err.contains("model.safetensors"), "{err}");

    let d = copy("garbage", "");
    std::fs::write(
        d.join("model.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\xffnot a model",
    )
    .unwrap();
    let (ok, _, err) = run(&d);
    assert!(!ok && err.contains("safetensors"), "{err}");

    let d = copy("wrong-shape", "");
    let cfg = std::fs::read_to_string(d.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 512", "\"intermediate_size\": 256");
    std::fs::write(d.join("config.json"), cfg).unwrap();
    let (ok, _, err) = run(&d);
    assert!(
        !ok && err.contains("mlp.gated_layers.weight")
            && err.contains("[1024, 128]")
            && err.contains("[512, 128]"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn classify_matches_the_reference_probabilities() {
    let r = Reference::load();
    let dir = tmp("classify");
    let input = fixture_input(&dir, &r);
    let out = dir.join("pred.csv");
    let m = model();
    let (ok, _, err) = dnagpu(
        &[
            "classify",
            "--model",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--batch-size",
            "2",
        ],
        None,
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "id,prediction,prob_0,prob_1,prob_2");
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], format!("s{i}"));
        let probs: Vec<f32> = f[2..5].iter().map(|v| v.parse().unwrap()).collect();
        let (_, _, want) = r.get(&format!("{i}.probs"));
        assert_close(&format!("class probabilities of s{i}"), &probs, &want);
        let argmax = (0..3).fold(0, |b, k| if want[k] > want[b] { k } else { b });
        assert_eq!(f[1], argmax.to_string());
    }
    // A labelled CSV keeps its labels; a model without a head is a clear error.
    let csv = root().join("tests/data/gue_sample.csv");
    let (ok, stdout, err) = dnagpu(
        &[
            "classify",
            "--model",
            m.to_str().unwrap(),
            "--input",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(stdout.lines().next().unwrap().ends_with(",label"));
    assert_eq!(stdout.lines().count(), 21);
    let cfg = m.join("config.json");
    let (ok, _, err) = dnagpu(
        &["classify", "--random-init", cfg.to_str().unwrap()],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("no classification head"), "{err}");
}

/// `--precision f16` stores the weight matrices as f16: the shipped model,
/// saved in f16, embeds exactly as with f32; the fixture model (f32 on
/// disk) embeds within f16's rounding; an unknown precision is an error.
#[test]
fn f16_weights_embed_within_rounding() {
    let dir = tmp("f16");
    let fasta = root().join("examples/sample.fa");
    let run = |model: Option<&Path>, precision: &str| {
        let out = dir.join(format!("{precision}-{}.npy", model.is_some()));
        let mut args = vec!["embed", "--input", fasta.to_str().unwrap()];
        let model_s = model.map(|m| m.to_string_lossy().into_owned());
        if let Some(m) = &model_s {
            args.extend(["--model", m.as_str()]);
        }
        args.extend(["--precision", precision, "--output", out.to_str().unwrap()]);
        let (ok, _, err) = dnagpu(&args, None);
        assert!(ok, "{err}");
        read_npy(&out).1
    };
    assert_eq!(
        run(None, "f16"),
        run(None, "f32"),
        "an f16 checkpoint loses nothing"
    );
    let (f16, f32) = (run(Some(&model()), "f16"), run(Some(&model()), "f32"));
    assert_ne!(f16, f32, "f32 weights are rounded");
    let max = f32.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = f16
        .iter()
        .zip(&f32)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err <= 5e-3 * max, "f16 weights: {err} vs max {max}");
    let (ok, _, err) = dnagpu(&["embed", "--precision", "f8"], Some("ACGT\n"));
    assert!(!ok && err.contains("expected f32 or f16"), "{err}");
}

#[test]
fn random_init_runs_without_files() {
    let cfg = model().join("config.json");
    let (ok, out, err) = dnagpu(
        &[
            "embed",
            "--random-init",
            cfg.to_str().unwrap(),
            "--seed",
            "3",
        ],
        Some("ACGTACGT\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn hub_ids_resolve_through_the_hugging_face_cache_offline() {
    let cache = tmp("hf-cache");
    let repo = cache.join("models--acme--tiny-dnabert");
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let snap = repo.join("snapshots").join(hash);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), hash).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(model().join(f), snap.join(f)).unwrap();
    }
    let run = |id: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_dnagpu"))
            .args([
                "--backend",
                "cpu",
                "embed",
                "--model",
                id,
                "--input",
                root().join("examples/sample.fa").to_str().unwrap(),
            ])
            .env("HF_HUB_CACHE", &cache)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run("acme/tiny-dnabert");
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 8);
    let (ok, _, err) = run("acme/absent-model");
    assert!(
        !ok && err.contains("not in the Hugging Face cache"),
        "{err}"
    );
}

/// `dnagpu embed --model tests/fixtures/<name>` of the folder's fixture
/// sequences (sequence `lower` lower-cased) with `pooling` matches the
/// fixture `<i>.<fixture>` of transformers for every sequence.
fn folder_embeds_like_transformers(name: &str, lower: Option<usize>, pooling: &str, fixture: &str) {
    let folder = root().join("tests/fixtures").join(name);
    let r = Reference(ReferenceFixtures::load(&folder).unwrap());
    let dir = tmp(&format!("{name}-{pooling}"));
    let input = dir.join("seqs.fa");
    let fasta: String =
        r.0.sequences
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = if Some(i) == lower {
                    s.to_lowercase()
                } else {
                    s.clone()
                };
                format!(">s{i}\n{s}\n")
            })
            .collect();
    std::fs::write(&input, fasta).unwrap();
    let out = dir.join("e.npy");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            folder.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--pooling",
            pooling,
            "--batch-size",
            "3",
        ],
        None,
    );
    assert!(ok, "{name} {pooling}: {err}");
    let (shape, vals) = read_npy(&out);
    let n = r.0.sequences.len();
    let h = shape[1];
    assert_eq!(shape[0], n);
    for i in 0..n {
        let (_, _, want) = r.get(&format!("{i}.{fixture}"));
        assert_close(
            &format!("{name} {pooling}, sequence {i}"),
            &vals[i * h..(i + 1) * h],
            &want,
        );
    }
}

/// A DNABERT (k-mer BERT) folder (tests/fixtures/dnabert_tiny, written by
/// transformers) embeds from the CLI: mean and pooler match transformers'
/// outputs, lower case is read as upper case, and a sequence over the
/// position table is an error naming it.
#[test]
fn a_dnabert_kmer_folder_embeds_like_transformers() {
    folder_embeds_like_transformers("dnabert_tiny", Some(1), "mean", "mean");
    folder_embeds_like_transformers("dnabert_tiny", Some(1), "pooler", "pooler");
    let folder = root().join("tests/fixtures/dnabert_tiny");
    let long = "ACGT".repeat(20); // 78 k-mers + 2 > 64 positions
    let (ok, _, err) = dnagpu(
        &["embed", "--model", folder.to_str().unwrap()],
        Some(&format!("ACGTACGT\n{long}\n")),
    );
    assert!(
        !ok && err.contains("input sequence 2") && err.contains("64 positions"),
        "{err}"
    );
    // With --window the long sequence embeds as the mean of its windows'
    // embeddings: 150 bp in windows of 60 every 30 = 0..60, 30..90, 60..120,
    // 90..150, each embedded on its own for the reference.
    let long: String = (0..150)
        .map(|i| ['A', 'C', 'G', 'T'][(i * 7 + i / 5) % 4])
        .collect();
    let dir = tmp("dnabert-window");
    let run = |stdin: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "embed",
            "--model",
            folder.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (ok, _, err) = dnagpu(&args, Some(stdin));
        assert!(ok, "{err}");
        read_npy(out).1
    };
    let got = run(
        &format!("{long}\n"),
        &["--window", "60", "--stride", "30"],
        &dir.join("w.npy"),
    );
    let pieces: String = [0..60, 30..90, 60..120, 90..150]
        .into_iter()
        .map(|r| format!("{}\n", &long[r]))
        .collect();
    let each = run(&pieces, &[], &dir.join("pieces.npy"));
    let want: Vec<f32> = (0..64)
        .map(|j| (0..4).map(|w| each[w * 64 + j]).sum::<f32>() / 4.0)
        .collect();
    assert_close("the mean of the windows' embeddings", &got, &want);
}

/// Nucleotide Transformer v1 and v2 folders (tests/fixtures/nt_v*_tiny,
/// written by transformers' ESM) embed from the CLI: the model cards' mean
/// over all tokens, `<cls>` included, matches transformers, and
/// `mean-nospecial` leaves out `<cls>` only (NT appends nothing).
#[test]
fn nucleotide_transformer_folders_embed_like_transformers() {
    folder_embeds_like_transformers("nt_v1_tiny", None, "mean", "mean");
    folder_embeds_like_transformers("nt_v2_tiny", None, "mean", "mean");
    let folder = root().join("tests/fixtures/nt_v2_tiny");
    let r = Reference(ReferenceFixtures::load(&folder).unwrap());
    let seq = &r.0.sequences[0];
    let out = tmp("nt-nospecial").join("e.npy");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            folder.to_str().unwrap(),
            "--pooling",
            "mean-nospecial",
            "--output",
            out.to_str().unwrap(),
        ],
        Some(&format!("{seq}\n")),
    );
    assert!(ok, "{err}");
    let t = r.get("0.input_ids").0;
    assert_close(
        "NT mean-nospecial",
        &read_npy(&out).1,
        &r.pooled(0, 2, 1..t, false),
    );
}
