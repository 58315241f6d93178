//! `dnagpu finetune` and `classify --adapter` end to end on a synthetic
//! rule (GC-rich vs AT-rich sequences), and bad input.

mod common;

use common::{dnagpu, run, tmp};

use std::path::Path;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/train/config.json"
);

/// Class 1: 75% G/C; class 0: 25% G/C; 60 bp.
/// Uniform draws in [0, 1) from a fixed LCG (the test data's only source).
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    }
}

/// train/dev/test CSVs of 60-bp sequences from `sample(label, draw)`,
/// labels alternating 0, 1.
fn write_task(dir: &Path, mut sample: impl FnMut(u32, &mut dyn FnMut() -> f64) -> String) {
    let mut next = uniform(11);
    for (name, n) in [("train", 600), ("dev", 100), ("test", 200)] {
        let mut s = String::from("sequence,label\r\n");
        for i in 0..n {
            let label = i % 2;
            s.push_str(&sample(label, &mut next));
            s.push_str(&format!(",{label}\r\n"));
        }
        std::fs::write(dir.join(format!("{name}.csv")), s).unwrap();
    }
}

fn base(gc: bool, two: bool) -> char {
    match (gc, two) {
        (true, true) => 'G',
        (true, false) => 'C',
        (false, true) => 'A',
        (false, false) => 'T',
    }
}

/// Label 1: GC content 0.75, label 0: 0.25.
fn gc_task(dir: &Path) {
    write_task(dir, |label, next| {
        let p = if label == 1 { 0.75 } else { 0.25 };
        (0..60).map(|_| base(next() < p, next() < 0.5)).collect()
    });
}

/// Each label's sequences are ten 6-mers drawn from its own 16 (a task the
/// Nucleotide Transformer's non-overlapping 6-mer tokens can see).
fn kmer_task(dir: &Path) {
    let mut next = uniform(5);
    let sets: Vec<Vec<String>> = (0..2)
        .map(|_| {
            (0..16)
                .map(|_| (0..6).map(|_| base(next() < 0.5, next() < 0.5)).collect())
                .collect()
        })
        .collect();
    write_task(dir, |label, next| {
        let set = &sets[label as usize];
        (0..10)
            .map(|_| set[((next() * 16.0) as usize).min(15)].as_str())
            .collect()
    });
}

fn finetune(data: &Path, out: &Path, extra: &[&str]) -> (bool, String, String) {
    run(dnagpu()
        .args([
            "--backend",
            "cpu",
            "finetune",
            "--random-init",
            CONFIG,
            "--data",
        ])
        .arg(data)
        .arg("--output")
        .arg(out)
        .args(["--eval-every", "20", "--warmup", "5"])
        .args(extra))
}

/// `dnagpu classify` with `model` (its model options) on the folder's
/// test.csv, into `output`; it must succeed.
fn classify_test_csv(dir: &Path, model: &[&std::ffi::OsStr], output: &Path) {
    let (ok, _, err) = run(dnagpu()
        .args(["--backend", "cpu", "classify"])
        .args(model)
        .arg("--input")
        .arg(dir.join("test.csv"))
        .arg("--output")
        .arg(output));
    assert!(ok, "{err}");
}

fn metrics(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn full_fine_tuning_learns_a_rule_and_writes_a_model_classify_loads() {
    let dir = tmp("full");
    gc_task(&dir);
    let out = dir.join("out");
    let (ok, _, err) = finetune(
        &dir,
        &out,
        &["--mode", "full", "--lr", "2e-3", "--epochs", "3"],
    );
    assert!(ok, "{err}");
    let m = metrics(&out);
    assert!(m["test"]["accuracy"].as_f64().unwrap() >= 0.95, "{m}");
    assert!(m["test"]["mcc"].as_f64().unwrap() >= 0.9, "{m}");
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "predictions.csv",
        "dev_curve.svg",
        "confusion_matrix.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let p = dir.join("p.csv");
    classify_test_csv(&dir, &["--model".as_ref(), out.as_os_str()], &p);
    // classify reproduces finetune's test predictions.
    let a = std::fs::read_to_string(&p).unwrap();
    let b = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    let preds = |t: &str| {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(preds(&a), preds(&b));
}

#[test]
fn lora_writes_a_peft_adapter_classify_uses() {
    let dir = tmp("lora");
    gc_task(&dir);
    let out = dir.join("out");
    let (ok, _, err) = finetune(
        &dir,
        &out,
        &[
            "--mode",
            "lora",
            "--lr",
            "1e-2",
            "--epochs",
            "6",
            "--lora-targets",
            "Wqkv,wo",
            "--merge",
        ],
    );
    assert!(ok, "{err}");
    let m = metrics(&out);
    assert_eq!(m["mode"], "lora");
    assert!(m["test"]["accuracy"].as_f64().unwrap() > 0.7, "{m}");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 8);
    // --random-init builds the same base again (same seed): the adapter fits it.
    let p = dir.join("p.csv");
    classify_test_csv(
        &dir,
        &[
            "--random-init".as_ref(),
            CONFIG.as_ref(),
            "--adapter".as_ref(),
            out.as_os_str(),
        ],
        &p,
    );
    let preds = |t: String| {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        preds(std::fs::read_to_string(&p).unwrap()),
        preds(std::fs::read_to_string(out.join("predictions.csv")).unwrap())
    );
    // --merge: the merged model folder gives the same predictions.
    let q = dir.join("q.csv");
    classify_test_csv(&dir, &["--model".as_ref(), out.as_os_str()], &q);
    assert_eq!(
        preds(std::fs::read_to_string(&q).unwrap()),
        preds(std::fs::read_to_string(&p).unwrap())
    );
}

#[test]
fn bad_labels_and_missing_splits_are_named() {
    let dir = tmp("bad");
    std::fs::write(
        dir.join("train.csv"),
        "sequence,label\nACGTACGT,0\nACGTTTGA,one\n",
    )
    .unwrap();
    let (ok, _, err) = finetune(&dir, &dir.join("o"), &[]);
    assert!(
        !ok && err.contains("train.csv:3") && err.contains("one"),
        "{err}"
    );
    std::fs::write(
        dir.join("train.csv"),
        "sequence,label\nACGTACGT,1\nACGTTTGA,1\n",
    )
    .unwrap();
    let (ok, _, err) = finetune(&dir, &dir.join("o"), &[]);
    assert!(!ok && err.contains("nothing to learn"), "{err}");
    let empty = tmp("empty");
    let (ok, _, err) = finetune(&empty, &empty.join("o"), &[]);
    assert!(!ok && err.contains("no train.csv"), "{err}");
    // Options out of range are errors before any training.
    std::fs::write(
        dir.join("train.csv"),
        "sequence,label\nACGTACGT,0\nACGTTTGA,1\n",
    )
    .unwrap();
    for (args, want) in [
        (&["--lora-r", "0"][..], "`r` must be positive"),
        (&["--lora-alpha=-2"][..], "`lora_alpha` -2 must be positive"),
        (
            &["--lr", "0"][..],
            "learning rate (--lr) 0: it must be a positive number",
        ),
        (
            &["--lr", "nan"][..],
            "learning rate (--lr) NaN: it must be a positive number",
        ),
    ] {
        let (ok, _, err) = finetune(&dir, &dir.join("o"), args);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    }
}

/// Every file of a folder, by name.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// An output folder that holds anything is refused before any work, its
/// files untouched; `--overwrite` replaces an earlier result whole (nothing
/// of it left to mix with the new one); an empty folder is fine.
#[test]
fn an_earlier_result_is_kept_unless_overwrite() {
    let dir = tmp("overwrite");
    gc_task(&dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (ok, _, err) = finetune(&dir, &out, &["--max-steps", "2"]);
    assert!(ok, "an empty folder is fine: {err}");
    let before = snapshot(&out);
    assert!(before.contains_key("adapter_model.safetensors"));
    let (ok, _, err) = finetune(&dir, &out, &["--max-steps", "2"]);
    assert!(
        !ok && err.contains(&out.display().to_string())
            && err.contains("earlier fine-tuning result")
            && err.contains("metrics.json")
            && err.contains("--output")
            && err.contains("--overwrite"),
        "{err}"
    );
    assert!(
        !err.contains("training sequences"),
        "before any work: {err}"
    );
    assert_eq!(snapshot(&out), before);
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let (ok, _, err) = finetune(&dir, &other, &["--max-steps", "2"]);
    assert!(!ok && err.contains("notes.txt"), "{err}");
    // --overwrite: a full model replaces the LoRA adapter, which is gone.
    let (ok, _, err) = finetune(
        &dir,
        &out,
        &["--max-steps", "2", "--mode", "full", "--overwrite"],
    );
    assert!(ok, "{err}");
    assert!(err.contains("removed the earlier result's"), "{err}");
    assert!(
        out.join("model.safetensors").is_file() && !out.join("adapter_model.safetensors").exists()
    );
    assert_eq!(metrics(&out)["mode"], "full");
}

/// SIGTERM mid-run: the model with the lowest dev loss so far is written
/// (classify loads it) with metrics.json marked interrupted, the exit code
/// is 143, and the message says how to go on; the same command is then
/// refused (the result is kept) until --overwrite.
#[cfg(unix)]
#[test]
fn a_signal_writes_the_best_model_so_far_and_exits_with_its_code() {
    let dir = tmp("signal");
    gc_task(&dir);
    let out = dir.join("out");
    let mut c = dnagpu();
    c.args([
        "--backend",
        "cpu",
        "finetune",
        "--random-init",
        CONFIG,
        "--data",
    ])
    .arg(&dir)
    .arg("--output")
    .arg(&out)
    .args(["--eval-every", "5", "--warmup", "5", "--epochs", "1000"]);
    let mut run = common::running::Running::spawn(&mut c);
    run.wait_for_line("step 5: dev loss");
    run.signal(libc::SIGTERM);
    let (code, err) = run.finish();
    assert_eq!(code, Some(143), "{err}");
    assert!(
        err.contains("SIGTERM")
            && err.contains("stopped at step")
            && err.contains("lowest dev loss so far")
            && err.contains("--overwrite"),
        "{err}"
    );
    let m = metrics(&out);
    assert_eq!(m["interrupted"], true, "{m}");
    assert!(m["best_step"].as_u64().unwrap() >= 5, "{m}");
    assert!(m.get("test").is_none(), "{m}");
    classify_test_csv(
        &dir,
        &[
            "--random-init".as_ref(),
            CONFIG.as_ref(),
            "--adapter".as_ref(),
            out.as_os_str(),
        ],
        &dir.join("p.csv"),
    );
    let (ok, _, err) = finetune(&dir, &out, &[]);
    assert!(!ok && err.contains("--overwrite"), "{err}");
}

#[test]
fn classify_without_a_model_uses_the_shipped_model_and_demo_adapter() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/gue_sample.csv");
    let (ok, out, err) = run(dnagpu().args(["--backend", "cpu", "classify", "--input", sample]));
    assert!(ok, "{err}");
    assert!(err.contains("demo adapter"), "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id,prediction,prob_0,prob_1,label"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 20);
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        let (p0, p1): (f32, f32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert!((p0 + p1 - 1.0).abs() < 1e-5, "{r}");
    }
}

/// `dnagpu gue` with the three families (the shipped DNABERT-2 model, given
/// twice under two names, so those runs must agree, a DNABERT k-mer folder
/// and a Nucleotide Transformer v2 folder) and the k-mer baseline: one
/// comparison table, a results.csv row per run and task, a chart with a bar
/// per run; a second call reuses every finished run.
#[test]
fn gue_compares_several_models_in_one_table() {
    let dir = tmp("gue");
    let gue = dir.join("GUE");
    let task = gue.join("gc/0");
    std::fs::create_dir_all(&task).unwrap();
    gc_task(&task);
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/dnabert2-small-gue");
    let link = dir.join("shipped-copy");
    std::fs::create_dir_all(&link).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(Path::new(shipped).join(f), link.join(f)).unwrap();
    }
    let out = dir.join("out");
    let gue_run = |models: &[&std::ffi::OsStr]| {
        let mut c = dnagpu();
        c.args(["--backend", "cpu", "gue", "--gue"]).arg(&gue);
        for m in models {
            c.arg("--model").arg(m);
        }
        c.arg("--output").arg(&out).args([
            "--baseline",
            "kmer",
            "--max-steps",
            "6",
            "--batch-size",
            "16",
        ]);
        run(&mut c)
    };
    let dnabert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/dnabert_tiny"
    );
    let nt = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/nt_v2_tiny");
    let models = [
        shipped.as_ref(),
        link.as_os_str(),
        dnabert.as_ref(),
        nt.as_ref(),
    ];
    let (ok, stdout, err) = gue_run(&models);
    assert!(ok, "{err}");
    assert!(stdout.contains("test MCC / accuracy"), "{stdout}");
    assert!(stdout.contains("nt_v2_tiny"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert!(rows[2].contains("dnabert_tiny,lora,gc/0,"), "{csv}");
    assert!(rows[3].contains("nt_v2_tiny,lora,gc/0,"), "{csv}");
    assert!(rows[4].starts_with("kmer baseline,kmer,gc/0,"), "{csv}");
    let mcc = |r: &str| r.split(',').nth(3).unwrap().to_string();
    assert_eq!(mcc(rows[0]), mcc(rows[1]), "the same model twice: {csv}");
    let svg = std::fs::read_to_string(out.join("results.svg")).unwrap();
    assert!(svg.contains("kmer baseline"), "the chart names each run");
    let (ok, _, err) = gue_run(&models);
    assert!(ok && err.matches("done before").count() == 5, "{err}");
}

/// `gue` reuses a finished task but runs one a signal interrupted again.
#[test]
fn gue_runs_an_interrupted_task_again() {
    let dir = tmp("gue-interrupted");
    let gue = dir.join("GUE");
    std::fs::create_dir_all(gue.join("gc/0")).unwrap();
    gc_task(&gue.join("gc/0"));
    let out = dir.join("out");
    let done = out.join("kmer/gc_0/metrics.json");
    std::fs::create_dir_all(done.parent().unwrap()).unwrap();
    std::fs::write(&done, r#"{"interrupted": true, "steps": 3}"#).unwrap();
    let gue_run = || {
        run(dnagpu()
            .args(["--backend", "cpu", "gue", "--gue"])
            .arg(&gue)
            .arg("--output")
            .arg(&out)
            .args(["--baseline", "kmer"]))
    };
    let (ok, _, err) = gue_run();
    assert!(ok && !err.contains("done before"), "{err}");
    assert!(metrics(done.parent().unwrap())["test"]["mcc"].is_number());
    let (ok, _, err) = gue_run();
    assert!(ok && err.contains("done before"), "{err}");
}

/// `folder` fine-tunes with LoRA on query/key/value: the task (written by
/// `task`) is learnt, the adapter names PEFT's modules and `classify
/// --adapter` uses it; full fine-tuning writes a model folder under the
/// checkpoint's own names that `classify` loads.
fn fine_tunes_with_lora_on_query_key_value(name: &str, folder: &str, task: fn(&Path)) {
    let dir = tmp(name);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    task(&data);
    let model = format!("{}/../tests/fixtures/{folder}", env!("CARGO_MANIFEST_DIR"));
    let model = model.as_str();
    let out = dir.join("out");
    let (ok, _, err) = run(dnagpu()
        .args(["--backend", "cpu", "finetune", "--model", model, "--data"])
        .arg(&data)
        .arg("--output")
        .arg(&out)
        .args(["--epochs", "3", "--lr", "3e-3"]));
    assert!(ok, "{err}");
    let m = metrics(&out);
    assert!(
        m["test"]["accuracy"].as_f64().unwrap() > 0.9,
        "{folder}: {m}"
    );
    let cfg = std::fs::read_to_string(out.join("adapter_config.json")).unwrap();
    assert!(
        cfg.contains("\"query\"") && cfg.contains("\"value\""),
        "{cfg}"
    );
    classify_test_csv(
        &data,
        &[
            "--model".as_ref(),
            model.as_ref(),
            "--adapter".as_ref(),
            out.as_os_str(),
        ],
        &dir.join("pred.csv"),
    );
    // Full fine-tuning: every parameter; the model folder keeps the
    // checkpoint's names (query/key/value) and classify loads it.
    let full = dir.join("full");
    let (ok, _, err) = run(dnagpu()
        .args([
            "--backend",
            "cpu",
            "finetune",
            "--model",
            model,
            "--mode",
            "full",
            "--max-steps",
            "20",
            "--lr",
            "1e-3",
            "--data",
        ])
        .arg(&data)
        .arg("--output")
        .arg(&full));
    assert!(ok, "{err}");
    let saved =
        dnagpu::model::Weights::from_safetensors_file(&full.join("model.safetensors")).unwrap();
    let names: Vec<&str> = saved.names().collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("layer.0.attention.self.query.weight"))
            && !names.iter().any(|n| n.contains("Wqkv")),
        "{names:?}"
    );
    assert!(metrics(&full)["test"]["accuracy"].as_f64().unwrap() > 0.6);
    classify_test_csv(
        &data,
        &["--model".as_ref(), full.as_os_str()],
        &dir.join("pred-full.csv"),
    );
}

/// `--precision f16` on the CPU backend: LoRA beside f16 weight matrices
/// learns, and full fine-tuning (f32 here: the CPU backend does not compute
/// in half precision) too. Mixed precision itself: tests/train_classify.rs
/// and tests/mixed_precision.rs on the GPU.
#[test]
fn lora_and_full_fine_tuning_learn_in_f16() {
    let dir = tmp("f16-lora");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    kmer_task(&data);
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/nt_v2_tiny");
    let tune = |mode: &str, out: &str| {
        run(dnagpu()
            .args(["--backend", "cpu", "finetune", "--model", model, "--data"])
            .arg(&data)
            .arg("--output")
            .arg(dir.join(out))
            .args([
                "--epochs",
                "3",
                "--lr",
                "3e-3",
                "--precision",
                "f16",
                "--mode",
                mode,
            ]))
    };
    let (ok, _, err) = tune("lora", "lora");
    assert!(ok, "{err}");
    let m = metrics(&dir.join("lora"));
    assert!(m["test"]["accuracy"].as_f64().unwrap() > 0.9, "{m}");
    let (ok, _, err) = tune("full", "full");
    assert!(ok, "{err}");
    let m = metrics(&dir.join("full"));
    assert!(m["test"]["accuracy"].as_f64().unwrap() > 0.9, "{m}");
}

/// DNABERT (k-mer BERT) on the GC rule.
#[test]
fn dnabert_fine_tunes_with_lora() {
    fine_tunes_with_lora_on_query_key_value("dnabert-lora", "dnabert_tiny", gc_task);
}

/// The Nucleotide Transformer v1 and v2 on the 6-mer task.
#[test]
fn nucleotide_transformer_fine_tunes_with_lora() {
    for v in ["v1", "v2"] {
        fine_tunes_with_lora_on_query_key_value(
            &format!("nt-{v}-lora"),
            &format!("nt_{v}_tiny"),
            kmer_task,
        );
    }
}
