//! The encoder against fixtures written by an independent PyTorch reference
//! (scripts/reference/dnabert2_reference.py, f64) for a small random model
//! of DNABERT-2's layout: token ids, hidden states of every layer, mean
//! pooling and MLM logits, on the GPU (lavapipe) and on the CPU backend,
//! alone and in a padded batch.

mod common;

use std::path::{Path, PathBuf};

use dnagpu::model::{Config, Model, Weights};
use dnagpu::testing::{check_close, ReferenceFixtures, Tol};
use dnagpu::tokenize::BpeTokenizer;
use dnagpu::{ops, Device};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

struct Fixtures(ReferenceFixtures);

impl Fixtures {
    fn load() -> Self {
        Self(ReferenceFixtures::load(&dir()).unwrap())
    }

    fn get(&self, name: &str) -> Option<Vec<f64>> {
        self.0.get(name).map(|(_, v)| v)
    }
}

fn load_model(dev: &Device) -> (Config, Model) {
    let cfg = Config::from_json(
        &std::fs::read_to_string(dir().join("config.json")).unwrap(),
        "config.json",
    )
    .unwrap();
    let w = Weights::from_safetensors_file(&dir().join("model.safetensors")).unwrap();
    let model = Model::load(dev, &cfg, &w).unwrap();
    (cfg, model)
}

fn tokenizer() -> BpeTokenizer {
    BpeTokenizer::from_json(
        &std::fs::read_to_string(dir().join("tokenizer.json")).unwrap(),
        "tokenizer.json",
    )
    .unwrap()
}

/// Every sequence alone: ids, every layer's hidden states, mean pooling, MLM logits.
fn check_alone(dev: &Device) {
    let fx = Fixtures::load();
    let (cfg, model) = load_model(dev);
    let tok = tokenizer();
    let h = cfg.hidden_size;
    for (i, seq) in fx.0.sequences.iter().enumerate() {
        let ids = tok.encode(seq).unwrap().ids;
        let want_ids: Vec<u32> = fx
            .get(&format!("{i}.input_ids"))
            .unwrap()
            .iter()
            .map(|&v| v as u32)
            .collect();
        assert_eq!(
            ids, want_ids,
            "sequence {i}: token ids differ from the reference tokenizer"
        );
        let t = ids.len();
        let tid = dev.tensor_u32(&[1, t], &ids).unwrap();
        let mask = dev.tensor_u32(&[1, t], &vec![1; t]).unwrap();
        let states = model.encoder.forward(dev, &tid, &mask, |_| true).unwrap();
        assert_eq!(states.len(), cfg.num_hidden_layers + 1);
        for (l, x) in &states {
            let got = dev.read_f32_blocking(x).unwrap();
            let want = fx.get(&format!("{i}.hidden.{l}")).unwrap();
            check_close(
                &format!(
                    "sequence {i} ({t} tokens) hidden state {l} on {}",
                    dev.name()
                ),
                &got,
                &want,
                Tol::F32,
            )
            .unwrap();
        }
        let last = &states.last().unwrap().1;
        let mean = ops::pool(dev, last, &mask, ops::PoolMode::Mean).unwrap();
        let got = dev.read_f32_blocking(&mean).unwrap();
        check_close(
            &format!("sequence {i} mean pooling on {}", dev.name()),
            &got,
            &fx.get(&format!("{i}.mean")).unwrap(),
            Tol::F32,
        )
        .unwrap();
        let pooled = model.pooler.as_ref().unwrap().forward(dev, last).unwrap();
        let probs = model
            .classifier
            .as_ref()
            .unwrap()
            .probabilities(dev, &pooled)
            .unwrap();
        let got = dev.read_f32_blocking(&probs).unwrap();
        check_close(
            &format!("sequence {i} class probabilities on {}", dev.name()),
            &got,
            &fx.get(&format!("{i}.probs")).unwrap(),
            Tol::F32,
        )
        .unwrap();
        if let Some(want) = fx.get(&format!("{i}.mlm_logits")) {
            let logits = model
                .mlm
                .as_ref()
                .unwrap()
                .forward(
                    dev,
                    &last.reshape(&[t, h]).unwrap(),
                    &model.encoder.embeddings.word,
                )
                .unwrap();
            let got = dev.read_f32_blocking(&logits).unwrap();
            check_close(
                &format!("sequence {i} MLM logits on {}", dev.name()),
                &got,
                &want,
                Tol::F32,
            )
            .unwrap();
        }
    }
}

/// All sequences in one padded batch: the real rows equal the reference.
fn check_padded_batch(dev: &Device) {
    let fx = Fixtures::load();
    let (_, model) = load_model(dev);
    let tok = tokenizer();
    let enc: Vec<Vec<u32>> =
        fx.0.sequences
            .iter()
            .map(|s| tok.encode(s).unwrap().ids)
            .collect();
    common::run(dnagpu::testing::check_padded_batch(
        dev, &model, &enc, 3, &fx.0,
    )); // [PAD]
}

#[test]
fn cpu_backend_matches_the_reference() {
    check_alone(&Device::Cpu);
    check_padded_batch(&Device::Cpu);
}

#[test]
fn gpu_matches_the_reference() {
    let Some(dev) = common::gpu() else { return };
    check_alone(&dev);
    check_padded_batch(&dev);
}
