//! `dnagpu grad` and `dnagpu pretrain` end to end: gradients and AdamW steps
//! against the PyTorch fixtures, a tiny model overfitting a small FASTA,
//! exact resume, and bad input.

mod common;

use common::{dnagpu, run, tmp};

use std::path::{Path, PathBuf};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/train");

fn tensors(path: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            assert_eq!(v.dtype(), safetensors::Dtype::F32, "{n}");
            (
                n,
                v.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            )
        })
        .collect()
}

/// |a - b| <= rtol |b| + atol_rel max|b|, per tensor.
fn close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol_rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs() + atol_rel * max,
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn grad_writes_pytorch_gradients_and_adamw_steps() {
    let dir = tmp("grad");
    let (g, m) = (dir.join("grads.safetensors"), dir.join("model"));
    let (ok, out, err) = run(dnagpu()
        .args(["--backend", "cpu", "grad", "--model", FIXTURE])
        .arg("--batch")
        .arg(format!("{FIXTURE}/batch.safetensors"))
        .arg("--output")
        .arg(&g)
        .args(["--steps", "10", "--lr", "1e-3", "--weight-decay", "0.01"])
        .arg("--output-model")
        .arg(&m));
    assert!(ok, "{err}");
    let expected = tensors(&PathBuf::from(format!("{FIXTURE}/expected.safetensors")));
    let first = out.lines().next().unwrap();
    let loss: f32 = first.strip_prefix("loss ").expect(first).parse().unwrap();
    close("loss", &[loss], &expected["loss"], 1e-5, 0.0);
    assert!(out.contains("loss_after_steps "), "{out}");
    let grads = tensors(&g);
    // One gradient per parameter, the tied decoder weight counted once.
    let want: Vec<&String> = expected.keys().filter(|k| k.starts_with("grad.")).collect();
    assert_eq!(grads.len(), want.len());
    assert!(!grads.contains_key("cls.predictions.decoder.weight"));
    for k in want {
        close(k, &grads[&k["grad.".len()..]], &expected[k], 1e-3, 1e-4);
    }
    let after = tensors(&m.join("model.safetensors"));
    for (k, want) in expected.iter().filter(|(k, _)| k.starts_with("step10.")) {
        let name = &k["step10.".len()..];
        let (mut got, mut want) = (after[name].clone(), want.clone());
        if name.ends_with("Wqkv.bias") {
            // The key bias has an exactly-zero true gradient (softmax
            // cancels it); Adam turns rounding noise into full steps.
            let h = want.len() / 3;
            got.drain(h..2 * h);
            want.drain(h..2 * h);
        }
        // An update moves a parameter by about lr = 1e-3: 1% of that is the
        // absolute tolerance.
        let max = want.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-30);
        close(k, &got, &want, 1e-5, 1e-5 / max);
    }
    assert!(m.join("config.json").is_file() && m.join("tokenizer.json").is_file());
}

#[test]
fn grad_rejects_a_bad_batch_with_a_clear_error() {
    let dir = tmp("badbatch");
    let bad = dir.join("b.safetensors");
    std::fs::write(&bad, b"not safetensors").unwrap();
    let (ok, _, err) = run(dnagpu()
        .args(["--backend", "cpu", "grad", "--model", FIXTURE])
        .arg("--batch")
        .arg(&bad)
        .arg("--output")
        .arg(dir.join("g.safetensors")));
    assert!(
        !ok && err.contains("b.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    assert!(!dir.join("g.safetensors").exists());
}

/// 8 fixed random sequences of 90 bp, each nine times.
fn small_fasta(dir: &Path) -> PathBuf {
    common::small_fasta(dir, 8)
}

/// Runs `pretrain` on the tiny config; `extra` options replace the defaults
/// of the same name (flags without a value are appended).
fn pretrain(data: &Path, out: &Path, steps: u32, extra: &[&str]) -> (bool, String, String) {
    let steps = steps.to_string();
    let mut opts: Vec<(&str, Option<&str>)> = vec![
        ("--steps", Some(&steps)),
        ("--lr", Some("5e-3")),
        ("--warmup", Some("5")),
        ("--batch-size", Some("8")),
        ("--max-length", Some("32")),
        ("--dropout", Some("0")),
        ("--val-sequences", Some("8")),
        ("--eval-every", Some("20")),
        ("--save-every", Some("20")),
        ("--keep-checkpoints", Some("3")),
    ];
    let mut i = 0;
    while i < extra.len() {
        let value = extra.get(i + 1).filter(|v| !v.starts_with("--")).copied();
        match opts.iter_mut().find(|(k, _)| *k == extra[i]) {
            Some(o) => o.1 = value,
            None => opts.push((extra[i], value)),
        }
        i += if value.is_some() { 2 } else { 1 };
    }
    let mut c = dnagpu();
    c.args(["--backend", "cpu", "pretrain", "--config"])
        .arg(format!("{FIXTURE}/config.json"))
        .arg("--data")
        .arg(data)
        .arg("--output")
        .arg(out);
    for (k, v) in opts {
        c.arg(k);
        if let Some(v) = v {
            c.arg(v);
        }
    }
    run(&mut c)
}

fn losses(run_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(run_dir.join("log.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn pretrain_overfits_resumes_exactly_and_embeds() {
    let dir = tmp("pretrain");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let (ok, _, err) = pretrain(&data, &out, 100, &[]);
    assert!(ok, "{err}");
    let full = losses(&out);
    assert_eq!(full.len(), 100);
    let loss = |l: &String| l.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    let first = loss(&full[0]);
    let last: f64 = full[95..].iter().map(loss).sum::<f64>() / 5.0;
    assert!(
        last < 0.6 * first,
        "the loss fell from {first} only to {last}"
    );
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "log.csv",
        "loss.svg",
        "metrics.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }

    // A run killed after its step-80 checkpoint: resume gives the same losses.
    std::fs::remove_dir_all(out.join("checkpoints/step-00000100")).unwrap();
    let (ok, _, err) = pretrain(&data, &out, 100, &["--resume"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("resuming from") && err.contains("step-00000080"),
        "{err}"
    );
    assert_eq!(losses(&out), full);

    // A corrupt newest checkpoint: the previous one is used, with a warning.
    std::fs::write(
        out.join("checkpoints/step-00000100/model.safetensors"),
        b"garbage",
    )
    .unwrap();
    std::fs::remove_dir_all(out.join("checkpoints/step-00000080")).unwrap();
    let (ok, _, err) = pretrain(&data, &out, 100, &["--resume"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("step-00000100") && err.contains("corrupt") && err.contains("step-00000060"),
        "{err}"
    );
    assert_eq!(losses(&out), full);

    // The run folder is a model folder `embed` loads.
    let npy = dir.join("e.npy");
    let (ok, _, err) = run(dnagpu()
        .args(["--backend", "cpu", "embed", "--model"])
        .arg(&out)
        .arg("--input")
        .arg(&data)
        .arg("--output")
        .arg(&npy));
    assert!(ok, "{err}");
    assert!(std::fs::metadata(&npy).unwrap().len() > 72 * 32 * 4);
}

/// `--precision f16` on the CPU backend (no cooperative matrices): a note
/// says training runs in f32; the final weights are stored in f16; resume
/// is exact, and a resume without `--precision f16` is refused. (Mixed
/// precision itself: tests/mixed_precision.rs, run again on a lavapipe
/// with cooperative matrices by scripts/test.sh.)
#[test]
fn pretrain_with_precision_f16_resumes_exactly() {
    let dir = tmp("pretrain-f16");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let (ok, _, err) = pretrain(&data, &out, 40, &["--precision", "f16"]);
    assert!(ok, "{err}");
    assert!(err.contains("training runs in f32"), "{err}");
    let full = losses(&out);
    assert_eq!(full.len(), 40);
    let loss = |l: &String| l.split(',').nth(1).unwrap().parse::<f64>().unwrap();
    assert!(loss(&full[39]) < 0.8 * loss(&full[0]), "{full:?}");
    let header = std::fs::read(out.join("model.safetensors")).unwrap();
    let header = String::from_utf8_lossy(&header[8..4096.min(header.len())]).to_string();
    assert!(
        header.contains("\"F16\""),
        "the final model should be stored in f16"
    );

    std::fs::remove_dir_all(out.join("checkpoints/step-00000040")).unwrap();
    let (ok, _, err) = pretrain(&data, &out, 40, &["--precision", "f16", "--resume"]);
    assert!(ok && err.contains("step-00000020"), "{err}");
    assert_eq!(losses(&out), full);

    let (ok, _, err) = pretrain(&data, &out, 40, &["--resume"]);
    assert!(!ok && err.contains("precision"), "{err}");
}

#[test]
fn pretrain_refuses_what_would_lose_or_mix_runs() {
    let dir = tmp("refuse");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let (ok, _, err) = pretrain(&data, &out, 2, &["--save-every", "1"]);
    assert!(ok, "{err}");
    // An existing run is not overwritten.
    let (ok, _, err) = pretrain(&data, &out, 2, &[]);
    assert!(
        !ok && err.contains("already holds a run") && err.contains("--resume"),
        "{err}"
    );
    // Resuming with another model or other data settings is an error.
    let other = dir.join("other.json");
    let cfg = std::fs::read_to_string(format!("{FIXTURE}/config.json")).unwrap();
    std::fs::write(
        &other,
        cfg.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"),
    )
    .unwrap();
    let (ok, _, err) = run(dnagpu()
        .args(["--backend", "cpu", "pretrain", "--resume", "--config"])
        .arg(&other)
        .arg("--data")
        .arg(&data)
        .arg("--output")
        .arg(&out));
    assert!(!ok && err.contains("another model"), "{err}");
    let (ok, _, err) = pretrain(&data, &out, 2, &["--seed", "5", "--resume"]);
    assert!(!ok && err.contains("seed"), "{err}");
    // A diverging run stops with a message and keeps its checkpoints.
    let div = dir.join("div");
    let (ok, _, err) = pretrain(
        &data,
        &div,
        3,
        &[
            "--lr",
            "1e30",
            "--warmup",
            "0",
            "--max-grad-norm",
            "0",
            "--save-every",
            "1",
        ],
    );
    assert!(!ok && err.contains("diverged"), "{err}");
    assert!(div.join("checkpoints").read_dir().unwrap().count() >= 1);
    // Bad FASTA: named file, line, record.
    let bad = dir.join("bad.fa");
    std::fs::write(&bad, ">r1\nACGT\nAC*T\n").unwrap();
    let (ok, _, err) = pretrain(&bad, &dir.join("b"), 2, &[]);
    assert!(
        !ok && err.contains("bad.fa:3") && err.contains("r1"),
        "{err}"
    );
    let empty = dir.join("empty.fa");
    std::fs::write(&empty, "").unwrap();
    let (ok, _, err) = pretrain(&empty, &dir.join("c"), 2, &[]);
    assert!(!ok && err.contains("empty"), "{err}");
}

/// On the GPU, in f32 and in mixed precision (lavapipe has shader-f16:
/// f16 weights and activations, said in one line).
#[test]
fn pretrain_runs_on_the_gpu() {
    for precision in ["f32", "f16"] {
        pretrain_on_the_gpu(precision);
    }
}

fn pretrain_on_the_gpu(precision: &str) {
    let dir = tmp(&format!("gpu-{precision}"));
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let (ok, _, err) = run(dnagpu()
        .args([
            "--backend",
            "gpu",
            "pretrain",
            "--precision",
            precision,
            "--config",
        ])
        .arg(format!("{FIXTURE}/config.json"))
        .arg("--data")
        .arg(&data)
        .arg("--output")
        .arg(&out)
        .args([
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--max-length",
            "32",
            "--val-sequences",
            "4",
            "--eval-every",
            "3",
        ]));
    if err.contains("no adapter") && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("SKIPPED: {err}");
        return;
    }
    assert!(ok, "{err}");
    assert!(err.contains("using GPU"), "{err}");
    assert_eq!(losses(&out).len(), 3);
    if precision == "f16" {
        let mixed =
            err.contains("mixed precision on") && err.contains("f16 weights and activations");
        if !mixed && std::env::var("DNAGPU_REQUIRE_F16").as_deref() != Ok("1") {
            eprintln!("SKIPPED (mixed precision on the GPU not run): {err}");
            return;
        }
        assert!(mixed, "{err}");
    }
}

/// The checkpoints of a run folder, oldest first.
fn checkpoints(run_dir: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(run_dir.join("checkpoints")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .filter(|n: &String| n.starts_with("step-"))
        .collect();
    names.sort();
    names
}

/// Steps in log.csv (0 before it exists).
fn logged(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("log.csv"))
        .map(|t| t.matches('\n').count().saturating_sub(1))
        .unwrap_or(0)
}

/// `pretrain` on the tiny config in the background: a run too long to end
/// by itself, with no checkpoint but the one a signal asks for.
#[cfg(unix)]
fn pretrain_until_signalled(data: &Path, out: &Path, extra: &[&str]) -> common::running::Running {
    let mut c = dnagpu();
    c.args(["--backend", "cpu", "pretrain", "--config"])
        .arg(format!("{FIXTURE}/config.json"))
        .arg("--data")
        .arg(data)
        .arg("--output")
        .arg(out)
        .args([
            "--steps",
            "1000000",
            "--batch-size",
            "4",
            "--max-length",
            "32",
            "--val-sequences",
            "4",
            "--save-every",
            "1000000",
        ])
        .args(extra);
    common::running::Running::spawn(&mut c)
}

/// SIGTERM (SLURM, `docker stop`), SIGHUP and SIGINT (Ctrl-C) each save a
/// checkpoint and exit with 128 + the signal's number; --resume continues
/// from it; log.csv has every step from the start, before any checkpoint.
#[cfg(unix)]
#[test]
fn signals_save_a_checkpoint_and_exit_with_their_code() {
    let dir = tmp("signals");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let mut last = 0;
    for (i, (signal, code, name)) in [
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGHUP, 129, "SIGHUP"),
        (libc::SIGINT, 130, "SIGINT"),
    ]
    .into_iter()
    .enumerate()
    {
        let resume: &[&str] = if i == 0 { &[] } else { &["--resume"] };
        let mut run = pretrain_until_signalled(&data, &out, resume);
        run.wait_for_line("training steps");
        run.wait_until("two more steps in log.csv", || logged(&out) >= last + 2);
        if i == 0 {
            assert!(
                checkpoints(&out).is_empty(),
                "log.csv comes before any checkpoint"
            );
        }
        run.signal(signal);
        let (got, err) = run.finish();
        assert_eq!(got, Some(code), "{name}: {err}");
        assert!(
            err.contains(name) && err.contains("stopped at step") && err.contains("--resume"),
            "{name}: {err}"
        );
        let saved = checkpoints(&out);
        let step: usize = saved.last().expect(name)["step-".len()..].parse().unwrap();
        assert!(step >= last + 2, "{name}: {saved:?} after step {last}");
        assert_eq!(logged(&out), step, "{name}: log.csv ends at the checkpoint");
        if i > 0 {
            assert!(
                err.contains(&format!(
                    "resuming from {}",
                    out.join(format!("checkpoints/step-{last:08}")).display()
                )),
                "{name}: {err}"
            );
        }
        last = step;
    }
}

/// A second signal while the first one's checkpoint is pending quits at
/// once, with the second signal's code and no checkpoint.
#[cfg(unix)]
#[test]
fn a_second_signal_quits_at_once() {
    let dir = tmp("second-signal");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    // Slow steps (many micro-batches each), so the second signal comes
    // while the step the first one waits for is still running.
    let mut run = pretrain_until_signalled(&data, &out, &["--grad-accum", "200"]);
    run.wait_for_line("training steps");
    run.wait_until("a step in log.csv", || logged(&out) >= 1);
    run.signal(libc::SIGTERM);
    run.wait_for_line("SIGTERM: saving a checkpoint");
    run.signal(libc::SIGINT);
    let (code, err) = run.finish();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("quitting at once"), "{err}");
    assert!(checkpoints(&out).is_empty(), "{err}");
}

/// Flips one bit of the file at `path`.
fn flip_a_bit(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// Makes the first value of the first tensor (by name) of a safetensors
/// file NaN; returns that tensor's name.
fn poison(path: &Path) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    let (name, at) = {
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        let view = st.tensor(&names[0]).unwrap();
        (
            names[0].clone(),
            view.data().as_ptr() as usize - bytes.as_ptr() as usize,
        )
    };
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
    name
}

/// Removes the file digests from a checkpoint's state.json, as earlier
/// versions wrote it.
fn without_digests(checkpoint: &Path) {
    let path = checkpoint.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(state.as_object_mut().unwrap().remove("sha256").is_some());
    std::fs::write(&path, state.to_string()).unwrap();
}

/// --resume checks each checkpoint file against the sha256 in state.json
/// and every value for being finite: a flipped bit or a NaN falls back to
/// the previous checkpoint, naming file (and tensor); checkpoints without
/// digests load unverified; with none intact it is a clear error. It also
/// removes what writes of a killed process left.
#[test]
fn resume_verifies_checkpoints_and_removes_stale_writes() {
    let dir = tmp("verify");
    let data = small_fasta(&dir);
    let out = dir.join("run");
    let opts = ["--save-every", "2", "--eval-every", "2"];
    let (ok, _, err) = pretrain(&data, &out, 6, &opts);
    assert!(ok, "{err}");
    let full = losses(&out);
    let step = |s: u32| out.join(format!("checkpoints/step-{s:08}"));
    let resume = [&opts[..], &["--resume"]].concat();

    // One flipped bit in the newest checkpoint's optimizer moments; stale
    // temporaries of a process that no longer runs (ids past Linux's largest).
    flip_a_bit(&step(6).join("optimizer.safetensors"));
    let stale_dir = out.join("checkpoints/.tmp-step-00000008-4194321");
    std::fs::create_dir_all(&stale_dir).unwrap();
    std::fs::write(stale_dir.join("model.safetensors"), b"half").unwrap();
    let stale_file = out.join(".log.csv.tmp-4194321");
    std::fs::write(&stale_file, b"half").unwrap();
    let (ok, _, err) = pretrain(&data, &out, 6, &resume);
    assert!(ok, "{err}");
    assert!(
        err.contains("step-00000006")
            && err.contains("optimizer.safetensors does not match the sha256")
            && err.contains(&format!("resuming from {}", step(4).display())),
        "{err}"
    );
    assert!(!stale_dir.exists() && !stale_file.exists(), "{err}");
    assert!(
        err.contains("removed") && err.contains(".log.csv.tmp-4194321"),
        "{err}"
    );
    assert_eq!(losses(&out), full, "resumed from step 4 exactly");

    // A NaN in a checkpoint without digests (as earlier versions wrote
    // them): named as a corrupt file, not as training advice.
    let tensor = poison(&step(6).join("model.safetensors"));
    without_digests(&step(6));
    without_digests(&step(4));
    let (ok, _, err) = pretrain(&data, &out, 6, &resume);
    assert!(ok, "{err}");
    assert!(
        err.contains("model.safetensors: tensor `")
            && err.contains(&tensor)
            && err.contains("NaN")
            && !err.contains("learning rate")
            && err.contains("loaded unverified")
            && err.contains(&format!("resuming from {}", step(4).display())),
        "{err}"
    );
    assert_eq!(losses(&out), full);

    // No intact checkpoint: an error that says why for each.
    for s in [2, 4, 6] {
        std::fs::write(step(s).join("model.safetensors"), b"garbage").unwrap();
    }
    let (ok, _, err) = pretrain(&data, &out, 6, &resume);
    assert!(
        !ok && err.contains("no intact checkpoint")
            && ["step-00000002", "step-00000004", "step-00000006"]
                .iter()
                .all(|s| err.contains(s)),
        "{err}"
    );
}

/// Numbers out of range are refused before any work: no run folder.
#[test]
fn pretrain_checks_its_numbers_before_any_work() {
    let dir = tmp("numbers");
    let data = small_fasta(&dir);
    for (args, want) in [
        (&["--lr", "nan"][..], "learning rate (--lr) NaN"),
        (
            &["--grad-accum", "0"][..],
            "--grad-accum must be at least 1",
        ),
        (
            &["--mlm-probability", "1.5"][..],
            "--mlm-probability must be between 0 and 1",
        ),
        (
            &["--mlm-probability", "0"][..],
            "--mlm-probability must be between 0 and 1",
        ),
    ] {
        let out = dir.join("run");
        let (ok, _, err) = pretrain(&data, &out, 2, args);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}");
    }
}
