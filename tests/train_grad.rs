//! The MLM backward pass and AdamW of the whole model against PyTorch
//! autograd in f64 (scripts/reference/grad_fixtures.py): loss, the gradient
//! of every named parameter for a masked, padded batch of two sequences,
//! and the parameters after 1 and 10 AdamW steps, on the CPU backend and
//! the GPU.

mod common;

use std::path::Path;

use dnagpu::model::{Config, Dropout, Weights};
use dnagpu::testing::{check_close, ReferenceFixtures, Tol};
use dnagpu::train::optimizer::{AdamW, AdamWConfig};
use dnagpu::train::{forward_backward, HostBatch, MlmModel};
use dnagpu::Device;

const DIR: &str = "tests/fixtures/train";

/// Through two layers of f32 the gradients carry more rounding than one
/// op: relative 1e-3, absolute 1e-4 of the tensor's largest entry.
const GRAD_TOL: Tol = Tol {
    rtol: 1e-3,
    atol_rel: 1e-4,
};

fn setup(dev: &Device) -> (MlmModel, dnagpu::train::MlmBatch, ReferenceFixtures) {
    let dir = Path::new(DIR);
    let cfg = Config::from_json(
        &std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "config.json",
    )
    .unwrap();
    let w = Weights::from_safetensors_file(&dir.join("model.safetensors")).unwrap();
    let model = MlmModel::load(dev, &cfg, &w).unwrap();
    let bytes = std::fs::read(dir.join("batch.safetensors")).unwrap();
    let batch = HostBatch::from_safetensors(&bytes, "batch.safetensors")
        .unwrap()
        .to_device(dev, cfg.vocab_size)
        .unwrap();
    let exp = std::fs::read(dir.join("expected.safetensors")).unwrap();
    let fx = ReferenceFixtures::from_bytes(br#"{"sequences": []}"#, exp).unwrap();
    (model, batch, fx)
}

fn check_grads(dev: &Device) {
    let (mut model, batch, fx) = setup(dev);
    let n = batch.labelled();
    let (loss, grads) =
        forward_backward(dev, &model, &batch, 1.0 / n as f32, &Dropout::OFF).unwrap();
    let rows = dev.read_f32_blocking(&loss.rows).unwrap();
    let loss = rows.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let want = fx.get("loss").unwrap().1[0];
    assert!((loss - want).abs() <= 1e-5 * want.abs(), "loss {loss} vs {want}");
    let mut failures = Vec::new();
    for (name, g) in model.names().iter().zip(&grads) {
        let (shape, want) = fx.get(&format!("grad.{name}")).unwrap();
        assert_eq!(g.shape(), &shape[..], "{name}");
        let got = dev.read_f32_blocking(g).unwrap();
        if let Err(e) = check_close(&format!("grad {name}"), &got, &want, GRAD_TOL) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = model.params();
}

fn check_adamw(dev: &Device) {
    let (mut model, batch, fx) = setup(dev);
    let names = model.names();
    let cfg = AdamWConfig {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        no_decay_bias_norm: false,
    };
    let mut opt = AdamW::new(dev, &names, &model.params(), cfg).unwrap();
    let scale = 1.0 / batch.labelled() as f32;
    for step in 1..=10 {
        let (_, grads) = forward_backward(dev, &model, &batch, scale, &Dropout::OFF).unwrap();
        let params = opt.update(dev, model.params(), &grads, 1e-3, 1.0).unwrap();
        model.set_params(params).unwrap();
        if step == 1 || step == 10 {
            let mut failures = Vec::new();
            for (name, p) in names.iter().zip(model.params()) {
                let (_, mut want) = fx.get(&format!("step{step}.{name}")).unwrap();
                let mut got = dev.read_f32_blocking(&p).unwrap();
                if name.ends_with("Wqkv.bias") {
                    // The key bias adds q·b_k to every score of a row, which
                    // softmax cancels: its true gradient is exactly 0, so
                    // both sides' is rounding noise that Adam scales up to
                    // a full step of either sign. Compare q and v biases.
                    let h = want.len() / 3;
                    want.drain(h..2 * h);
                    got.drain(h..2 * h);
                }
                // An update moves a parameter by about lr = 1e-3 per step:
                // 1% of one step's move is the absolute tolerance.
                let tol = Tol {
                    rtol: 1e-5,
                    atol_rel: 0.0,
                };
                let max = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
                let tol = Tol {
                    atol_rel: 1e-5 / max,
                    ..tol
                };
                if let Err(e) = check_close(&format!("step {step} {name}"), &got, &want, tol) {
                    failures.push(e);
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    }
}

#[test]
fn cpu_gradients_match_pytorch_autograd() {
    check_grads(&Device::Cpu);
}

#[test]
fn gpu_gradients_match_pytorch_autograd() {
    let Some(dev) = common::gpu() else { return };
    check_grads(&dev);
}

#[test]
fn cpu_adamw_steps_match_pytorch() {
    check_adamw(&Device::Cpu);
}

#[test]
fn gpu_adamw_steps_match_pytorch() {
    let Some(dev) = common::gpu() else { return };
    check_adamw(&dev);
}
