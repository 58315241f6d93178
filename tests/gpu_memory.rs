//! Out of GPU memory, on lavapipe made small (`set_max_buffer_bytes`):
//! embed and classify split a batch that does not fit, down to one
//! sequence, and give the results of an unsplit run; a sequence that does
//! not fit alone is a clear error, and the device works on afterwards.
//! Training steps run such a batch as micro-batches, with the same step.

mod common;

use std::path::{Path, PathBuf};

use dnagpu::embed::{classify, embed, Batching, EmbedOptions, Progress};
use dnagpu::gpu::GpuDevice;
use dnagpu::model::{init, Config, Dropout, Model, Weights};
use dnagpu::testing::{check_close, Rng, Tol};
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::train::classify::{cls_forward_backward, ClsBatch, ClsModel};
use dnagpu::train::finetune::{self, FineTuneOptions, FineTuner};
use dnagpu::train::optimizer::{AdamW, AdamWConfig};
use dnagpu::train::schedule::{Decay, Schedule};
use dnagpu::train::trainer::{TrainOptions, Trainer};
use dnagpu::train::{forward_backward, HostBatch, MlmModel};
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

/// 16 random sequences of 150-350 bp (about 30-75 tokens each).
fn sequences() -> Vec<String> {
    common::random_sequences(7, 16, 150, 200, b"ACGT")
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
    // ~50 tokens need ~4 MB, one ~0.3 MB.
    let g = gpu_of(&dev);
    g.set_max_buffer_bytes(512 << 10);
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
    g.set_max_buffer_bytes(32 << 10);
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

/// A one-layer model whose largest weight (4096 x 32 word embeddings) is
/// 512 KiB: the cap the training tests set.
fn small_config() -> Config {
    let text = r#"{"vocab_size": 4096, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 48}"#;
    Config::from_json(text, "test config").unwrap()
}

const TRAIN_CAP: u64 = 512 << 10;

const NO_DROPOUT: Dropout = Dropout::OFF;

fn schedule() -> Schedule {
    Schedule {
        peak: 1e-3,
        warmup: 0,
        total: 10,
        decay: Decay::Constant,
    }
}

/// Parameters after a step capped and uncapped agree: loss and gradient
/// norm closely; each parameter within 3% of lr, as Adam's first step
/// divides each gradient by its own magnitude (see train_grad.rs), except
/// the key bias, whose true gradient is zero.
fn check_same_step(names: &[String], loss: [f64; 2], norm: [f64; 2], params: [Vec<Vec<f32>>; 2]) {
    assert!((loss[0] - loss[1]).abs() <= 1e-5 * loss[0], "loss {loss:?}");
    assert!((norm[0] - norm[1]).abs() <= 1e-4 * norm[0], "norm {norm:?}");
    for ((a, b), name) in params[0].iter().zip(&params[1]).zip(names) {
        if name.ends_with("Wqkv.bias") {
            continue;
        }
        let want: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let max = want.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
        let tol = Tol {
            rtol: 1e-5,
            atol_rel: 3e-5 / max,
        };
        check_close(name, b, &want, tol).unwrap();
    }
}

#[test]
fn a_pretraining_batch_that_does_not_fit_runs_as_micro_batches() {
    let Some(dev) = common::gpu() else { return };
    let cfg = small_config();
    let w = init::random_weights(&cfg, 3);
    // 8 rows of 128 tokens, 16 labelled each: the MLM logits are 256 KiB
    // a row, 2 MiB for the batch.
    let (b, t) = (8, 128);
    let mut rng = Rng::new(5);
    let ids: Vec<u32> = (0..b * t).map(|_| 5 + rng.below(4000)).collect();
    let labels = (0..b * t)
        .map(|i| if i % t % 8 == 1 { ids[i] as i64 } else { -100 })
        .collect();
    let batch = HostBatch {
        batch: b,
        seq: t,
        ids,
        mask: vec![1; b * t],
        labels,
    };
    // A fresh model and optimizer: (trainer, parameter names).
    let trainer = || {
        let mut model = MlmModel::load(&dev, &cfg, &w).unwrap();
        let names = model.names();
        let optimizer = AdamW::new(&dev, &names, &model.params(), AdamWConfig::default()).unwrap();
        let options = TrainOptions {
            schedule: schedule(),
            max_grad_norm: 1.0,
            dropout: 0.0,
            seed: 0,
        };
        let tr = Trainer::new(model, optimizer, options, None);
        (tr, names)
    };
    let step = |cap: u64| {
        let (mut tr, names) = trainer();
        gpu_of(&dev).set_max_buffer_bytes(cap);
        let stats = pollster::block_on(tr.train_step(&dev, std::slice::from_ref(&batch)));
        gpu_of(&dev).set_max_buffer_bytes(u64::MAX);
        let stats = stats.unwrap();
        let params = tr
            .model
            .params()
            .iter()
            .map(|p| dev.read_f32_blocking(p).unwrap())
            .collect();
        (stats, params, names)
    };
    // The premise: under the cap the batch's forward and backward do not fit.
    let model = MlmModel::load(&dev, &cfg, &w).unwrap();
    gpu_of(&dev).set_max_buffer_bytes(TRAIN_CAP);
    let on_dev = batch.to_device(&dev, cfg.vocab_size).unwrap();
    let whole = forward_backward(&dev, &model, &on_dev, 1.0, &NO_DROPOUT);
    assert!(whole.is_err_and(|e| e.is_out_of_memory()));
    dev.recover();
    gpu_of(&dev).set_max_buffer_bytes(u64::MAX);

    let (whole, p_whole, names) = step(u64::MAX);
    let (split, p_split, _) = step(TRAIN_CAP);
    assert_eq!(
        (whole.tokens, whole.labelled),
        (split.tokens, split.labelled)
    );
    check_same_step(
        &names,
        [whole.loss, split.loss],
        [whole.grad_norm, split.grad_norm],
        [p_whole, p_split],
    );

    // One row alone over the cap: the step fails saying what to do.
    let (mut tr, _) = trainer();
    gpu_of(&dev).set_max_buffer_bytes(128 << 10);
    let err = pollster::block_on(tr.train_step(&dev, std::slice::from_ref(&batch)))
        .expect_err("a row of 256 KiB logits cannot fit in 128 KiB");
    let msg = err.to_string();
    for want in [
        "step 1",
        "one sequence",
        "even alone",
        "--max-length",
        "--backend cpu",
    ] {
        assert!(msg.contains(want), "`{want}` missing: {msg}");
    }
}

#[test]
fn a_fine_tuning_batch_that_does_not_fit_runs_as_micro_batches() {
    let Some(dev) = common::gpu() else { return };
    let cfg = small_config();
    let w = init::random_weights(&cfg, 4);
    // 8 sequences of 256 tokens: packed QKV and the gated projection are
    // 768 KiB for the batch, 384 KiB for half of it.
    let mut rng = Rng::new(6);
    let seqs: Vec<Vec<u32>> = (0..8)
        .map(|_| {
            let mut s = vec![1];
            s.extend((0..254).map(|_| 5 + rng.below(4000)));
            s.push(2);
            s
        })
        .collect();
    let labels: Vec<u32> = (0..8).map(|i| i % 2).collect();
    let step = |cap: u64| {
        let model = ClsModel::load(&dev, &cfg, &w, 2, 0).unwrap();
        let options = FineTuneOptions {
            schedule: schedule(),
            max_grad_norm: 1.0,
            dropout: 0.0,
            seed: 0,
        };
        let mut tuner = FineTuner::new(&dev, model, AdamWConfig::default(), options).unwrap();
        gpu_of(&dev).set_max_buffer_bytes(cap);
        let st = pollster::block_on(tuner.train_step(&dev, &seqs, &labels));
        gpu_of(&dev).set_max_buffer_bytes(u64::MAX);
        let st = st.unwrap();
        let names = tuner.model.trainable_names();
        let params = tuner
            .model
            .trainable_params()
            .iter()
            .map(|p| dev.read_f32_blocking(p).unwrap())
            .collect();
        (st, params, names)
    };
    // The premise: under the cap the batch's forward and backward do not fit.
    let model = ClsModel::load(&dev, &cfg, &w, 2, 0).unwrap();
    gpu_of(&dev).set_max_buffer_bytes(TRAIN_CAP);
    let batch = ClsBatch::new(&dev, &seqs, &labels, cfg.vocab_size).unwrap();
    let whole = cls_forward_backward(&dev, &model, &batch, 1.0, &NO_DROPOUT);
    assert!(whole.is_err_and(|e| e.is_out_of_memory()));
    dev.recover();
    gpu_of(&dev).set_max_buffer_bytes(u64::MAX);

    let (whole, p_whole, names) = step(u64::MAX);
    let (split, p_split, _) = step(TRAIN_CAP);
    check_same_step(
        &names,
        [whole.loss, split.loss],
        [whole.grad_norm, split.grad_norm],
        [p_whole, p_split],
    );

    // Prediction (evaluation, the page's classify) splits the same way.
    let predict = |cap: u64| {
        gpu_of(&dev).set_max_buffer_bytes(cap);
        let p = pollster::block_on(finetune::predict(&dev, &model, &seqs, 8, |_, _| {}));
        gpu_of(&dev).set_max_buffer_bytes(u64::MAX);
        p.unwrap().concat()
    };
    let want: Vec<f64> = predict(u64::MAX).iter().map(|&v| v as f64).collect();
    check_close("split predictions", &predict(TRAIN_CAP), &want, Tol::F32).unwrap();
}
