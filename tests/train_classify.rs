//! Sequence-classification fine-tuning's backward pass (pooler, classifier,
//! cross-entropy over classes, into the encoder) against PyTorch autograd in
//! f64 (scripts/reference/cls_grad_fixtures.py), CPU backend and GPU.

mod common;

use std::path::Path;

use dnagpu::model::{Config, Dropout, Weights};
use dnagpu::testing::{check_close, ReferenceFixtures, Tol};
use dnagpu::train::classify::{cls_forward_backward, ClsBatch, ClsModel};
use dnagpu::Device;

const DIR: &str = "tests/fixtures/train/cls";

/// The fixture's config, base model (3 classes), its batch and the
/// expected values in `file`.
fn setup(dev: &Device, file: &str) -> (Config, ClsModel, ClsBatch, ReferenceFixtures) {
    let dir = Path::new(DIR);
    let cfg = Config::from_json(
        &std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "config.json",
    )
    .unwrap();
    let w = Weights::from_safetensors_file(&dir.join("model.safetensors")).unwrap();
    let model = ClsModel::load(dev, &cfg, &w, 3, 0).unwrap();
    let read = |f: &str| {
        ReferenceFixtures::from_bytes(br#"{"sequences": []}"#, std::fs::read(dir.join(f)).unwrap())
            .unwrap()
    };
    let bf = read("batch.safetensors");
    let (shape, ids) = bf.get("input_ids").unwrap();
    let (_, mask) = bf.get("attention_mask").unwrap();
    let t = shape[1];
    let seqs: Vec<Vec<u32>> = (0..shape[0])
        .map(|b| {
            (0..t)
                .filter(|&i| mask[b * t + i] != 0.0)
                .map(|i| ids[b * t + i] as u32)
                .collect()
        })
        .collect();
    let labels: Vec<u32> = bf
        .get("labels")
        .unwrap()
        .1
        .iter()
        .map(|&l| l as u32)
        .collect();
    let batch = ClsBatch::new(dev, &seqs, &labels, cfg.vocab_size).unwrap();
    (cfg, model, batch, read(file))
}

/// The mean loss of `rows` and every gradient against `fx` (`loss_key`,
/// `grad.<name>`): rtol 1e-3, atol 1e-4 max|want| (two f32 layers).
fn compare(
    dev: &Device,
    rows: &dnagpu::Tensor,
    loss_key: &str,
    names: &[String],
    grads: &[dnagpu::Tensor],
    fx: &ReferenceFixtures,
) {
    let loss: f64 = dev
        .read_f32_blocking(rows)
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / 3.0;
    let want = fx.get(loss_key).unwrap().1[0];
    assert!((loss - want).abs() < 1e-5 * want, "loss {loss} vs {want}");
    let tol = Tol {
        rtol: 1e-3,
        atol_rel: 1e-4,
    };
    let mut failures = Vec::new();
    for (name, g) in names.iter().zip(grads) {
        let (_, want) = fx
            .get(&format!("grad.{name}"))
            .unwrap_or_else(|| panic!("{name}"));
        if let Err(e) = check_close(name, &dev.read_f32_blocking(g).unwrap(), &want, tol) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(dev: &Device) {
    let (_, model, batch, fx) = setup(dev, "expected.safetensors");
    let (rows, grads) =
        cls_forward_backward(dev, &model, &batch, 1.0 / 3.0, &Dropout::OFF).unwrap();
    compare(dev, &rows, "loss", &model.names(), &grads, &fx);
}

#[test]
fn cpu_classification_gradients_match_pytorch() {
    check(&Device::Cpu);
}

#[test]
fn gpu_classification_gradients_match_pytorch() {
    let Some(dev) = common::gpu() else { return };
    check(&dev);
}

/// LoRA (r=2, alpha 4 on every Wqkv, random A and B, base frozen): the
/// loss and the gradients of every A, B and the head against PyTorch
/// autograd (scripts/reference/cls_grad_fixtures.py, lora.safetensors).
fn check_lora(dev: &Device) {
    use dnagpu::model::adapter::LoraConfig;
    use dnagpu::model::lora::Lora;
    let (_, mut model, batch, fx) = setup(dev, "lora.safetensors");
    let mut lcfg = LoraConfig::dnabert2();
    lcfg.r = 2;
    lcfg.alpha = 4.0;
    lcfg.dropout = 0.0;
    let mut lora = Lora::fresh(dev, &model.encoder, lcfg, 0).unwrap();
    let values: Vec<_> = lora
        .named()
        .into_iter()
        .map(|(name, t)| {
            let (_, v) = fx.get(&name).unwrap_or_else(|| panic!("{name}"));
            dev.tensor_f32(t.shape(), &v.iter().map(|&x| x as f32).collect::<Vec<_>>())
                .unwrap()
        })
        .collect();
    lora.set(values).unwrap();
    model.lora = Some(lora);
    let (rows, grads) =
        cls_forward_backward(dev, &model, &batch, 1.0 / 3.0, &Dropout::OFF).unwrap();
    let names = model.trainable_names();
    assert_eq!(names.len(), 8);
    compare(dev, &rows, "lora_loss", &names, &grads, &fx);
}

#[test]
fn cpu_lora_gradients_match_pytorch() {
    check_lora(&Device::Cpu);
}

#[test]
fn gpu_lora_gradients_match_pytorch() {
    let Some(dev) = common::gpu() else { return };
    check_lora(&dev);
}
