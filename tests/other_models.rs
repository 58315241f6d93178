//! The other model families against fixtures written by Hugging Face
//! `transformers` itself, each a small random model saved as a folder:
//! DNABERT (`BertForMaskedLM` with a pooler, k = 3;
//! scripts/reference/bert_fixtures.py) and the Nucleotide Transformer v1
//! (`EsmForMaskedLM`) and v2 (ESM with rotary positions and SwiGLU, as its
//! checkpoints define it; scripts/reference/esm_fixtures.py). Token ids from
//! the folder's `vocab.txt`, hidden states of every layer, mean pooling, the
//! pooler (DNABERT) and MLM logits, on the GPU (lavapipe) and on the CPU
//! backend, alone and in a padded batch; a sequence longer than the position
//! table is a clear error.

mod common;

use std::path::{Path, PathBuf};

use dnagpu::model::encoder::Family;
use dnagpu::model::io::ModelFiles;
use dnagpu::model::{Config, Model};
use dnagpu::testing::{check_close, ReferenceFixtures, Tol};
use dnagpu::tokenize::Tokenizer;
use dnagpu::{ops, Device};

const DNABERT: &str = "dnabert_tiny";
const NT_V1: &str = "nt_v1_tiny";
const NT_V2: &str = "nt_v2_tiny";

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(dev: &Device, name: &str) -> (Config, Model, Tokenizer, ReferenceFixtures) {
    let files = ModelFiles::open(&dir(name)).unwrap();
    let model = Model::load(dev, &files.config, &files.weights).unwrap();
    (
        files.config,
        model,
        files.tokenizer,
        ReferenceFixtures::load(&dir(name)).unwrap(),
    )
}

fn want(fx: &ReferenceFixtures, name: &str) -> Vec<f64> {
    fx.get(name).unwrap_or_else(|| panic!("fixture {name}")).1
}

fn check_alone(dev: &Device, name: &str, family: Family) {
    let (cfg, model, tok, fx) = load(dev, name);
    assert_eq!(model.encoder.family, family);
    assert_eq!(
        model.classifier.is_some(),
        fx.get("0.probs").is_some(),
        "{name}: a classification head where the fixtures have probabilities"
    );
    assert_eq!(model.pooler.is_some(), name != NT_V2, "{name}: pooler");
    let h = cfg.hidden_size;
    for (i, seq) in fx.sequences.iter().enumerate() {
        let ids = tok.encode(seq).unwrap().ids;
        let want_ids: Vec<u32> = want(&fx, &format!("{i}.input_ids"))
            .iter()
            .map(|&v| v as u32)
            .collect();
        assert_eq!(
            ids, want_ids,
            "sequence {i}: ids differ from BertTokenizer's"
        );
        let t = ids.len();
        let tid = dev.tensor_u32(&[1, t], &ids).unwrap();
        let mask = dev.tensor_u32(&[1, t], &vec![1; t]).unwrap();
        let states = model.encoder.forward(dev, &tid, &mask, |_| true).unwrap();
        assert_eq!(states.len(), cfg.num_hidden_layers + 1);
        let what = |x: &str| format!("{name} sequence {i} ({t} tokens) {x} on {}", dev.name());
        for (l, x) in &states {
            let got = dev.read_f32_blocking(x).unwrap();
            check_close(
                &what(&format!("hidden state {l}")),
                &got,
                &want(&fx, &format!("{i}.hidden.{l}")),
                Tol::F32,
            )
            .unwrap();
        }
        let last = &states.last().unwrap().1;
        let mean = ops::pool(dev, last, &mask, ops::PoolMode::Mean).unwrap();
        let got = dev.read_f32_blocking(&mean).unwrap();
        check_close(
            &what("mean"),
            &got,
            &want(&fx, &format!("{i}.mean")),
            Tol::F32,
        )
        .unwrap();
        if let Some(pooler) = &model.pooler {
            let pooled = pooler.forward(dev, last).unwrap();
            if let Some(w) = fx.get(&format!("{i}.pooler")) {
                let got = dev.read_f32_blocking(&pooled).unwrap();
                check_close(&what("pooler"), &got, &w.1, Tol::F32).unwrap();
            }
            // NT v1 carries an EsmForSequenceClassification head.
            if let (Some(c), Some(w)) = (&model.classifier, fx.get(&format!("{i}.probs"))) {
                let got = dev
                    .read_f32_blocking(&c.probabilities(dev, &pooled).unwrap())
                    .unwrap();
                check_close(&what("class probabilities"), &got, &w.1, Tol::F32).unwrap();
            }
        }
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
            &what("MLM logits"),
            &got,
            &want(&fx, &format!("{i}.mlm_logits")),
            Tol::F32,
        )
        .unwrap();
    }
}

fn check_padded_batch(dev: &Device, name: &str) {
    let (_, model, tok, fx) = load(dev, name);
    let enc: Vec<Vec<u32>> = fx
        .sequences
        .iter()
        .map(|s| tok.encode(s).unwrap().ids)
        .collect();
    common::run(dnagpu::testing::check_padded_batch(
        dev, &model, &enc, 0, &fx,
    )); // [PAD]
}

const MODELS: [(&str, Family); 3] = [
    (DNABERT, Family::Bert),
    (NT_V1, Family::Esm),
    (NT_V2, Family::Esm),
];

#[test]
fn cpu_backend_matches_transformers() {
    for (name, family) in MODELS {
        check_alone(&Device::Cpu, name, family);
        check_padded_batch(&Device::Cpu, name);
    }
}

#[test]
fn gpu_matches_transformers() {
    let Some(dev) = common::gpu() else { return };
    for (name, family) in MODELS {
        check_alone(&dev, name, family);
        check_padded_batch(&dev, name);
    }
}

#[test]
fn longer_than_the_position_table_is_an_error() {
    let (_, model, _, _) = load(&Device::Cpu, DNABERT);
    let t = 65; // the fixture model has 64 positions
    let dev = Device::Cpu;
    let ids = dev.tensor_u32(&[1, t], &vec![5; t]).unwrap();
    let mask = dev.tensor_u32(&[1, t], &vec![1; t]).unwrap();
    let Err(err) = model.encoder.forward(&dev, &ids, &mask, |_| false) else {
        panic!("65 tokens on 64 positions must be an error");
    };
    let err = err.to_string();
    assert!(
        err.contains("65 tokens") && err.contains("64 positions"),
        "{err}"
    );
}
