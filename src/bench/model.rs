//! Whole-model benchmarks on random weights and random tokens: encoder
//! forward throughput ([`EmbedBench`]), MLM training steps ([`TrainBench`])
//! and classification fine-tuning steps ([`FinetuneBench`]). Each is built
//! (weights loaded, one warm-up run) and then timed as often as asked.

use std::time::Instant;

use serde::Serialize;

use super::{flops_of, peak_mib, profile_once, random_sequences, Profile, SCHEDULE};
use crate::model::adapter::LoraConfig;
use crate::model::encoder::Family;
use crate::model::lora::Lora;
use crate::model::{init, Config, Model, Precision, Weights};
use crate::rng::Rng;
use crate::train::classify::ClsModel;
use crate::train::finetune::{FineTuneOptions, FineTuner};
use crate::train::loss_scale::LossScale;
use crate::train::masking::Masking;
use crate::train::optimizer::{AdamW, AdamWConfig};
use crate::train::trainer::{TrainOptions, Trainer};
use crate::train::MlmModel;
use crate::{Device, Error, Result};

/// Random weights of `config` in a family's checkpoint layout (`dnabert2`,
/// `bert` or `esm`).
pub fn family_weights(family: &str, config: &Config) -> Result<(Family, Weights)> {
    let family = match family {
        "dnabert2" => Family::Dnabert2,
        "bert" => Family::Bert,
        "esm" => Family::Esm,
        other => {
            return Err(Error::Invalid(format!(
                "--family {other}: expected dnabert2, bert or esm"
            )))
        }
    };
    let weights = match family {
        Family::Dnabert2 => init::random_weights(config, 0),
        f => init::random_weights_of(init::other_encoder_shapes(config, f), 0),
    };
    Ok((family, weights))
}

/// Encoder forward throughput: mean-pooled embeddings of random tokens.
pub struct EmbedBench {
    model: Model,
    gated: bool,
    rng: Rng,
}

/// The best of several timed forwards.
#[derive(Serialize)]
pub struct EmbedRow {
    pub batch: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
    pub gflops: f64,
    pub peak_mib: f64,
}

impl EmbedBench {
    /// A random model of `config` in `family`'s layout, its pipelines
    /// compiled and weights touched by one small forward.
    pub fn new(dev: &Device, config: &Config, family: &str, precision: Precision) -> Result<Self> {
        let (family, weights) = family_weights(family, config)?;
        let model = Model::load_with(dev, config, &weights, precision)?;
        drop(weights);
        let gated = family == Family::Dnabert2
            || config.position_embedding_type.as_deref() == Some("rotary");
        let mut bench = Self {
            model,
            gated,
            rng: Rng::new(1),
        };
        bench.once(dev, 1, 8)?; // compiles pipelines, touches weights
        Ok(bench)
    }

    fn once(&mut self, dev: &Device, b: usize, t: usize) -> Result<f64> {
        let config = &self.model.encoder.config;
        let ids: Vec<u32> = random_sequences(&mut self.rng, b, t, config.vocab_size).concat();
        let start = Instant::now();
        let tid = dev.tensor_u32(&[b, t], &ids)?;
        let mask = dev.tensor_u32(&[b, t], &vec![1; b * t])?;
        let states = self.model.encoder.forward(dev, &tid, &mask, |_| false)?;
        let pooled = crate::ops::pool(dev, &states[0].1, &mask, crate::ops::PoolMode::Mean)?;
        pollster::block_on(dev.read_f32(&pooled))?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// The best of `iters` forwards of `b` sequences of `t` tokens.
    pub fn time(&mut self, dev: &Device, b: usize, t: usize, iters: usize) -> Result<EmbedRow> {
        let best = (0..iters.max(1))
            .map(|_| self.once(dev, b, t))
            .collect::<Result<Vec<f64>>>()?
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let flops = flops_of(&self.model.encoder.config, b, t, self.gated);
        Ok(EmbedRow {
            batch: b,
            tokens: t,
            seconds: best,
            tokens_per_s: (b * t) as f64 / best,
            gflops: flops / best / 1e9,
            peak_mib: peak_mib(dev),
        })
    }

    /// Per-kernel times of one more forward (GPU only).
    pub fn profile(&mut self, dev: &Device, b: usize, t: usize) -> Result<Profile> {
        profile_once(dev, || self.once(dev, b, t).map(|_| ()))
    }
}

/// One training step's FLOPs: forward and backward (2x the forward) of the
/// encoder on every token, and of the head (transform + decoder) on the
/// labelled ones.
fn train_flops(cfg: &Config, b: usize, t: usize, labelled: usize) -> f64 {
    let (h, v) = (cfg.hidden_size as f64, cfg.vocab_size as f64);
    3.0 * (flops_of(cfg, b, t, true) + 2.0 * labelled as f64 * (h * h + v * h))
}

/// MLM training steps (forward, backward, AdamW) on random tokens, 15%
/// masked, on a random DNABERT-2 model.
pub struct TrainBench {
    trainer: Trainer,
    config: Config,
    masking: Masking,
    rng: Rng,
    batch: usize,
    seq: usize,
}

/// The mean of several timed training steps.
pub struct StepTimes {
    pub seconds_per_step: f64,
    pub tokens_per_s: f64,
    pub gflops: f64,
    pub peak_mib: f64,
}

impl TrainBench {
    /// The trainer, after one warm-up step of `batch` x `seq` tokens
    /// (`precision` f16: mixed precision with loss scaling).
    pub fn new(
        dev: &Device,
        config: &Config,
        precision: Precision,
        batch: usize,
        seq: usize,
    ) -> Result<Self> {
        let mut model = MlmModel::load(dev, config, &init::random_weights(config, 0))?;
        let names = model.names();
        let optimizer = AdamW::new(dev, &names, &model.params(), AdamWConfig::default())?;
        let loss_scale = crate::train::mixed::applies(dev, precision).then(LossScale::default);
        let trainer = Trainer::new(
            model,
            optimizer,
            TrainOptions {
                schedule: SCHEDULE,
                max_grad_norm: 1.0,
                dropout: config.hidden_dropout_prob as f32,
                seed: 0,
            },
            loss_scale,
        );
        let masking = Masking {
            prob: 0.15,
            vocab: config.vocab_size as u32,
        };
        let mut bench = Self {
            trainer,
            config: config.clone(),
            masking,
            rng: Rng::new(1),
            batch,
            seq,
        };
        let b = bench.next_batch();
        pollster::block_on(bench.trainer.train_step(dev, &[b]))?; // warm-up
        Ok(bench)
    }

    /// From now on, steps as one rank of `dist`: `batch` sequences per
    /// rank, so each step's (global) batch is `batch` times the ranks.
    pub fn distributed(
        mut self,
        dist: std::sync::Arc<crate::train::distributed::Distributed>,
    ) -> Self {
        self.batch *= dist.size();
        self.trainer = self.trainer.distributed(dist);
        self
    }

    fn next_batch(&mut self) -> crate::train::HostBatch {
        let seqs = random_sequences(&mut self.rng, self.batch, self.seq, self.config.vocab_size);
        self.masking.collate(&seqs, &mut self.rng)
    }

    /// The mean of `iters` timed steps.
    pub fn time(&mut self, dev: &Device, iters: usize) -> Result<StepTimes> {
        let (mut secs, mut labelled) = (0.0, 0usize);
        for _ in 0..iters.max(1) {
            let b = self.next_batch();
            labelled += b.labels.iter().filter(|&&l| l > 0).count();
            let start = Instant::now();
            pollster::block_on(self.trainer.train_step(dev, &[b]))?;
            secs += start.elapsed().as_secs_f64();
        }
        let iters = iters.max(1) as f64;
        let step = secs / iters;
        let (b, t) = (self.batch, self.seq);
        let flops = train_flops(&self.config, b, t, (labelled as f64 / iters) as usize);
        Ok(StepTimes {
            seconds_per_step: step,
            tokens_per_s: (b * t) as f64 / step,
            gflops: flops / step / 1e9,
            peak_mib: peak_mib(dev),
        })
    }

    /// Per-kernel times of one more step (GPU only).
    pub fn profile(&mut self, dev: &Device) -> Result<Profile> {
        let b = self.next_batch();
        let trainer = &mut self.trainer;
        profile_once(dev, || {
            pollster::block_on(trainer.train_step(dev, &[b]))?;
            Ok(())
        })
    }
}

/// Sequence-classification fine-tuning steps, LoRA or full, on random
/// tokens and labels.
pub struct FinetuneBench {
    tuner: FineTuner,
    vocab: usize,
    rng: Rng,
    batch: usize,
    seq: usize,
    /// Parameters trained.
    pub trainable: usize,
}

impl FinetuneBench {
    /// A random two-class classifier of `config` in `family`'s layout,
    /// `mode` `lora` (rank 8 on the family's default targets, the encoder
    /// frozen) or `full`, after one warm-up step.
    pub fn new(
        dev: &Device,
        config: &Config,
        family: &str,
        mode: &str,
        precision: Precision,
        batch: usize,
        seq: usize,
    ) -> Result<Self> {
        let (family, weights) = family_weights(family, config)?;
        // As `dnagpu finetune` loads: LoRA beside weights in `precision`,
        // full training from f32 masters.
        let load_precision = if mode == "lora" {
            precision
        } else {
            Precision::F32
        };
        let mut model = ClsModel::load_with(dev, config, &weights, 2, 0, load_precision)?;
        drop(weights);
        match mode {
            "lora" => {
                model.lora = Some(Lora::fresh(
                    dev,
                    &model.encoder,
                    LoraConfig::for_family(family),
                    0,
                )?)
            }
            "full" => {}
            other => {
                return Err(Error::Invalid(format!(
                    "--mode {other}: expected lora or full"
                )))
            }
        }
        let trainable: usize = model.trainable_params().iter().map(|t| t.numel()).sum();
        let mut tuner = FineTuner::new(
            dev,
            model,
            AdamWConfig::default(),
            FineTuneOptions {
                schedule: SCHEDULE,
                max_grad_norm: 1.0,
                dropout: config.hidden_dropout_prob as f32,
                seed: 0,
            },
        )?;
        if crate::train::mixed::applies(dev, precision) {
            tuner = tuner.mixed_precision();
        }
        let mut bench = Self {
            tuner,
            vocab: config.vocab_size,
            rng: Rng::new(2),
            batch,
            seq,
            trainable,
        };
        bench.step(dev)?; // warm-up
        Ok(bench)
    }

    fn next_batch(&mut self) -> (Vec<Vec<u32>>, Vec<u32>) {
        let seqs = random_sequences(&mut self.rng, self.batch, self.seq, self.vocab);
        let labels: Vec<u32> = (0..self.batch).map(|_| self.rng.below(2)).collect();
        (seqs, labels)
    }

    /// One step; its seconds.
    fn step(&mut self, dev: &Device) -> Result<f64> {
        let (s, l) = self.next_batch();
        let start = Instant::now();
        pollster::block_on(self.tuner.train_step(dev, &s, &l))?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// The mean seconds of `iters` timed steps, and the peak memory in MiB.
    pub fn time(&mut self, dev: &Device, iters: usize) -> Result<(f64, f64)> {
        let mut secs = 0.0;
        for _ in 0..iters.max(1) {
            secs += self.step(dev)?;
        }
        Ok((secs / iters.max(1) as f64, peak_mib(dev)))
    }

    /// Per-kernel times of one more step (GPU only).
    pub fn profile(&mut self, dev: &Device) -> Result<Profile> {
        let (s, l) = self.next_batch();
        let tuner = &mut self.tuner;
        profile_once(dev, || {
            pollster::block_on(tuner.train_step(dev, &s, &l))?;
            Ok(())
        })
    }
}
