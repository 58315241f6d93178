//! `dnagpu attention` and `dnagpu embed --pooling none --per-base` from the
//! command line, against the PyTorch reference (tests/fixtures/attention,
//! scripts/reference/attention_fixtures.py) on the CPU backend and the GPU,
//! the file's layout (maps, ids, token strings, the indices in the
//! metadata) and every error path: each names what is wrong, exits
//! non-zero, never panics and leaves an earlier output as it was.

mod common;

use std::path::{Path, PathBuf};

use common::{dnagpu, run, tmp};
use dnagpu::testing::{check_close, Tol};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn input() -> PathBuf {
    fixtures().join("attention/input.fa")
}

/// `dnagpu --backend B <command> --model M --input FILE` plus `args`.
fn cmd(
    backend: &str,
    command: &str,
    model: &str,
    input: &Path,
    args: &[&str],
) -> std::process::Command {
    let mut c = dnagpu();
    c.args(["--backend", backend, command, "--model"])
        .arg(fixtures().join(model))
        .arg("--input")
        .arg(input)
        .args(args);
    c
}

/// A safetensors file's tensors as f64 (f32 or int64) with shapes, and its metadata.
struct File {
    bytes: Vec<u8>,
}

impl File {
    fn read(path: &Path) -> Self {
        Self {
            bytes: std::fs::read(path).unwrap(),
        }
    }

    fn get(&self, name: &str) -> (Vec<usize>, Vec<f64>) {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let values = match t.dtype() {
            safetensors::Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            _ => t
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
        };
        (t.shape().to_vec(), values)
    }

    fn meta(&self, key: &str) -> String {
        let (_, m) = safetensors::SafeTensors::read_metadata(&self.bytes).unwrap();
        m.metadata().as_ref().unwrap()[key].clone()
    }
}

fn close(what: &str, got: &[f64], want: &[f64]) {
    let got: Vec<f32> = got.iter().map(|&v| v as f32).collect();
    check_close(what, &got, want, Tol::F32).unwrap();
}

const IDS: [&str; 3] = ["s1", "s2", "s3"];

/// Every map of every record equals the reference's; ids and token strings.
fn whole_file_matches(backend: &str, model: &str) {
    let d = tmp(&format!("attn-{backend}-{model}"));
    let out = d.join("maps.safetensors");
    let (ok, _, err) = run(cmd(backend, "attention", model, &input(), &["--output"]).arg(&out));
    if !ok && backend == "gpu" && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("SKIPPED: {err}");
        return;
    }
    assert!(ok, "{err}");
    let (got, want) = (
        File::read(&out),
        File::read(&fixtures().join(format!("attention/{model}.safetensors"))),
    );
    assert_eq!(got.meta("layers"), "[0,1]");
    assert_eq!(got.meta("heads"), "[0,1,2,3]");
    for id in IDS {
        let (shape, maps) = got.get(id);
        let (want_shape, want_maps) = want.get(id);
        assert_eq!(shape, want_shape, "{model} {id}");
        close(&format!("{model} {id} on {backend}"), &maps, &want_maps);
        let ids = got.get(&format!("{id}.input_ids")).1;
        assert_eq!(ids, want.get(&format!("{id}.input_ids")).1, "{model} {id}");
        let tokens: Vec<String> = serde_json::from_str(&got.meta(&format!("{id}.tokens"))).unwrap();
        assert_eq!(tokens.len(), ids.len());
        assert!(tokens[0] == "[CLS]" || tokens[0] == "<cls>", "{tokens:?}");
    }
}

#[test]
fn maps_match_the_reference_on_the_cpu() {
    for model in ["tiny", "dnabert_tiny", "nt_v1_tiny", "nt_v2_tiny"] {
        whole_file_matches("cpu", model);
    }
}

#[test]
fn maps_match_the_reference_on_the_gpu() {
    whole_file_matches("gpu", "nt_v2_tiny");
    whole_file_matches("gpu", "tiny");
}

/// `--layers -1 --heads 3,1`: [1, 2, T, T], heads ascending.
#[test]
fn chosen_layers_and_heads_are_slices() {
    let d = tmp("attn-subset");
    let out = d.join("maps.safetensors");
    let (ok, _, err) = run(cmd(
        "cpu",
        "attention",
        "dnabert_tiny",
        &input(),
        &["--layers", "-1", "--heads", "3,1", "--output"],
    )
    .arg(&out));
    assert!(ok, "{err}");
    let got = File::read(&out);
    let want = File::read(&fixtures().join("attention/dnabert_tiny.safetensors"));
    assert_eq!(
        (got.meta("layers"), got.meta("heads")),
        ("[1]".into(), "[1,3]".into())
    );
    for id in IDS {
        let (shape, maps) = got.get(id);
        let (ws, w) = want.get(id);
        let t = ws[2];
        assert_eq!(shape, [1, 2, t, t]);
        let mut slice = Vec::new();
        for h in [1, 3] {
            slice.extend_from_slice(&w[(4 + h) * t * t..][..t * t]);
        }
        close(id, &maps, &slice);
    }
}

/// `embed --pooling none --per-base`: `<id>` [bases, H] as the reference.
#[test]
fn per_base_embeddings_match_the_reference() {
    for (backend, model) in [
        ("cpu", "tiny"),
        ("cpu", "dnabert_tiny"),
        ("cpu", "nt_v1_tiny"),
        ("gpu", "dnabert_tiny"),
    ] {
        let d = tmp(&format!("per-base-{backend}-{model}"));
        let out = d.join("bases.safetensors");
        let (ok, _, err) = run(cmd(
            backend,
            "embed",
            model,
            &input(),
            &["--pooling", "none", "--per-base", "--output"],
        )
        .arg(&out));
        if !ok && backend == "gpu" && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") {
            continue;
        }
        assert!(ok, "{err}");
        let got = File::read(&out);
        let want = File::read(&fixtures().join(format!("attention/{model}.safetensors")));
        for id in IDS {
            let (shape, rows) = got.get(id);
            let (ws, w) = want.get(&format!("{id}.per_base"));
            assert_eq!(shape, ws, "{model} {id}");
            close(&format!("{model} {id} per base on {backend}"), &rows, &w);
            assert_eq!(
                got.get(&format!("{id}.input_ids")).1,
                want.get(&format!("{id}.input_ids")).1
            );
        }
    }
}

/// Each bad input: exit non-zero, a message naming the problem, no panic,
/// an earlier output left as it was.
#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let d = tmp("attn-bad");
    let out = d.join("maps.safetensors");
    std::fs::write(&out, b"earlier").unwrap();
    let long = d.join("long.fa");
    std::fs::write(
        &long,
        format!(">short\nACGTACGTAC\n>chr\n{}\n", "ACGTTGCA".repeat(1700)),
    )
    .unwrap();
    let short = d.join("short.fa");
    std::fs::write(&short, ">ok\nACGTACGT\n>tiny\nAC\n").unwrap();
    let o = out.to_str().unwrap();
    let cases: Vec<(std::process::Command, &str)> = vec![
        (
            cmd(
                "cpu",
                "attention",
                "tiny",
                &input(),
                &["--layers", "2", "--output", o],
            ),
            "--layers 2: this model has 2 (0..=1",
        ),
        (
            cmd(
                "cpu",
                "attention",
                "tiny",
                &input(),
                &["--heads", "0,-5", "--output", o],
            ),
            "--heads -5: this model has 4 (0..=3",
        ),
        (
            cmd(
                "cpu",
                "attention",
                "tiny",
                &input(),
                &["--heads", "1,1", "--output", o],
            ),
            "given twice",
        ),
        (
            cmd("cpu", "attention", "nt_v2_tiny", &long, &["--output", o]),
            "input sequence 2 (13600 bp)",
        ),
        (
            cmd("cpu", "attention", "tiny", &long, &["--output", o]),
            "at most 2048 tokens",
        ),
        (
            cmd("cpu", "attention", "dnabert_tiny", &long, &["--output", o]),
            "at most 64 tokens",
        ),
        (
            cmd(
                "cpu",
                "attention",
                "tiny",
                &input(),
                &["--output", input().to_str().unwrap()],
            ),
            "input",
        ),
        (
            cmd(
                "cpu",
                "attention",
                "tiny",
                &input(),
                &["--output", d.join("m.npy").to_str().unwrap()],
            ),
            ".safetensors",
        ),
        (
            cmd(
                "cpu",
                "embed",
                "tiny",
                &input(),
                &["--per-base", "--output", o],
            ),
            "--pooling none",
        ),
    ];
    for (mut c, want) in cases {
        let (ok, _, err) = run(&mut c);
        assert!(!ok, "{want}: succeeded");
        assert!(err.contains(want), "expected {want:?} in: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"earlier",
            "{want}: the output changed"
        );
    }
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3, "no stray files");
}
