//! Out of GPU memory, on lavapipe made small (`set_max_buffer_bytes`):
//! embed and classify split a batch that does not fit, down to one
//! sequence, and give the results of an unsplit run; a sequence that does
//! not fit alone is a clear error, and the device works on afterwards.

mod common;

use std::path::{Path, PathBuf};

use dnagpu::embed::{classify, embed, Batching, EmbedOptions, Progress};
use dnagpu::gpu::GpuDevice;
use dnagpu::model::{Config, Model, Weights};
use dnagpu::testing::{check_close, Rng, Tol};
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::{Device, Error};

/// The batch every run plans: all 16 sequences at once.
const BATCHING: Batching = Batching {
    batch_size: 16,
    max_tokens: 16384,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

/// The fixture model (2 layers, hidden 128, a classifier) and its tokenizer.
fn load(dev: &Device) -> (Model, Tokenizer) {
    let read = |f: &str| std::fs::read_to_string(dir().join(f)).unwrap();
    let cfg = Config::from_json(&read("config.json"), "config.json").unwrap();
    let w = Weights::from_safetensors_file(&dir().join("model.safetensors")).unwrap();
    let tok = BpeTokenizer::from_json(&read("tokenizer.json"), "tokenizer.json").unwrap();
    (Model::load(dev, &cfg, &w).unwrap(), tok.into())
}

/// 16 random sequences of 300-700 bp (about 60-150 tokens each).
fn sequences() -> Vec<String> {
    let mut rng = Rng::new(7);
    (0..16)
        .map(|_| {
            let n = 300 + rng.below(400) as usize;
            (0..n)
                .map(|_| b"ACGT"[rng.below(4) as usize] as char)
                .collect()
        })
        .collect()
}

fn gpu_of(dev: &Device) -> &GpuDevice {
    match dev {
        Device::Gpu(g) => g,
        Device::Cpu => unreachable!("common::gpu gives a GPU"),
    }
}

/// Embeds (mean pooling) and classifies `seqs`: the values and the last progress.
fn run(dev: &Device, model: &Model, tok: &Tokenizer, seqs: &[&str]) -> (Vec<Vec<f32>>, Progress) {
    let opts = EmbedOptions {
        batching: BATCHING,
        ..Default::default()
    };
    let mut last = Progress::default();
    let out = pollster::block_on(embed(dev, model, tok, seqs, &opts, |p| last = p)).unwrap();
    let probs = pollster::block_on(classify(dev, model, tok, seqs, BATCHING, |_| {})).unwrap();
    let values = out.into_iter().chain(probs).map(|e| e.values).collect();
    (values, last)
}

#[test]
fn a_batch_that_does_not_fit_is_split_with_the_same_results() {
    let Some(dev) = common::gpu() else { return };
    let (model, tok) = load(&dev);
    let owned = sequences();
    let seqs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (want, whole) = run(&dev, &model, &tok, &seqs);
    assert_eq!(whole.batches_split, 0, "uncapped, the batch fits");
    assert!(whole.split_notice().is_none());

    // The gated feed-forward output is 4 KiB per token: 16 sequences of
    // ~100 tokens need ~7 MB, one ~0.5 MB.
    let g = gpu_of(&dev);
    g.set_max_buffer_bytes(1 << 20);
    let (got, split) = run(&dev, &model, &tok, &seqs);
    assert!(split.batches_split >= 2, "{split:?}");
    assert_eq!(split.largest_unfit, 16, "{split:?}");
    assert_eq!(split.sequences, 16, "{split:?}");
    let notice = split.split_notice().unwrap();
    assert!(notice.contains("batch of 16 sequences"), "{notice}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let w: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        check_close(&format!("row {i} split vs whole"), g, &w, Tol::F32).unwrap();
    }
}

#[test]
fn a_sequence_that_does_not_fit_alone_is_a_clear_error() {
    let Some(dev) = common::gpu() else { return };
    let (model, tok) = load(&dev);
    let owned = sequences();
    let seqs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let longest = (0..seqs.len()).max_by_key(|&i| seqs[i].len()).unwrap();
    let g = gpu_of(&dev);
    g.set_max_buffer_bytes(64 << 10);
    let opts = EmbedOptions {
        batching: BATCHING,
        ..Default::default()
    };
    let err = pollster::block_on(embed(&dev, &model, &tok, &seqs, &opts, |_| {})).unwrap_err();
    match &err {
        Error::SequenceTooLarge {
            sequence, cause, ..
        } => {
            assert!(cause.is_out_of_memory(), "{err}");
            // Tokens follow bases closely but not exactly: one of the longest.
            assert!(
                seqs[sequence - 1].len() + 100 >= seqs[longest].len(),
                "{err}"
            );
        }
        other => panic!("expected SequenceTooLarge, got {other}"),
    }
    let msg = err.to_string();
    for want in [
        "input sequence",
        "tokens",
        "even alone",
        "--window",
        "--backend cpu",
    ] {
        assert!(msg.contains(want), "`{want}` missing: {msg}");
    }
    assert!(msg.contains(&g.summary().name), "names the device: {msg}");

    // Nothing of the failed batches is left behind: uncapped, it runs.
    g.set_max_buffer_bytes(u64::MAX);
    let out = pollster::block_on(embed(&dev, &model, &tok, &seqs, &opts, |_| {})).unwrap();
    assert_eq!(out.len(), 16);
    assert!(out.iter().all(|e| e.values.iter().all(|v| v.is_finite())));
}
