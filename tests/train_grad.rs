//! The MLM backward pass and AdamW of the whole model against PyTorch
//! autograd in f64 (scripts/reference/grad_fixtures.py): loss, the gradient
//! of every named parameter for a masked, padded batch of two sequences,
//! and the parameters after 1 and 10 AdamW steps, on the CPU backend and
//! the GPU.

mod common;

use std::path::Path;

use dnagpu::model::{Config, Dropout, Weights};
use dnagpu::testing::finite_differences::check_largest_entries;
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
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs(),
        "loss {loss} vs {want}"
    );
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

/// Central differences of the whole model's loss (CPU backend, f32) at the
/// largest-gradient entry of every parameter tensor, against the backward
/// pass. h = 1e-2 keeps f32 rounding of the loss (~1e-6) far below the
/// derivative; tolerance 2% + 2e-3 absolute.
#[test]
fn whole_model_gradient_matches_finite_differences() {
    let dev = Device::Cpu;
    let (mut model, batch, _) = setup(&dev);
    let n = batch.labelled() as f64;
    let loss_of = |m: &MlmModel| -> f64 {
        let out = dnagpu::train::forward_loss(&dev, m, &batch).unwrap();
        let rows = dev.read_f32_blocking(&out.rows).unwrap();
        rows.iter().map(|&v| v as f64).sum::<f64>() / n
    };
    let (_, grads) = forward_backward(&dev, &model, &batch, 1.0 / n as f32, &Dropout::OFF).unwrap();
    let names = model.names();
    let params = model.params();
    let host = |ts: &[dnagpu::Tensor]| -> Vec<Vec<f32>> {
        ts.iter()
            .map(|t| dev.read_f32_blocking(t).unwrap())
            .collect()
    };
    let (values, grads) = (host(&params), host(&grads));
    check_largest_entries(&names, &values, &grads, 1e-2, 0.02, 2e-3, |p, v| {
        let mut ps = params.clone();
        ps[p] = dev.tensor_f32(params[p].shape(), v).unwrap();
        model.set_params(ps).unwrap();
        loss_of(&model)
    })
    .unwrap();
}

/// Gradient accumulation: one step over two micro-batches of one sequence
/// each equals one step over the batch of two (the loss is one mean over
/// every labelled token of the step), clipping included.
#[test]
fn accumulated_micro_batches_equal_one_big_batch() {
    use dnagpu::train::schedule::{Decay, Schedule};
    use dnagpu::train::trainer::{TrainOptions, Trainer};
    let dev = Device::Cpu;
    let bytes = std::fs::read(Path::new(DIR).join("batch.safetensors")).unwrap();
    let whole = HostBatch::from_safetensors(&bytes, "batch").unwrap();
    let t = whole.seq;
    let half = |r: usize| HostBatch {
        batch: 1,
        seq: t,
        ids: whole.ids[r * t..(r + 1) * t].to_vec(),
        mask: whole.mask[r * t..(r + 1) * t].to_vec(),
        labels: whole.labels[r * t..(r + 1) * t].to_vec(),
    };
    let step = |micro: &[HostBatch]| {
        let (model, _, _) = setup(&dev);
        let mut model = model;
        let names = model.names();
        let optimizer = AdamW::new(&dev, &names, &model.params(), AdamWConfig::default()).unwrap();
        let mut tr = Trainer::new(
            model,
            optimizer,
            TrainOptions {
                schedule: Schedule {
                    peak: 1e-3,
                    warmup: 0,
                    total: 10,
                    decay: Decay::Constant,
                },
                max_grad_norm: 1.0,
                dropout: 0.0,
                seed: 0,
            },
            None,
        );
        let stats = pollster::block_on(tr.train_step(&dev, micro)).unwrap();
        let params: Vec<Vec<f32>> = tr
            .model
            .params()
            .iter()
            .map(|p| dev.read_f32_blocking(p).unwrap())
            .collect();
        (stats, params)
    };
    let (big, p_big) = step(std::slice::from_ref(&whole));
    let (acc, p_acc) = step(&[half(0), half(1)]);
    assert!(
        (big.loss - acc.loss).abs() < 1e-6 * big.loss,
        "{} vs {}",
        big.loss,
        acc.loss
    );
    assert!((big.grad_norm - acc.grad_norm).abs() < 1e-5 * big.grad_norm);
    assert_eq!((big.tokens, big.labelled), (acc.tokens, acc.labelled));
    let names = setup(&dev).0.names();
    for ((a, b), name) in p_big.iter().zip(&p_acc).zip(&names) {
        let (mut a, mut b) = (a.clone(), b.clone());
        if name.ends_with("Wqkv.bias") {
            // The key bias: zero true gradient, see check_adamw.
            let h = a.len() / 3;
            a.drain(h..2 * h);
            b.drain(h..2 * h);
        }
        // Adam's first step divides each gradient by its own magnitude:
        // where that is near eps (1e-8) the step's size depends on the
        // summation order. 3% of lr (1e-3) absolute.
        let want: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let max = want.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
        check_close(
            name,
            &b,
            &want,
            Tol {
                rtol: 1e-5,
                atol_rel: 3e-5 / max,
            },
        )
        .unwrap();
    }
}
