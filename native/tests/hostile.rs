//! Bad input as a hostile but realistic user gives it: one case per kind,
//! each run in a folder of its own holding files the user cares about.
//! Every case asserts the exit code, a message that says what is wrong and
//! where, no panic, and that every file in the folder is byte-for-byte as
//! it was, with nothing new left behind.
//!
//! Over 700 lines on purpose: the cases are one table, read top to bottom
//! as the list of what a user can get wrong; splitting it would scatter it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{dnagpu, tmp};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The test model (a tiny DNABERT-2 without a classification head).
fn tiny() -> PathBuf {
    root().join("tests/fixtures/tiny")
}

/// Files every case's folder starts with: results of earlier runs and the
/// user's inputs.
fn user_files(dir: &Path) {
    std::fs::write(dir.join("keep.npy"), b"precious results").unwrap();
    std::fs::write(
        dir.join("in.csv"),
        "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,1\n",
    )
    .unwrap();
    std::fs::write(dir.join("in.fa"), ">a\nACGTACGTAC\n>b\nTTGGCCAATT\n").unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Rewrites `file` (safetensors) with a NaN in the first value of `tensor`
/// (`None`: the first tensor by name).
fn poison(file: &Path, tensor: Option<&str>) {
    set_first(file, tensor, f32::NAN);
}

/// Rewrites `file` (safetensors) with `value` as the first value of
/// `tensor` (`None`: the first tensor by name).
fn set_first(file: &Path, tensor: Option<&str>, value: f32) {
    use safetensors::{Dtype, SafeTensors};
    let bytes = std::fs::read(file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    let target = tensor.map_or(names[0].clone(), str::to_string);
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = names
        .iter()
        .map(|n| {
            let v = st.tensor(n).unwrap();
            assert_eq!(v.dtype(), Dtype::F32, "{n}");
            (n.clone(), v.shape().to_vec(), v.data().to_vec())
        })
        .collect();
    for (n, _, data) in &mut owned {
        if *n == target {
            data[..4].copy_from_slice(&value.to_le_bytes());
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    std::fs::write(file, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// What is in `dir` (recursively): path -> bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                out.insert(
                    p.clone(),
                    std::fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

struct Case {
    name: &'static str,
    /// Arguments after `dnagpu --backend cpu`; `{dir}` is the case's
    /// folder, `{tiny}` the test model, `{root}` the checkout.
    args: &'static str,
    stdin: &'static [u8],
    /// Prepares the folder beyond [`user_files`].
    setup: fn(&Path),
    /// 1: a run-time error; 2: a usage error (clap).
    code: i32,
    /// Part of the message that must appear.
    says: &'static str,
}

fn none(_: &Path) {}

fn run_case(c: &Case) -> Result<(), String> {
    let dir = tmp(&format!("hostile-{}", c.name));
    user_files(&dir);
    (c.setup)(&dir);
    let before = snapshot(&dir);
    let args: Vec<String> = c
        .args
        .split_whitespace()
        .map(|a| {
            a.replace("{dir}", dir.to_str().unwrap())
                .replace("{tiny}", tiny().to_str().unwrap())
                .replace("{root}", root().to_str().unwrap())
        })
        .collect();
    let mut cmd = dnagpu();
    cmd.current_dir(&dir);
    if !args.iter().any(|a| a == "--backend") {
        cmd.args(["--backend", "cpu"]);
    }
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut sin = child.stdin.take().unwrap();
        // A run that fails on its arguments may exit before reading stdin.
        let _ = sin.write_all(c.stdin);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // For reading every message at once: HOSTILE_SHOW=1 cargo test --test hostile -- --nocapture
    if std::env::var_os("HOSTILE_SHOW").is_some() {
        eprintln!(
            "--- {} (exit {:?})\n{}",
            c.name,
            out.status.code(),
            err.trim_end()
        );
    }
    let mut problems = Vec::new();
    if out.status.code() != Some(c.code) {
        problems.push(format!("exit {:?}, want {}", out.status.code(), c.code));
    }
    if !err.contains(c.says) {
        problems.push(format!("message lacks `{}`", c.says));
    }
    if err.contains("panicked") {
        problems.push("panicked".into());
    }
    let after = snapshot(&dir);
    for (p, bytes) in &before {
        match after.get(p) {
            None => problems.push(format!("{} was deleted", p.display())),
            Some(b) if b != bytes => problems.push(format!("{} was changed", p.display())),
            _ => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        problems.push(format!("{} was left behind", p.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n  dnagpu {}\n  stderr: {err}",
            c.name,
            problems.join("; "),
            args.join(" ")
        ))
    }
}

/// A case whose command fails with exit `code` and says `says`.
fn case(name: &'static str, args: &'static str, code: i32, says: &'static str) -> Case {
    Case {
        name,
        args,
        stdin: b"",
        setup: none,
        code,
        says,
    }
}

impl Case {
    fn stdin(self, stdin: &'static [u8]) -> Self {
        Self { stdin, ..self }
    }

    fn setup(self, setup: fn(&Path)) -> Self {
        Self { setup, ..self }
    }
}

/// A GUE-style folder `gue/` whose train.csv is `train` (dev.csv: two rows).
fn gue(dir: &Path, train: &str) {
    let g = dir.join("gue");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::write(g.join("train.csv"), train).unwrap();
    std::fs::write(
        g.join("dev.csv"),
        "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,1\n",
    )
    .unwrap();
}

/// The test model's copy with one finite weight so large that every
/// result overflows to NaN (a NaN weight is refused when the model loads).
fn overflowing_model(dir: &Path) {
    set_first(
        &model_copy(dir).join("model.safetensors"),
        Some("bert.embeddings.LayerNorm.bias"),
        3e38,
    );
}

fn model_copy(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    copy_dir(&tiny(), &m);
    m
}

/// The test model's copy in `dir/model` with `pytorch_model.bin` replaced
/// by the fixture `name` and no model.safetensors.
fn with_pickle(dir: &Path, name: &str) {
    let m = model_copy(dir);
    std::fs::remove_file(m.join("model.safetensors")).unwrap();
    let fixture = root().join("tests/fixtures/torch_bin").join(name);
    std::fs::copy(fixture, m.join("pytorch_model.bin")).unwrap();
}

const TWO_LABELS: &str = "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,1\n";

fn cases() -> Vec<Case> {
    vec![
        // Input text.
        case("empty-stdin", "embed --model {tiny}", 1, "no sequences"),
        case("bad-symbol", "embed --model {tiny}", 1, "position 5").stdin(b">a\nACGTX\n"),
        case(
            "binary-stdin",
            "embed --model {tiny}",
            1,
            "does not look like a text sequence file",
        )
        .stdin(b"\x00\x01\x02binary"),
        case(
            "latin1",
            "embed --model {tiny} --input l1.fa",
            1,
            "line 1 is not valid UTF-8",
        )
        .setup(|d| std::fs::write(d.join("l1.fa"), b">s1 caf\xe9\nACGT\n").unwrap()),
        case("utf16", "embed --model {tiny} --input u16.fa", 1, "UTF-16")
            .setup(|d| std::fs::write(d.join("u16.fa"), b"\xff\xfe>\x00a\x00\n\x00").unwrap()),
        case(
            "header-without-id",
            "embed --model {tiny}",
            1,
            "without an id",
        )
        .stdin(b">\nACGT\n"),
        case("header-without-sequence", "embed --model {tiny}", 1, "only").stdin(b">only\n"),
        case(
            "gzip-garbage",
            "embed --model {tiny} --input bad.fa.gz",
            1,
            "bad.fa.gz",
        )
        .setup(|d| std::fs::write(d.join("bad.fa.gz"), b"\x1f\x8bnot really gzip").unwrap()),
        case(
            "missing-input",
            "embed --model {tiny} --input nowhere.fa",
            1,
            "nowhere.fa",
        ),
        case(
            "input-is-a-folder",
            "embed --model {tiny} --input {dir}",
            1,
            "Is a directory",
        ),
        case(
            "csv-without-sequence-column",
            "embed --model {tiny} --input s.csv",
            1,
            "no `sequence` column",
        )
        .setup(|d| std::fs::write(d.join("s.csv"), "seq,label\nACGT,1\n").unwrap()),
        // Outputs.
        case(
            "output-is-input-csv",
            "embed --model {tiny} --input in.csv --output in.csv",
            1,
            "is the input",
        ),
        case(
            "output-is-input-spelled-otherwise",
            "embed --model {tiny} --input in.csv --output ./sub/../in.csv",
            1,
            "is the input",
        )
        .setup(|d| std::fs::create_dir_all(d.join("sub")).unwrap()),
        case(
            "output-is-link-to-input",
            "embed --model {tiny} --input in.csv --output link.csv",
            1,
            "is the input",
        )
        .setup(|d| std::os::unix::fs::symlink(d.join("in.csv"), d.join("link.csv")).unwrap()),
        case(
            "output-is-a-folder",
            "embed --model {tiny} --input in.fa --output sub.npy",
            1,
            "is a folder",
        )
        .setup(|d| std::fs::create_dir_all(d.join("sub.npy")).unwrap()),
        case(
            "output-folder-missing",
            "embed --model {tiny} --input in.fa --output no/such/e.npy",
            1,
            "does not exist",
        ),
        case(
            "output-unwritable",
            "embed --model {tiny} --input in.fa --output /proc/dnagpu-e.npy",
            1,
            "cannot write /proc/dnagpu-e.npy",
        ),
        case(
            "output-format-unknown",
            "embed --model {tiny} --input in.fa --output e.txt",
            1,
            "unknown output format",
        ),
        case(
            "per-token-to-npy",
            "embed --model {tiny} --input in.fa --pooling none --output e.npy",
            1,
            "only .safetensors",
        ),
        // Options.
        case(
            "pooling-unknown",
            "embed --model {tiny} --input in.fa --pooling median",
            1,
            "median",
        ),
        case(
            "layer-out-of-range",
            "embed --model {tiny} --input in.fa --layer 99",
            1,
            "--layer 99",
        ),
        case(
            "window-zero",
            "embed --model {tiny} --input in.fa --window 0",
            1,
            "window must be positive",
        ),
        case(
            "stride-over-window",
            "embed --model {tiny} --input in.fa --window 4 --stride 9",
            1,
            "stride between 1 and the window",
        ),
        case(
            "batch-size-zero",
            "embed --model {tiny} --input in.fa --batch-size 0",
            2,
            "--batch-size",
        ),
        case(
            "max-tokens-zero",
            "embed --model {tiny} --input in.fa --max-tokens 0",
            2,
            "--max-tokens",
        ),
        // 8 Mbp with the shipped model: refused in a second, untokenized.
        case(
            "chromosome-without-window",
            "embed --input chr.fa",
            1,
            "--window 2000",
        )
        .setup(|d| {
            let chr = format!(">chr\n{}\n", "ACGTTGCA".repeat(1_000_000));
            std::fs::write(d.join("chr.fa"), chr).unwrap()
        }),
        case(
            "backend-unknown",
            "--backend quantum embed --model {tiny} --input in.fa",
            1,
            "quantum",
        ),
        case(
            "unknown-command",
            "fold --input in.fa",
            2,
            "unrecognized subcommand",
        ),
        // Models.
        case(
            "model-missing",
            "embed --model {dir}/nomodel --input in.fa",
            1,
            "nomodel: not a model folder",
        ),
        case(
            "model-without-config",
            "embed --model {dir}/model --input in.fa",
            1,
            "no config.json",
        )
        .setup(|d| std::fs::remove_file(model_copy(d).join("config.json")).unwrap()),
        case(
            "config-not-json",
            "embed --model {dir}/model --input in.fa",
            1,
            "config.json",
        )
        .setup(|d| std::fs::write(model_copy(d).join("config.json"), "{ not json").unwrap()),
        case(
            "tokenizer-garbage",
            "embed --model {dir}/model --input in.fa",
            1,
            "tokenizer.json",
        )
        .setup(|d| std::fs::write(model_copy(d).join("tokenizer.json"), "[1, 2").unwrap()),
        case(
            "weights-truncated",
            "embed --model {dir}/model --input in.fa",
            1,
            "model.safetensors: not a readable",
        )
        .setup(|d| {
            let m = model_copy(d);
            let bytes = std::fs::read(m.join("model.safetensors")).unwrap();
            std::fs::write(m.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
            std::fs::remove_file(m.join("pytorch_model.bin")).unwrap();
        }),
        case(
            "weights-nan",
            "embed --model {dir}/model --input in.fa",
            1,
            "holds NaN",
        )
        .setup(|d| poison(&model_copy(d).join("model.safetensors"), None)),
        case(
            "vep-weights-nan-file",
            "vep --model {dir}/model --variants {root}/tests/fixtures/vep/variants.vcf --reference {root}/tests/fixtures/vep/genome.fa --flank 20 --output scores.csv",
            1,
            "holds NaN; nothing was written",
        )
        .setup(overflowing_model),
        case(
            "vep-weights-nan-stdout",
            "vep --model {dir}/model --variants {root}/tests/fixtures/vep/variants.vcf --reference {root}/tests/fixtures/vep/genome.fa --flank 20",
            1,
            "holds NaN; the lines before it went to stdout",
        )
        .setup(overflowing_model),
        case(
            "pickle-with-code",
            "embed --model {dir}/model --input in.fa",
            1,
            "refusing to load",
        )
        .setup(|d| with_pickle(d, "evil.bin")),
        case(
            "pickle-legacy",
            "embed --model {dir}/model --input in.fa",
            1,
            "weights_only=True",
        )
        .setup(|d| with_pickle(d, "legacy.bin")),
        // classify.
        case(
            "classify-output-is-input",
            "classify --input in.csv --output in.csv",
            1,
            "is the input",
        ),
        case(
            "classify-output-not-csv",
            "classify --input in.csv --output p.npy",
            1,
            "classify writes CSV",
        ),
        case(
            "classify-without-head",
            "classify --model {root}/tests/fixtures/nt_v2_tiny --input in.fa",
            1,
            "no classification head",
        ),
        case(
            "classify-adapter-missing",
            "classify --model {tiny} --adapter {dir}/noadapter --input in.fa",
            1,
            "not an adapter folder",
        ),
        case(
            "classify-adapter-nan",
            "classify --model {tiny} --adapter {dir}/adapter --input in.fa",
            1,
            "holds NaN",
        )
        .setup(|d| {
            copy_dir(
                &root().join("tests/fixtures/peft/adapter"),
                &d.join("adapter"),
            );
            poison(&d.join("adapter/adapter_model.safetensors"), None);
        }),
        // finetune.
        case(
            "finetune-data-missing",
            "finetune --model {tiny} --data {dir}/nogue --output ft",
            1,
            "nogue",
        ),
        case(
            "finetune-no-train-csv",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "no train.csv",
        )
        .setup(|d| {
            gue(d, "");
            std::fs::remove_file(d.join("gue/train.csv")).unwrap();
        }),
        case(
            "finetune-stray-label",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "has label 100000",
        )
        .setup(|d| {
            gue(
                d,
                "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,1\nACGTTTTTAC,100000\n",
            )
        }),
        case(
            "finetune-huge-label",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "has label 4000000000",
        )
        .setup(|d| gue(d, "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,4000000000\n")),
        case(
            "finetune-label-gap",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "no record has label 1",
        )
        .setup(|d| gue(d, "sequence,label\nACGTACGTAC,0\nTTGGCCAATT,2\n")),
        case(
            "finetune-label-text",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "not a class number",
        )
        .setup(|d| gue(d, "sequence,label\nACGTACGTAC,yes\nTTGGCCAATT,no\n")),
        case(
            "finetune-one-label",
            "finetune --model {tiny} --data {dir}/gue --output ft",
            1,
            "nothing to learn",
        )
        .setup(|d| gue(d, "sequence,label\nACGTACGTAC,1\nTTGGCCAATT,1\n")),
        case(
            "finetune-lr-nan",
            "finetune --model {tiny} --data {dir}/gue --output ft --lr nan",
            1,
            "(--lr) NaN",
        )
        .setup(|d| gue(d, TWO_LABELS)),
        case(
            "finetune-epochs-zero",
            "finetune --model {tiny} --data {dir}/gue --output ft --epochs 0",
            1,
            "(--epochs)",
        )
        .setup(|d| gue(d, TWO_LABELS)),
        case(
            "finetune-output-unwritable",
            "finetune --model {tiny} --data {dir}/gue --output /proc/dnagpu-ft",
            1,
            "creating /proc/dnagpu-ft",
        )
        .setup(|d| gue(d, TWO_LABELS)),
        // pretrain.
        case(
            "pretrain-output-unwritable",
            "pretrain --config {tiny}/config.json --data in.fa --output /proc/dnagpu-run",
            1,
            "creating /proc/dnagpu-run",
        ),
        case(
            "pretrain-mlm-probability-over-1",
            "pretrain --config {tiny}/config.json --data in.fa --output run --mlm-probability 1.5",
            1,
            "--mlm-probability",
        ),
        case(
            "pretrain-mlm-probability-zero",
            "pretrain --config {tiny}/config.json --data in.fa --output run --mlm-probability 0",
            1,
            "--mlm-probability",
        ),
        case(
            "pretrain-grad-accum-zero",
            "pretrain --config {tiny}/config.json --data in.fa --output run --grad-accum 0",
            1,
            "--grad-accum",
        ),
        case(
            "pretrain-no-model",
            "pretrain --data in.fa --output run",
            1,
            "pass --config",
        ),
        case(
            "pretrain-data-missing",
            "pretrain --config {tiny}/config.json --data nowhere.fa --output run",
            1,
            "nowhere.fa",
        ),
        case(
            "pretrain-resume-nothing",
            "pretrain --data in.fa --output norun --resume",
            1,
            "no intact checkpoint",
        ),
        // tokenizer train.
        case(
            "tokenizer-output-is-data",
            "tokenizer train --data in.fa --output in.fa",
            1,
            "is the input",
        ),
        case(
            "tokenizer-vocab-too-small",
            "tokenizer train --data in.fa --output t.json --vocab-size 5",
            2,
            "--vocab-size",
        ),
        case(
            "tokenizer-data-missing",
            "tokenizer train --data nowhere.fa --output t.json",
            1,
            "nowhere.fa",
        ),
        // windows.
        case(
            "windows-stride-over-window",
            "windows --input in.fa --window 4 --stride 5 --output {dir}",
            1,
            "stride between 1 and the window",
        ),
        case(
            "windows-more-shards-than-windows",
            "windows --input in.fa --window 10 --shards 3 --output {dir}",
            1,
            "2 windows of 10 bp cannot fill 3 shards",
        ),
        case(
            "windows-output-missing",
            "windows --input in.fa --window 4 --output {dir}/nowhere",
            1,
            "not a folder",
        ),
        case(
            "windows-bad-symbol",
            "windows --input bad.fa --window 4 --output {dir}",
            1,
            "record \"chr2\" (line 3): invalid symbol 'J' at position 3",
        )
        .setup(|d| std::fs::write(d.join("bad.fa"), ">chr1\nACGT\n>chr2\nACJT\n").unwrap()),
        case(
            "windows-input-is-a-shard",
            "windows --input {dir}/shard-0.fa --window 4 --output {dir}",
            1,
            "is the input",
        )
        .setup(|d| std::fs::write(d.join("shard-0.fa"), ">chr1\nACGTACGT\n").unwrap()),
        // Other commands.
        case(
            "gue-nothing-there",
            "gue --model {tiny} --gue {dir}/empty --output g",
            1,
            "no GUE subsets",
        )
        .setup(|d| std::fs::create_dir_all(d.join("empty")).unwrap()),
        case(
            "serve-no-page",
            "serve --dir {dir}/nopage --port 0",
            1,
            "not built",
        ),
    ]
}

#[test]
fn every_kind_of_bad_input_is_a_clear_error_that_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "case {} twice", c.name);
    }
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
