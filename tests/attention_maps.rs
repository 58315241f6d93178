//! Attention maps (`dnagpu::attention_maps`) and per-base embeddings
//! (`Pooling::PerBase`) against the independent PyTorch reference
//! (scripts/reference/attention_fixtures.py, tests/fixtures/attention):
//! DNABERT-2 in plain PyTorch (ALiBi), DNABERT through `transformers`'
//! BertModel (no positional bias in attention), the Nucleotide Transformer
//! v1 / v2 through EsmModel (v2: rotary), all in f64, on three short
//! sequences, one with an N. Token ids must be identical; every map and
//! per-base vector is within the f32 tolerance (rtol 1e-4, atol 1e-5 * the
//! largest magnitude) on the CPU backend and on the GPU (lavapipe).

mod common;

use std::path::{Path, PathBuf};

use dnagpu::attention_maps::{attention_maps, check_length, resolve};
use dnagpu::embed::{embed, EmbedOptions, Pooling};
use dnagpu::model::io::ModelFiles;
use dnagpu::model::Model;
use dnagpu::testing::{check_close, Tol};
use dnagpu::Device;

const MODELS: [&str; 4] = ["tiny", "dnabert_tiny", "nt_v1_tiny", "nt_v2_tiny"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture's records: (id, sequence).
fn records() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures().join("attention/input.fa")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|c| (c[0][1..].to_string(), c[1].to_string()))
        .collect()
}

/// Tensor `name` of the reference file: shape and values (f32 or int64, as f64).
fn tensor(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f64>) {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let data = t.data();
    let values = match t.dtype() {
        safetensors::Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        safetensors::Dtype::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        d => panic!("{name}: {d:?}"),
    };
    (t.shape().to_vec(), values)
}

/// The maps of `layers` x `heads` of one sequence, as the library gives them.
fn maps(dev: &Device, model: &Model, ids: &[u32], layers: &[usize], heads: &[usize]) -> Vec<f32> {
    let mut got = Vec::new();
    pollster::block_on(attention_maps(
        dev,
        &model.encoder,
        ids,
        layers,
        heads,
        |m| {
            got.extend_from_slice(m);
            Ok(())
        },
    ))
    .unwrap();
    got
}

fn check_model(dev: &Device, name: &str) {
    let files = ModelFiles::open(&fixtures().join(name)).unwrap();
    let model = Model::load(dev, &files.config, &files.weights).unwrap();
    let want = std::fs::read(fixtures().join(format!("attention/{name}.safetensors"))).unwrap();
    let (nl, nh) = (
        files.config.num_hidden_layers,
        files.config.num_attention_heads,
    );
    let all = (
        resolve(None, nl, "--layers").unwrap(),
        resolve(None, nh, "--heads").unwrap(),
    );
    let what = |id: &str| format!("{name} {id} on {}", dev.name());
    for (id, seq) in records() {
        let ids = files.tokenizer.encode(&seq).unwrap().ids;
        let (_, want_ids) = tensor(&want, &format!("{id}.input_ids"));
        let ids_f: Vec<f64> = ids.iter().map(|&i| i as f64).collect();
        assert_eq!(ids_f, want_ids, "{}: token ids", what(&id));
        let (shape, want_maps) = tensor(&want, &id);
        let t = ids.len();
        assert_eq!(shape, [nl, nh, t, t], "{}", what(&id));
        let got = maps(dev, &model, &ids, &all.0, &all.1);
        check_close(&what(&id), &got, &want_maps, Tol::F32).unwrap();
        // One layer, two heads given out of order: the slices, ascending.
        let (layers, heads) = (
            resolve(Some(&[-1]), nl, "--layers").unwrap(),
            resolve(Some(&[3, 0]), nh, "--heads").unwrap(),
        );
        let sub = maps(dev, &model, &ids, &layers, &heads);
        let mut want_sub = Vec::new();
        for h in [0, 3] {
            want_sub.extend_from_slice(&want_maps[((nl - 1) * nh + h) * t * t..][..t * t]);
        }
        check_close(
            &format!("{} layer -1 heads 0, 3", what(&id)),
            &sub,
            &want_sub,
            Tol::F32,
        )
        .unwrap();
    }
    // Per base: the last hidden state's rows spread over the bases.
    let recs = records();
    let seqs: Vec<&str> = recs.iter().map(|r| r.1.as_str()).collect();
    let opts = EmbedOptions {
        pooling: Pooling::PerBase,
        ..Default::default()
    };
    let got =
        pollster::block_on(embed(dev, &model, &files.tokenizer, &seqs, &opts, |_| {})).unwrap();
    for ((id, seq), e) in recs.iter().zip(&got) {
        let (shape, want_rows) = tensor(&want, &format!("{id}.per_base"));
        assert_eq!(shape, [seq.len(), files.config.hidden_size], "{}", what(id));
        check_close(
            &format!("{} per base", what(id)),
            &e.values,
            &want_rows,
            Tol::F32,
        )
        .unwrap();
    }
}

#[test]
fn maps_and_per_base_match_the_reference_on_the_cpu() {
    for name in MODELS {
        check_model(&Device::Cpu, name);
    }
}

#[test]
fn maps_and_per_base_match_the_reference_on_the_gpu() {
    let Some(dev) = common::gpu() else { return };
    for name in MODELS {
        check_model(&dev, name);
    }
}

/// Bad indices name the valid range; an index given twice is refused.
#[test]
fn bad_indices_name_the_range() {
    let err = resolve(Some(&[0, 12]), 12, "--layers")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--layers 12") && err.contains("0..=11"),
        "{err}"
    );
    let err = resolve(Some(&[-5]), 4, "--heads").unwrap_err().to_string();
    assert!(err.contains("--heads -5") && err.contains("0..=3"), "{err}");
    assert!(
        resolve(Some(&[1, -3]), 4, "--heads").is_err(),
        "1 given twice"
    );
    assert_eq!(resolve(Some(&[-1, 0]), 4, "--heads").unwrap(), [0, 3]);
}

/// Over 2,048 tokens (or the model's positions) is refused before any work.
#[test]
fn long_sequences_are_refused() {
    let err = check_length(None, 3, 9000, 2049).unwrap_err().to_string();
    assert!(
        err.contains("input sequence 3") && err.contains("2048"),
        "{err}"
    );
    assert!(check_length(None, 1, 9000, 2048).is_ok());
    let err = check_length(Some(64), 1, 90, 70).unwrap_err().to_string();
    assert!(err.contains("at most 64 tokens"), "{err}");
    let files = ModelFiles::open(&fixtures().join("tiny")).unwrap();
    let model = Model::load(&Device::Cpu, &files.config, &files.weights).unwrap();
    let ids = vec![5u32; 2049];
    let mut called = false;
    let r = pollster::block_on(attention_maps(
        &Device::Cpu,
        &model.encoder,
        &ids,
        &[0],
        &[0],
        |_| {
            called = true;
            Ok(())
        },
    ));
    assert!(r.is_err() && !called);
    let r = pollster::block_on(attention_maps(
        &Device::Cpu,
        &model.encoder,
        &ids[..9],
        &[2],
        &[0],
        |_| Ok(()),
    ));
    assert!(r.unwrap_err().to_string().contains("layer 2"));
}
