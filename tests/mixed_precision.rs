//! Mixed-precision pretraining (`--precision f16`): f32 master weights, the
//! steps computing with f16 layer weights, the layers' activations kept in
//! f16 on a GPU with shader-f16 (gradients f32), f16 products and attention
//! on a device with cooperative matrices, dynamic loss scaling.
//! On the CPU backend and the GPU (lavapipe; scripts/test.sh runs this file
//! again on a lavapipe with cooperative matrices):
//! - the loss curve of a small run follows the f32 run's within
//!   `CURVE_TOL`;
//! - a loss scale so large that the gradients overflow (f32's range, or
//!   f16's where products run on cooperative matrices) skips the steps,
//!   leaves the model exactly as it was, halves the scale each time, and
//!   training then goes on with finite losses.

mod common;

use dnagpu::model::init::random_weights;
use dnagpu::model::Config;
use dnagpu::model::Dropout;
use dnagpu::rng::Rng;
use dnagpu::train::encoder_pass::encoder_forward;
use dnagpu::train::loss_scale::LossScale;
use dnagpu::train::masking::Masking;
use dnagpu::train::mixed::half_mlm;
use dnagpu::train::optimizer::{AdamW, AdamWConfig};
use dnagpu::train::schedule::{Decay, Schedule};
use dnagpu::train::trainer::{TrainOptions, Trainer};
use dnagpu::train::{forward_backward, HostBatch, MlmModel};
use dnagpu::{DType, Device};

/// The largest |loss_mixed - loss_f32| / loss_f32 over the steps: f16
/// keeps 11 significant bits (2^-11 = 4.9e-4 relative per rounding), and
/// the loss, a mean over many tokens, averages the roundings out: the runs
/// below measure 4.5e-6 (CPU: f16 weights), 2.2e-5 (lavapipe: f16 weights
/// and activations) and 8.1e-6 (lavapipe with cooperative matrices, before
/// f16 activations: f16 products and attention).
const CURVE_TOL: f64 = 1e-4;

/// A small DNABERT-2 (head dim 64, as the cooperative attention kernel
/// wants; vocabulary 64).
fn config() -> Config {
    Config::from_json(
        r#"{"vocab_size": 64, "hidden_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 256,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
            "max_position_embeddings": 512, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12}"#,
        "config.json",
    )
    .unwrap()
}

/// Batches a model can learn from: repeats of a few short motifs.
fn batches(n: usize, cfg: &Config) -> Vec<HostBatch> {
    let mut rng = Rng::new(7);
    let masking = Masking {
        prob: 0.15,
        vocab: cfg.vocab_size as u32,
    };
    let motifs: Vec<Vec<u32>> = (0..4)
        .map(|_| {
            (0..6)
                .map(|_| 5 + rng.below(cfg.vocab_size as u32 - 5))
                .collect()
        })
        .collect();
    (0..n)
        .map(|_| {
            let seqs: Vec<Vec<u32>> = (0..4)
                .map(|_| {
                    let m = &motifs[rng.below(4) as usize];
                    let mut s = vec![1];
                    s.extend(m.iter().cycle().take(46));
                    s.push(2);
                    s
                })
                .collect();
            masking.collate(&seqs, &mut rng)
        })
        .collect()
}

fn trainer(dev: &Device, cfg: &Config, loss_scale: Option<LossScale>) -> Trainer {
    let mut model = MlmModel::load(dev, cfg, &random_weights(cfg, 3)).unwrap();
    let names = model.names();
    let optimizer = AdamW::new(dev, &names, &model.params(), AdamWConfig::default()).unwrap();
    let options = TrainOptions {
        schedule: Schedule {
            peak: 3e-3,
            warmup: 2,
            total: 100,
            decay: Decay::Constant,
        },
        max_grad_norm: 1.0,
        dropout: 0.0,
        seed: 0,
    };
    Trainer::new(model, optimizer, options, loss_scale)
}

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Cpu];
    d.extend(common::gpu());
    d
}

#[test]
fn mixed_precision_loss_curve_follows_f32() {
    let cfg = config();
    let data = batches(12, &cfg);
    for dev in devices() {
        let run = |scale: Option<LossScale>| {
            let mut tr = trainer(&dev, &cfg, scale);
            data.iter()
                .map(|b| {
                    let s =
                        pollster::block_on(tr.train_step(&dev, std::slice::from_ref(b))).unwrap();
                    assert!(s.skipped_at_scale.is_none(), "step {} skipped", s.step);
                    s.loss
                })
                .collect::<Vec<f64>>()
        };
        let f32_losses = run(None);
        let mixed = run(Some(LossScale::default()));
        let worst = f32_losses
            .iter()
            .zip(&mixed)
            .map(|(a, b)| (a - b).abs() / a.abs())
            .fold(0f64, f64::max);
        println!(
            "{}: mixed vs f32 loss, worst relative difference {worst:.2e}; f32 {:.4} -> {:.4}, mixed {:.4} -> {:.4}",
            dev.name(),
            f32_losses[0],
            f32_losses[11],
            mixed[0],
            mixed[11]
        );
        assert!(
            f32_losses[11] < 0.8 * f32_losses[0],
            "the data should be learnable: {f32_losses:?}"
        );
        assert!(
            worst <= CURVE_TOL,
            "{}: mixed precision is {worst:.2e} (relative) from f32, over {CURVE_TOL:e}: {mixed:?} vs {f32_losses:?}",
            dev.name()
        );
        assert!(worst > 0.0, "mixed precision changed nothing: not applied?");
    }
}

#[test]
fn loss_scaling_recovers_from_overflow() {
    let cfg = config();
    let data = batches(16, &cfg);
    for dev in devices() {
        // Where products run in f32, gradients of ~1e-2 times 2^66 square
        // past f32's range (steps apply from about 2^61 on); where they run
        // on f16 cooperative matrices, scaled gradients past 65504 overflow
        // f16 itself (from about 2^25 on).
        let coop = matches!(&dev, Device::Gpu(g) if g.cooperative_matrices());
        let init_log2 = if coop { 30 } else { 66 };
        let init = 2f32.powi(init_log2);
        let mut tr = trainer(
            &dev,
            &cfg,
            Some(LossScale {
                scale: init,
                good_steps: 0,
            }),
        );
        let mut skipped = 0;
        let mut applied = Vec::new();
        for b in &data {
            let before = tr.model.params();
            let before: Vec<Vec<f32>> = before
                .iter()
                .map(|t| dev.read_f32_blocking(t).unwrap())
                .collect();
            let s = pollster::block_on(tr.train_step(&dev, std::slice::from_ref(b))).unwrap();
            match s.skipped_at_scale {
                Some(scale) => {
                    assert!(
                        applied.is_empty(),
                        "a skip after steps applied at a settled scale"
                    );
                    assert_eq!(scale, init / 2f32.powi(skipped));
                    skipped += 1;
                    assert_eq!(s.step, 0, "a skipped step does not count");
                    let after: Vec<Vec<f32>> = tr
                        .model
                        .params()
                        .iter()
                        .map(|t| dev.read_f32_blocking(t).unwrap())
                        .collect();
                    assert!(before == after, "a skipped step changed the model");
                }
                None => {
                    assert!(s.loss.is_finite() && s.grad_norm.is_finite());
                    applied.push(s.loss);
                }
            }
        }
        let scale = tr.loss_scale.unwrap().scale;
        println!(
            "{}: {skipped} steps skipped from 2^{init_log2} down to 2^{}, then {} applied",
            dev.name(),
            scale.log2(),
            applied.len()
        );
        assert!(
            skipped >= 1 && applied.len() >= 5,
            "{skipped} skipped, {} applied",
            applied.len()
        );
        assert_eq!(tr.step(), applied.len() as u64);
    }
}

/// The update divides the loss scale out: gradients times 2^10 with scale
/// 2^10 give bit for bit the parameters, moments and norm of the unscaled
/// gradients with scale 1 (a power of two scales exactly), without
/// clipping; with clipping, equal within f32's tolerance (the 1e-6 of
/// PyTorch's clip formula is then added to the scaled norm). A missing or
/// doubled unscale fails this (AdamW's m/sqrt(v) alone would hide it).
#[test]
fn scaled_update_divides_the_scale_out_exactly() {
    use dnagpu::testing::{check_close, Rng as TestRng, Tol};
    for dev in devices() {
        let mut rng = TestRng::new(11);
        let shapes = [vec![40, 24], vec![24]];
        let params: Vec<Vec<f32>> = shapes
            .iter()
            .map(|s| rng.vec(s.iter().product(), 0.5))
            .collect();
        let grads: Vec<Vec<f32>> = shapes
            .iter()
            .map(|s| rng.vec(s.iter().product(), 0.1))
            .collect();
        let names = vec!["w".to_string(), "w.bias".to_string()];
        let run = |scale: f32, max_norm: f64| {
            let t = |v: &[f32], s: &[usize]| dev.tensor_f32(s, v).unwrap();
            let p: Vec<_> = params.iter().zip(&shapes).map(|(v, s)| t(v, s)).collect();
            let g: Vec<_> = grads
                .iter()
                .zip(&shapes)
                .map(|(v, s)| t(&v.iter().map(|x| x * scale).collect::<Vec<_>>(), s))
                .collect();
            let mut opt = AdamW::new(&dev, &names, &p, AdamWConfig::default()).unwrap();
            let loss = dev.tensor_f32(&[1], &[2.0 * scale]).unwrap();
            let (new, u) =
                pollster::block_on(opt.scaled_update(&dev, p, &g, 1e-2, max_norm, &loss, scale))
                    .unwrap();
            assert!(u.finite);
            let read = |ts: &[dnagpu::Tensor]| -> Vec<f32> {
                ts.iter()
                    .flat_map(|t| dev.read_f32_blocking(t).unwrap())
                    .collect()
            };
            (read(&new), read(&opt.m), read(&opt.v), u.grad_norm)
        };
        let plain = run(1.0, 0.0);
        let scaled = run(1024.0, 0.0);
        assert!(plain.0 == scaled.0, "{}: parameters differ", dev.name());
        assert!(
            plain.1 == scaled.1 && plain.2 == scaled.2,
            "{}: moments differ",
            dev.name()
        );
        assert_eq!(plain.3, scaled.3, "{}: gradient norm", dev.name());
        let (clipped, scaled_clipped) = (run(1.0, 0.05), run(1024.0, 0.05));
        let want: Vec<f64> = clipped.0.iter().map(|&x| x as f64).collect();
        check_close(
            &format!("{}: clipped update, scale 1024 vs 1", dev.name()),
            &scaled_clipped.0,
            &want,
            Tol::F32,
        )
        .unwrap();
        assert!(
            clipped.3 > 0.05,
            "the clipping case should clip: norm {}",
            clipped.3
        );
    }
}

/// The largest |g_f16 - g_f32| / max|g_f32| over a parameter's gradient
/// in one step of the f16 compute model (f16 weights and activations)
/// against the f32 model, same batch and dropout masks: each activation
/// is rounded once (2^-11 relative) and the weights too, and the gradients
/// sum many such terms. Measured on lavapipe: 8.8e-4 at most (a layer's
/// second feed-forward weight); bound 5e-3.
const GRAD_TOL: f64 = 5e-3;

/// On a GPU with shader-f16, a mixed-precision step keeps the layers'
/// activations in f16 (the heads take f32), and its gradients — f32 —
/// follow the f32 step's within `GRAD_TOL`, dropout on; in the
/// cooperative-matrix root, with the products and the attention forward
/// and backward on cooperative matrices.
#[test]
fn half_activations_in_training() {
    let devices = dnagpu::testing::half_gpus();
    let cfg = config();
    let host = &batches(1, &cfg)[0];
    let dropout = Dropout {
        p: 0.1,
        seed: 11,
        window: None,
    };
    for dev in devices {
        let model = MlmModel::load(&dev, &cfg, &random_weights(&cfg, 3)).unwrap();
        let half = half_mlm(&dev, &model).unwrap();
        let batch = host.to_device(&dev, cfg.vocab_size).unwrap();
        let acts = encoder_forward(&dev, &half.encoder, &batch.ids, &batch.mask, &dropout).unwrap();
        for (what, t) in [
            ("the embeddings' output", &acts.emb.x),
            ("qkv", &acts.layers[0].qkv),
            ("the attention output", &acts.layers[0].attn.out),
            ("the feed-forward input", &acts.layers[1].g),
            ("the last layer's output", &acts.layers[1].out),
        ] {
            assert_eq!(t.dtype(), DType::F16, "{what} is not kept in f16");
        }
        assert_eq!(acts.output.dtype(), DType::F32, "the heads take f32");
        // Head dim 64: where the device has cooperative matrices, the
        // attention backward runs on them (the fixtures of
        // tests/train_classify.rs have smaller heads).
        if dev.cooperative_matrices() {
            assert!(dnagpu::ops::attention_backward::runs_cooperative(&dev, 64));
        }
        let (loss32, grads32) = forward_backward(&dev, &model, &batch, 1.0, &dropout).unwrap();
        let (loss16, grads16) = forward_backward(&dev, &half, &batch, 1.0, &dropout).unwrap();
        let sum = |t| {
            dev.read_f32_blocking(t)
                .unwrap()
                .iter()
                .map(|&v| v as f64)
                .sum::<f64>()
        };
        let (l32, l16) = (sum(&loss32.rows), sum(&loss16.rows));
        let mut worst = (0f64, String::new());
        for ((name, g32), g16) in model.names().iter().zip(&grads32).zip(&grads16) {
            assert_eq!(g16.dtype(), DType::F32, "{name}'s gradient is not f32");
            let (a, b) = (
                dev.read_f32_blocking(g16).unwrap(),
                dev.read_f32_blocking(g32).unwrap(),
            );
            let rel = dnagpu::testing::max_relative_error(&a, &b);
            assert!(
                rel <= GRAD_TOL,
                "{}: {name}'s gradient is {rel:.2e} (of its largest value) from f32's, over {GRAD_TOL:e}",
                dev.name()
            );
            if rel > worst.0 {
                worst = (rel, name.clone());
            }
        }
        println!(
            "{}: f16 activations: loss {l16:.6} vs f32 {l32:.6}; gradients at most {:.2e} from f32's ({})",
            dev.name(),
            worst.0,
            worst.1
        );
        assert!(worst.0 > 0.0, "f16 changed no gradient: not applied?");
        assert!(((l16 - l32) / l32).abs() < CURVE_TOL, "loss {l16} vs {l32}");
    }
}
