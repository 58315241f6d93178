//! `dnagpu embed` on other models and checkpoints: broken model folders,
//! `pytorch_model.bin`, f16 weights, random init, Hugging Face hub ids
//! from the cache, and DNABERT / Nucleotide Transformer folders against
//! transformers' outputs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::embed::{assert_close, dnagpu, model, read_npy, root, tmp, Reference};
use dnagpu::testing::ReferenceFixtures;

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

/// `--precision f16` stores the weight matrices as f16, and a note says
/// what else is f16: the shipped model, saved in f16, embeds as with f32
/// (the same values, sums in another order: f32's tolerance) where the
/// activations stay f32 (the CPU backend, a GPU without shader-f16) and
/// within f16's rounding where they are f16 (lavapipe has shader-f16); the
/// fixture model (f32 on disk) embeds within f16's
/// rounding; an unknown precision is an error.
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
        assert_eq!(
            err.contains("note: --precision f16: "),
            precision == "f16",
            "{err}"
        );
        (read_npy(&out).1, err.contains("activations in f16"))
    };
    let within_f16 = |f16: &[f32], f32: &[f32]| {
        let max = f32.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = f16
            .iter()
            .zip(f32)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 5e-3 * max, "f16: {err} vs max {max}");
    };
    let ((shipped16, half_acts), (shipped32, _)) = (run(None, "f16"), run(None, "f32"));
    if half_acts {
        assert_ne!(shipped16, shipped32, "f16 activations are rounded");
        within_f16(&shipped16, &shipped32);
    } else {
        // The same values either way; only the order of the sums may differ
        // (f32 weights take the CPU backend's packed kernel, f16 ones gemm):
        // within f32's tolerance (rtol 1e-4, atol 1e-5 of the largest).
        assert_close("an f16 checkpoint loses nothing", &shipped16, &shipped32);
    }
    let ((f16, _), (f32, _)) = (run(Some(&model()), "f16"), run(Some(&model()), "f32"));
    assert_ne!(f16, f32, "f32 weights are rounded");
    within_f16(&f16, &f32);
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

/// `--precision f16` on the GPU (lavapipe has shader-f16): the note says
/// the activations are f16, and the shipped model's embeddings stay within
/// f16's rounding of the f32 run's (measured 2.6e-4 of the largest value).
#[test]
fn f16_activations_on_the_gpu() {
    let dir = tmp("f16-gpu");
    let fasta = root().join("examples/sample.fa");
    let run = |precision: &str| {
        let out = dir.join(format!("{precision}.npy"));
        let done = Command::new(env!("CARGO_BIN_EXE_dnagpu"))
            .args(["--backend", "gpu", "embed", "--input"])
            .arg(&fasta)
            .args(["--precision", precision, "--output"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&done.stderr).into_owned();
        (done.status.success(), err, out)
    };
    let (ok, err, out16) = run("f16");
    if !ok && err.contains("no GPU") && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("SKIPPED: {err}");
        return;
    }
    assert!(ok, "{err}");
    let note = err
        .lines()
        .find(|l| l.starts_with("note: --precision f16: "));
    let note = note.unwrap_or_else(|| panic!("no precision note: {err}"));
    let (ok, err32, out32) = run("f32");
    assert!(ok, "{err32}");
    let (f16, f32) = (read_npy(&out16).1, read_npy(&out32).1);
    let max = f32.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = f16
        .iter()
        .zip(&f32)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    if note.contains("activations in f16") {
        assert!(worst > 0.0, "f16 activations changed nothing: {note}");
        assert!(worst <= 2e-3 * max, "f16 activations: {worst} vs max {max}");
    } else {
        assert!(
            std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1")
                || note.contains("shader-f16"),
            "{note}"
        );
        assert_eq!(f16, f32, "{note}");
    }
}
