//! LoRA in the model: a PEFT adapter (written by PEFT itself) gives the
//! reference class probabilities; the LoRA forward equals the merged
//! model's; LoRA's gradients match finite differences of the loss.

mod common;

use std::path::Path;

use dnagpu::model::adapter::Adapter;
use dnagpu::model::lora::Lora;
use dnagpu::model::{Config, Dropout, Weights};
use dnagpu::testing::finite_differences::check_largest_entries;
use dnagpu::testing::{check_close, ReferenceFixtures, Tol};
use dnagpu::tokenize::BpeTokenizer;
use dnagpu::train::classify::{cls_forward_backward, cls_logits, ClsBatch, ClsModel};
use dnagpu::{ops, Device};

fn tiny() -> (Config, Weights, BpeTokenizer) {
    let dir = Path::new("tests/fixtures/tiny");
    let cfg = Config::from_json(
        &std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "c",
    )
    .unwrap();
    let w = Weights::from_safetensors_file(&dir.join("model.safetensors")).unwrap();
    let tok = BpeTokenizer::from_json(
        &std::fs::read_to_string(dir.join("tokenizer.json")).unwrap(),
        "t",
    )
    .unwrap();
    (cfg, w, tok)
}

fn probs(dev: &Device, m: &ClsModel, seqs: &[Vec<u32>]) -> Vec<f32> {
    let labels = vec![0; seqs.len()];
    let b = ClsBatch::new(dev, seqs, &labels, m.config.vocab_size).unwrap();
    dev.read_f32_blocking(&ops::softmax(dev, &cls_logits(dev, m, &b).unwrap()).unwrap())
        .unwrap()
}

fn peft_adapter_gives_the_reference_probabilities(dev: &Device) {
    let (cfg, w, tok) = tiny();
    let adapter = Adapter::load(Path::new("tests/fixtures/peft/adapter")).unwrap();
    let model = ClsModel::load_with_adapter(dev, &cfg, &w, &adapter).unwrap();
    let fx = ReferenceFixtures::load(Path::new("tests/fixtures/peft")).unwrap_or_else(|_| {
        ReferenceFixtures::from_bytes(
            &std::fs::read("tests/fixtures/peft/expected.json").unwrap(),
            std::fs::read("tests/fixtures/peft/expected.safetensors").unwrap(),
        )
        .unwrap()
    });
    let mut seqs = Vec::new();
    for (i, s) in fx.sequences.iter().enumerate() {
        let ids = tok.encode(s).unwrap().ids;
        let (_, want_ids) = fx.get(&format!("{i}.input_ids")).unwrap();
        assert_eq!(ids.iter().map(|&v| v as f64).collect::<Vec<_>>(), want_ids);
        seqs.push(ids);
    }
    // Alone and as one padded batch.
    for (i, s) in seqs.iter().enumerate() {
        let got = probs(dev, &model, std::slice::from_ref(s));
        check_close(
            &format!("sequence {i}"),
            &got,
            &fx.get(&format!("{i}.probs")).unwrap().1,
            Tol::F32,
        )
        .unwrap();
    }
    let all = probs(dev, &model, &seqs);
    for i in 0..seqs.len() {
        check_close(
            "padded batch",
            &all[i * 3..i * 3 + 3],
            &fx.get(&format!("{i}.probs")).unwrap().1,
            Tol::F32,
        )
        .unwrap();
    }
}

#[test]
fn cpu_peft_adapter_gives_the_reference_probabilities() {
    peft_adapter_gives_the_reference_probabilities(&Device::Cpu);
}

#[test]
fn gpu_peft_adapter_gives_the_reference_probabilities() {
    let Some(dev) = common::gpu() else { return };
    peft_adapter_gives_the_reference_probabilities(&dev);
}

#[test]
fn lora_forward_equals_the_merged_model() {
    let dev = Device::Cpu;
    let (cfg, w, tok) = tiny();
    let adapter = Adapter::load(Path::new("tests/fixtures/peft/adapter")).unwrap();
    let model = ClsModel::load_with_adapter(&dev, &cfg, &w, &adapter).unwrap();
    let mut base = w.take_all().unwrap();
    adapter.merge(&mut base).unwrap();
    let merged = ClsModel::load(&dev, &cfg, &Weights::new(base, "merged"), 3, 0).unwrap();
    let seqs = vec![
        tok.encode("ACGTTGCAACGGATTACA").unwrap().ids,
        tok.encode("GGGCCCATATATAAAC").unwrap().ids,
    ];
    let want: Vec<f64> = probs(&dev, &merged, &seqs)
        .iter()
        .map(|&v| v as f64)
        .collect();
    check_close(
        "LoRA vs merged",
        &probs(&dev, &model, &seqs),
        &want,
        Tol::F32,
    )
    .unwrap();
}

/// Central differences of the classification loss (f32, CPU) at the
/// largest-gradient entry of every A and B and head tensor, with B random
/// (fresh adapters have B = 0, which would hide A's gradient) and LoRA on
/// all four targets.
#[test]
fn lora_gradients_match_finite_differences() {
    let dev = Device::Cpu;
    let dir = Path::new("tests/fixtures/train/cls");
    let cfg = Config::from_json(
        &std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "c",
    )
    .unwrap();
    let w = Weights::from_safetensors_file(&dir.join("model.safetensors")).unwrap();
    let model = ClsModel::load(&dev, &cfg, &w, 3, 0).unwrap();
    let mut lcfg = dnagpu::model::adapter::LoraConfig::dnabert2();
    lcfg.r = 3;
    lcfg.alpha = 6.0;
    lcfg.dropout = 0.0;
    lcfg.target_modules = ["Wqkv", "dense", "gated_layers", "wo"]
        .map(String::from)
        .to_vec();
    let tok = BpeTokenizer::dnabert2();
    let seqs = vec![
        tok.encode("ACGTTGCAACGGATTACAGGCATTAC").unwrap().ids,
        tok.encode("GGGCCCATATATAAAC").unwrap().ids,
    ];
    lora_fd_check(
        model,
        lcfg,
        &seqs,
        &[2, 0],
        cfg.vocab_size,
        9,
        2 * 4 * 2 + 4,
    );
}

/// Fresh adapters (`lcfg`) with random A and B on `model`; central
/// differences of the classification loss on `seqs` (labels `labels`) at the
/// largest-gradient entry of every A, B and head tensor (`tensors` of them).
fn lora_fd_check(
    mut model: ClsModel,
    lcfg: dnagpu::model::adapter::LoraConfig,
    seqs: &[Vec<u32>],
    labels: &[u32],
    vocab: usize,
    seed: u64,
    tensors: usize,
) {
    let dev = Device::Cpu;
    let mut lora = Lora::fresh(&dev, &model.encoder, lcfg, 1).unwrap();
    let mut rng = dnagpu::rng::Rng::new(seed);
    let randomized: Vec<_> = lora
        .named()
        .into_iter()
        .map(|(_, t)| dev.tensor_f32(t.shape(), &rng.vec(t.numel(), 0.3)).unwrap())
        .collect();
    lora.set(randomized).unwrap();
    model.lora = Some(lora);
    let batch = ClsBatch::new(&dev, seqs, labels, vocab).unwrap();
    let n = seqs.len() as f64;
    let loss_of = |m: &ClsModel| -> f64 {
        let (rows, _) = cls_forward_backward(&dev, m, &batch, 0.5, &Dropout::OFF).unwrap();
        dev.read_f32_blocking(&rows)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / n
    };
    let (_, grads) = cls_forward_backward(&dev, &model, &batch, 0.5, &Dropout::OFF).unwrap();
    let names = model.trainable_names();
    assert_eq!(names.len(), grads.len());
    assert_eq!(names.len(), tensors);
    let params = model.trainable_params();
    let host = |ts: &[dnagpu::Tensor]| -> Vec<Vec<f32>> {
        ts.iter()
            .map(|t| dev.read_f32_blocking(t).unwrap())
            .collect()
    };
    let (values, grads) = (host(&params), host(&grads));
    check_largest_entries(&names, &values, &grads, 1e-2, 0.02, 2e-4, |p, v| {
        let mut ps = params.clone();
        ps[p] = dev.tensor_f32(params[p].shape(), v).unwrap();
        model.set_trainable(ps).unwrap();
        loss_of(&model)
    })
    .unwrap();
}

/// LoRA on query, key and value of a transformers-written folder, PEFT's
/// separate modules acting on column blocks of the fused Wqkv: central
/// differences of the classification loss at the largest-gradient entry of
/// every A, B and head tensor (B random, as above). `first_module` is one
/// adapter name the family must use.
fn query_key_value_lora_fd(folder: &str, classes: usize, first_module: &str, seed: u64) {
    let dev = Device::Cpu;
    let files = dnagpu::model::io::ModelFiles::open(Path::new(folder)).unwrap();
    let cfg = files.config.clone();
    let model = ClsModel::load(&dev, &cfg, &files.weights, classes, 0).unwrap();
    let mut lcfg = dnagpu::model::adapter::LoraConfig::for_family(model.encoder.family);
    assert_eq!(lcfg.target_modules, ["query", "key", "value"]);
    lcfg.r = 2;
    lcfg.alpha = 4.0;
    lcfg.dropout = 0.0;
    let check = Lora::fresh(&dev, &model.encoder, lcfg.clone(), 1).unwrap();
    let names: Vec<String> = check.named().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&first_module.to_string()), "{names:?}");
    let seqs: Vec<Vec<u32>> = ["ACGTTGCAACGGATTACAGGTTAC", "GGGCCCATATAT"]
        .iter()
        .map(|s| files.tokenizer.encode(s).unwrap().ids)
        .collect();
    let layers = cfg.num_hidden_layers;
    lora_fd_check(
        model,
        lcfg,
        &seqs,
        &[1, 0],
        cfg.vocab_size,
        seed,
        layers * 3 * 2 + 4,
    );
}

/// DNABERT (k-mer BERT, post-norm).
#[test]
fn bert_lora_on_query_key_value_matches_finite_differences() {
    query_key_value_lora_fd(
        "tests/fixtures/dnabert_tiny",
        2,
        "bert.encoder.layer.1.attention.self.value.lora_B.weight",
        5,
    );
}

/// The Nucleotide Transformer v1 (pre-norm layers, a final norm, learned
/// positions, GELU; its own EsmForSequenceClassification head of 3 classes).
#[test]
fn nt_v1_lora_on_query_key_value_matches_finite_differences() {
    query_key_value_lora_fd(
        "tests/fixtures/nt_v1_tiny",
        3,
        "esm.encoder.layer.1.attention.self.query.lora_A.weight",
        6,
    );
}

/// The Nucleotide Transformer v2 (rotary q and k, SwiGLU; a fresh head).
#[test]
fn nt_v2_lora_on_query_key_value_matches_finite_differences() {
    query_key_value_lora_fd(
        "tests/fixtures/nt_v2_tiny",
        2,
        "esm.encoder.layer.0.attention.self.key.lora_B.weight",
        7,
    );
}

/// A PEFT adapter (written by PEFT itself on transformers'
/// `{Bert,Esm}ForSequenceClassification` loaded from `folder`) gives PEFT's
/// class probabilities, on the CPU and the GPU; where the fixture has them,
/// the gradients of every adapter and head tensor equal PyTorch autograd's
/// for the summed cross-entropy of the padded batch of its sequences.
fn peft_adapter_matches_peft(folder: &str, peft: &str) {
    let files = dnagpu::model::io::ModelFiles::open(Path::new(folder)).unwrap();
    let dir = Path::new(peft);
    let adapter = Adapter::load(&dir.join("adapter")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let fx = ReferenceFixtures::from_bytes(
        &std::fs::read(dir.join("expected.json")).unwrap(),
        std::fs::read(dir.join("expected.safetensors")).unwrap(),
    )
    .unwrap();
    let ids: Vec<Vec<u32>> = fx
        .sequences
        .iter()
        .map(|s| files.tokenizer.encode(s).unwrap().ids)
        .collect();
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    for dev in &devices {
        let model =
            ClsModel::load_with_adapter(dev, &files.config, &files.weights, &adapter).unwrap();
        for (i, ids) in ids.iter().enumerate() {
            check_close(
                &format!("{peft}: sequence {i} through the adapter on {}", dev.name()),
                &probs(dev, &model, std::slice::from_ref(ids)),
                &fx.get(&format!("{i}.probs")).unwrap().1,
                Tol::F32,
            )
            .unwrap();
        }
        let Some(labels) = meta["labels"].as_array() else {
            continue;
        };
        let labels: Vec<u32> = labels.iter().map(|l| l.as_u64().unwrap() as u32).collect();
        let batch = ClsBatch::new(dev, &ids, &labels, files.config.vocab_size).unwrap();
        let (_, grads) = cls_forward_backward(dev, &model, &batch, 1.0, &Dropout::OFF).unwrap();
        let names = model.trainable_names();
        assert_eq!(names.len(), grads.len());
        for (name, g) in names.iter().zip(&grads) {
            let (shape, want) = fx
                .get(&format!("grad.{name}"))
                .unwrap_or_else(|| panic!("{peft}: no PyTorch gradient for {name}"));
            assert_eq!(g.shape(), shape.as_slice(), "{name}");
            check_close(
                &format!("{peft}: gradient of {name} on {}", dev.name()),
                &dev.read_f32_blocking(g).unwrap(),
                &want,
                Tol::F32,
            )
            .unwrap();
        }
    }
}

/// DNABERT: query/key/value on BertForSequenceClassification.
#[test]
fn a_peft_dnabert_adapter_gives_peft_probabilities() {
    peft_adapter_matches_peft(
        "tests/fixtures/dnabert_tiny",
        "tests/fixtures/dnabert_tiny_peft",
    );
}

/// The Nucleotide Transformer v1 and v2 (EsmForSequenceClassification's
/// head under `classifier`): probabilities and PyTorch's gradients.
#[test]
fn peft_nt_adapters_give_peft_probabilities_and_gradients() {
    for v in ["v1", "v2"] {
        peft_adapter_matches_peft(
            &format!("tests/fixtures/nt_{v}_tiny"),
            &format!("tests/fixtures/nt_{v}_tiny_peft"),
        );
    }
}
