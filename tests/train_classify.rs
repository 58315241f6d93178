//! Sequence-classification fine-tuning's backward pass (pooler, classifier,
//! cross-entropy over classes, into the encoder) against PyTorch autograd in
//! f64 (scripts/reference/cls_grad_fixtures.py), CPU backend and GPU.

mod common;

use std::path::Path;

use dnagpu::model::{Config, Dropout, Weights};
use dnagpu::testing::{check_close, max_relative_error, ReferenceFixtures, Tol};
use dnagpu::train::classify::{cls_forward_backward, ClsBatch, ClsModel};
use dnagpu::train::mixed::half_encoder;
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
/// `grad.<name>`): rtol 1e-3, atol 1e-4 max|want| (two f32 layers); with
/// `half` (mixed precision), `HALF_TOL` and the loss within 1e-3.
fn compare(
    dev: &Device,
    rows: &dnagpu::Tensor,
    loss_key: &str,
    names: &[String],
    grads: &[dnagpu::Tensor],
    fx: &ReferenceFixtures,
    half: bool,
) {
    let loss: f64 = dev
        .read_f32_blocking(rows)
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / 3.0;
    let want = fx.get(loss_key).unwrap().1[0];
    let loss_tol = if half { 1e-3 } else { 1e-5 };
    assert!(
        (loss - want).abs() < loss_tol * want,
        "loss {loss} vs {want}"
    );
    let tol = if half {
        HALF_TOL
    } else {
        Tol {
            rtol: 1e-3,
            atol_rel: 1e-4,
        }
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
    compare(dev, &rows, "loss", &model.names(), &grads, &fx, false);
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
/// With `half`, the mixed-precision step: f16 base weights and adapters
/// (`Lora::half`) and, on a GPU with shader-f16, f16 activations.
fn check_lora(dev: &Device, half: bool) {
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
    if half {
        model.encoder = half_encoder(dev, &model.encoder).unwrap();
        lora = lora.half(dev).unwrap();
        assert!(
            model.encoder.half_activations_beside(dev, Some(&lora)),
            "f16 activations beside f16 adapters"
        );
    }
    model.lora = Some(lora);
    let (rows, grads) =
        cls_forward_backward(dev, &model, &batch, 1.0 / 3.0, &Dropout::OFF).unwrap();
    let names = model.trainable_names();
    assert_eq!(names.len(), 8);
    compare(dev, &rows, "lora_loss", &names, &grads, &fx, half);
}

#[test]
fn cpu_lora_gradients_match_pytorch() {
    check_lora(&Device::Cpu, false);
}

#[test]
fn gpu_lora_gradients_match_pytorch() {
    let Some(dev) = common::gpu() else { return };
    check_lora(&dev, false);
}

#[test]
fn gpu_lora_half_activation_gradients_match_pytorch() {
    for dev in dnagpu::testing::half_gpus() {
        check_lora(&dev, true);
    }
}

/// Full fine-tuning of the other families (every parameter, the fused
/// Wqkv split back into query/key/value under Hugging Face's names)
/// against PyTorch autograd on transformers' `BertForSequenceClassification`
/// (DNABERT) and `EsmForSequenceClassification` (NT v1; v2 with rotary and
/// SwiGLU), a padded batch (scripts/reference/full_grad_fixtures.py), CPU
/// and GPU. Tolerance as above; with `half`, the mixed-precision step (f16
/// layer weights and, on a GPU with shader-f16, f16 activations) within
/// `HALF_TOL`.
fn other_family_full_gradients(dev: &Device, half: bool) {
    use dnagpu::model::io::ModelFiles;
    for name in ["dnabert_tiny", "nt_v1_tiny", "nt_v2_tiny"] {
        let dir = Path::new("tests/fixtures/full_grads");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap())
                .unwrap();
        let fx = ReferenceFixtures::from_bytes(
            br#"{"sequences": []}"#,
            std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap(),
        )
        .unwrap();
        let files = ModelFiles::open(&Path::new("tests/fixtures").join(name)).unwrap();
        // The folder's weights plus the head the fixture started from.
        let mut map = files.weights.take_all().unwrap();
        for key in fx.names() {
            if let Some(head) = key.strip_prefix("head.") {
                let (shape, v) = fx.get(&key).unwrap();
                let data = v.iter().map(|&x| x as f32).collect();
                map.insert(head.to_string(), dnagpu::model::HostTensor { shape, data });
            }
        }
        let w = Weights::new(map, name);
        let classes = meta["classes"].as_u64().unwrap() as usize;
        let mut model = ClsModel::load(dev, &files.config, &w, classes, 0).unwrap();
        if half {
            model.encoder = half_encoder(dev, &model.encoder).unwrap();
            assert!(model.encoder.half_activations(dev), "f16 activations");
        }
        let seqs: Vec<Vec<u32>> = meta["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| files.tokenizer.encode(s.as_str().unwrap()).unwrap().ids)
            .collect();
        let labels: Vec<u32> = meta["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as u32)
            .collect();
        let batch = ClsBatch::new(dev, &seqs, &labels, files.config.vocab_size).unwrap();
        let (rows, grads) = cls_forward_backward(dev, &model, &batch, 1.0, &Dropout::OFF).unwrap();
        let loss: f64 = dev
            .read_f32_blocking(&rows)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .sum();
        let want = meta["loss"].as_f64().unwrap();
        let loss_tol = if half { 1e-3 } else { 1e-4 };
        assert!(
            (loss - want).abs() < loss_tol * want,
            "{name}: loss {loss} vs {want}"
        );
        // Gradients as parameters: read back under checkpoint names.
        model.set_params(grads).unwrap();
        let got = pollster::block_on(model.to_host(dev)).unwrap();
        let tol = if half {
            HALF_TOL
        } else {
            Tol {
                rtol: 1e-3,
                atol_rel: 1e-4,
            }
        };
        let mut failures = Vec::new();
        let mut worst = 0f64;
        for (param, g) in &got {
            let (_, want) = fx
                .get(&format!("grad.{param}"))
                .unwrap_or_else(|| panic!("{name}: no PyTorch gradient for {param}"));
            if want.iter().all(|v| v.abs() < 1e-6) {
                // Zero in exact arithmetic (the key bias without rotary:
                // softmax ignores a constant added to every score of a
                // query): both sides are rounding noise, f16's larger
                // (lavapipe: 9.0e-5 where gradients reach ~1).
                let noise = if half { 1e-3 } else { 1e-6 };
                let worst = g.data.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(worst < noise, "{name} {param}: {worst}, PyTorch ~0");
                continue;
            }
            let want32: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            worst = worst.max(max_relative_error(&g.data, &want32));
            if let Err(e) = check_close(&format!("{name} {param}"), &g.data, &want, tol) {
                failures.push(e);
            }
        }
        println!(
            "{name} on {}, {}: gradients at most {worst:.2e} (of each one's largest) from PyTorch's",
            dev.name(),
            if half { "mixed precision" } else { "f32" }
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(got.contains_key(&format!(
            "{}.encoder.layer.1.attention.self.value.weight",
            if name.starts_with("nt") {
                "esm"
            } else {
                "bert"
            }
        )));
    }
}

#[test]
fn cpu_other_family_full_gradients_match_pytorch() {
    other_family_full_gradients(&Device::Cpu, false);
}

#[test]
fn gpu_other_family_full_gradients_match_pytorch() {
    let Some(dev) = common::gpu() else { return };
    other_family_full_gradients(&dev, false);
}

/// The mixed-precision step's gradients against PyTorch's f64 ones: every
/// weight matrix and every activation of the layers rounded to f16 (2^-11
/// relative each), gradients f32. Measured on lavapipe, the largest error
/// relative to its parameter's largest gradient: 5.1e-3 (DNABERT's
/// embedding LayerNorm bias; 2.7e-3 with f16 weights alone,
/// DNAGPU_F16_ACTIVATIONS=off), against 1e-4 in f32.
const HALF_TOL: Tol = Tol {
    rtol: 1e-2,
    atol_rel: 1e-2,
};

/// [`other_family_full_gradients`] in mixed precision: on a GPU with
/// shader-f16, f16 activations through post-norm (DNABERT) and pre-norm
/// layers with rotary positions (NT).
#[test]
fn gpu_other_family_half_activation_gradients_match_pytorch() {
    for dev in dnagpu::testing::half_gpus() {
        other_family_full_gradients(&dev, true);
    }
}

/// LoRA on BERT's and ESM's query/key/value (blocks of the fused Wqkv: an
/// f16 adapter term added into f16 columns) in mixed precision: every
/// adapter and head gradient within 3e-2 of its largest from the f32
/// step's (checked against PyTorch above), padded batch, random A and B
/// (large: 0.3). Measured on lavapipe: DNABERT 1.4e-2 (its first layer's
/// adapters; 2.2e-3 with f16 weights alone: the activations' rounding
/// carried through two post-norm layers with big adapters), NT v2 4.9e-3.
#[test]
fn gpu_other_family_lora_half_activations_follow_f32() {
    use dnagpu::model::adapter::LoraConfig;
    use dnagpu::model::io::ModelFiles;
    use dnagpu::model::lora::Lora;
    for dev in dnagpu::testing::half_gpus() {
        for name in ["dnabert_tiny", "nt_v2_tiny"] {
            let files = ModelFiles::open(&Path::new("tests/fixtures").join(name)).unwrap();
            let w = Weights::new(files.weights.take_all().unwrap(), name);
            let mut model = ClsModel::load(&dev, &files.config, &w, 2, 0).unwrap();
            let mut lora = Lora::fresh(
                &dev,
                &model.encoder,
                LoraConfig::for_family(model.encoder.family),
                0,
            )
            .unwrap();
            let mut rng = dnagpu::rng::Rng::new(5);
            let values = lora
                .named()
                .iter()
                .map(|(_, t)| {
                    let v: Vec<f32> = rng.vec(t.numel(), 0.3);
                    dev.tensor_f32(t.shape(), &v).unwrap()
                })
                .collect();
            lora.set(values).unwrap();
            let seqs: Vec<Vec<u32>> = ["ACGTACGGTACCA", "TTGACA", "GGGCCCATATATGCGC"]
                .iter()
                .map(|s| files.tokenizer.encode(s).unwrap().ids)
                .collect();
            let batch = ClsBatch::new(&dev, &seqs, &[0, 1, 1], files.config.vocab_size).unwrap();
            let half_lora = lora.half(&dev).unwrap();
            model.lora = Some(lora);
            let (_, grads32) =
                cls_forward_backward(&dev, &model, &batch, 1.0, &Dropout::OFF).unwrap();
            model.encoder = half_encoder(&dev, &model.encoder).unwrap();
            model.lora = Some(half_lora);
            assert!(model
                .encoder
                .half_activations_beside(&dev, model.lora.as_ref()));
            let (_, grads16) =
                cls_forward_backward(&dev, &model, &batch, 1.0, &Dropout::OFF).unwrap();
            let mut worst = 0f64;
            for ((param, a), b) in model.trainable_names().iter().zip(&grads16).zip(&grads32) {
                let (a, b) = (
                    dev.read_f32_blocking(a).unwrap(),
                    dev.read_f32_blocking(b).unwrap(),
                );
                let rel = max_relative_error(&a, &b);
                assert!(rel <= 3e-2, "{name} {param}: {rel:.2e} from f32's");
                worst = worst.max(rel);
            }
            println!("{name} LoRA in mixed precision: gradients at most {worst:.2e} (of each one's largest) from f32's");
            assert!(worst > 0.0, "f16 changed nothing: not applied?");
        }
    }
}

/// `FineTuner` with LoRA in mixed precision on a GPU with shader-f16 (what
/// `dnagpu finetune --precision f16 --mode lora` runs): each step computes
/// with f16 copies of the adapters made after every update, the masters
/// stay f32, and the losses of 6 steps (dropout on) follow the f32-adapter
/// run's (f16 base weights, f32 adapters and activations) within 5e-3 of
/// their value (measured on lavapipe: 8.9e-4).
#[test]
fn gpu_lora_fine_tuner_in_mixed_precision_follows_f32() {
    use dnagpu::model::adapter::LoraConfig;
    use dnagpu::model::io::ModelFiles;
    use dnagpu::model::lora::Lora;
    use dnagpu::model::Precision;
    use dnagpu::train::finetune::{FineTuneOptions, FineTuner};
    use dnagpu::train::optimizer::AdamWConfig;
    use dnagpu::train::schedule::{Decay, Schedule};
    for dev in dnagpu::testing::half_gpus() {
        let files = ModelFiles::open(Path::new("tests/fixtures/nt_v2_tiny")).unwrap();
        let seqs: Vec<Vec<u32>> = ["ACGTACGGTACCA", "TTGACA", "GGGCCCATATATGCGC", "ACGTTT"]
            .iter()
            .map(|s| files.tokenizer.encode(s).unwrap().ids)
            .collect();
        let labels = [0, 1, 1, 0];
        let run = |mixed: bool| -> Vec<f64> {
            let w = Weights::new(files.weights.take_all().unwrap(), "nt_v2_tiny");
            let mut model =
                ClsModel::load_with(&dev, &files.config, &w, 2, 0, Precision::F16).unwrap();
            let lcfg = LoraConfig::for_family(model.encoder.family);
            model.lora = Some(Lora::fresh(&dev, &model.encoder, lcfg, 0).unwrap());
            let options = FineTuneOptions {
                schedule: Schedule {
                    peak: 1e-2,
                    warmup: 0,
                    total: 6,
                    decay: Decay::Constant,
                },
                max_grad_norm: 1.0,
                dropout: 0.1,
                seed: 3,
            };
            let mut tuner = FineTuner::new(&dev, model, AdamWConfig::default(), options).unwrap();
            if mixed {
                tuner = tuner.mixed_precision();
            }
            let losses = (0..6)
                .map(|_| {
                    let s = pollster::block_on(tuner.train_step(&dev, &seqs, &labels)).unwrap();
                    assert!(s.skipped_at_scale.is_none(), "step {} skipped", s.step);
                    s.loss
                })
                .collect();
            let lora = tuner.model.lora.as_ref().unwrap();
            assert!(!lora.is_half(), "the master adapters stay f32");
            losses
        };
        let (f32_run, mixed) = (run(false), run(true));
        let worst = f32_run
            .iter()
            .zip(&mixed)
            .map(|(a, b)| ((a - b) / a).abs())
            .fold(0f64, f64::max);
        println!("LoRA FineTuner in mixed precision: losses within {worst:.2e} of f32's: {mixed:?} vs {f32_run:?}");
        assert!(worst < 5e-3, "{mixed:?} vs {f32_run:?}");
        assert!(worst > 0.0, "mixed precision changed nothing: not applied?");
        assert!(
            f32_run[5] < f32_run[0],
            "the adapters should learn: {f32_run:?}"
        );
    }
}
