//! `dnagpu bench embed` and `dnagpu bench train`: encoder inference and MLM
//! training-step throughput on a random-init model of any config (default:
//! DNABERT-2-117M): tokens/s, GFLOP/s and peak memory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use dnagpu::model::{init, Config, Model};
use dnagpu::rng::Rng;
use dnagpu::train::schedule::{Decay, Schedule};
use dnagpu::Device;

use crate::DeviceArgs;

/// The training benchmarks' learning rate: constant, as the rate does not
/// change a step's cost.
const BENCH_SCHEDULE: Schedule = Schedule {
    peak: 1e-4,
    warmup: 0,
    total: 1000,
    decay: Decay::Constant,
};
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(clap::Subcommand)]
enum BenchWhat {
    /// Encoder forward throughput (random weights, random tokens).
    Embed(EmbedBench),
    /// MLM training steps (forward, backward, AdamW) on random tokens, 15% masked.
    Train(TrainBench),
    /// Sequence-classification fine-tuning steps, LoRA or full, on random tokens.
    Finetune(FinetuneBench),
    /// GFLOP/s of each matmul kernel and of flash attention, forward and backward.
    Kernels(crate::bench_kernels::KernelBench),
    /// Variant-effect scoring (`dnagpu vep`) throughput: variants/s on random SNVs.
    Vep(crate::bench_vep::VepBench),
}

#[derive(clap::Args)]
struct FinetuneBench {
    /// Model config (default: DNABERT-2-117M).
    #[arg(long)]
    config: Option<PathBuf>,
    /// dnabert2, bert (DNABERT) or esm (the Nucleotide Transformer; v2 when
    /// the config's positions are rotary); LoRA on query, key, value for
    /// the last two.
    #[arg(long, default_value = "dnabert2")]
    family: String,
    /// lora (rank 8 on the family's default targets, the encoder frozen) or full.
    #[arg(long, default_value = "lora")]
    mode: String,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    seq: usize,
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Then time each kernel of one more step (GPU; see `profile_once`).
    #[arg(long)]
    profile: bool,
    #[arg(long)]
    json: Option<PathBuf>,
    /// The encoder's weight matrices as f32 or f16 (LoRA only).
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
}

#[derive(clap::Args)]
struct TrainBench {
    /// Model config (default: DNABERT-2-117M).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    seq: usize,
    /// Timed steps (after one warm-up step); the mean is reported.
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Then time each kernel of one more step (GPU; see `profile_once`).
    #[arg(long)]
    profile: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// f32, or f16: mixed precision (f16 layer weights from f32 masters,
    /// loss scaling), as `pretrain --precision f16` trains.
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
}

#[derive(clap::Args)]
struct EmbedBench {
    /// Model config (default: DNABERT-2-117M; benches/configs has DNABERT-6
    /// and Nucleotide Transformer 500M sizes).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The checkpoint layout to build: dnabert2, bert (DNABERT) or esm (the
    /// Nucleotide Transformer; v2 when the config's positions are rotary).
    #[arg(long, default_value = "dnabert2")]
    family: String,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 512)]
    seq: usize,
    /// Also time one sequence of this many tokens (0 = skip).
    #[arg(long, default_value_t = 0)]
    long: usize,
    /// Timed repetitions (the best is reported).
    #[arg(long, default_value_t = 1)]
    iters: usize,
    /// Then time each kernel of one more forward (GPU; see `profile_once`).
    #[arg(long)]
    profile: bool,
    /// The encoder's weight matrices as f32 or f16 (half the memory).
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Forward FLOPs of `b` sequences of `t` tokens (2 per multiply-add), with
/// a gated feed-forward (GeGLU, SwiGLU: 3 I H per token) or not (2 I H).
fn flops_of(cfg: &Config, b: usize, t: usize, gated: bool) -> f64 {
    let (h, i) = (cfg.hidden_size as f64, cfg.intermediate_size as f64);
    let ffn = if gated { 3.0 * i * h } else { 2.0 * i * h };
    let per_token = 2.0 * (3.0 * h * h + h * h + ffn) + 4.0 * t as f64 * h;
    per_token * (b * t) as f64 * cfg.num_hidden_layers as f64
}

/// [`flops_of`] for DNABERT-2 (GeGLU).
fn flops(cfg: &Config, b: usize, t: usize) -> f64 {
    flops_of(cfg, b, t, true)
}

/// Peak memory: the GPU pool's peak, or the process's peak RSS on the CPU.
pub(crate) fn peak_bytes(dev: &Device) -> Option<u64> {
    match dev {
        Device::Gpu(g) => Some(g.memory().peak_bytes),
        Device::Cpu => {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let kb: u64 = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(kb * 1024)
        }
    }
}

/// Runs `f` once with per-kernel timing on (GPU timestamps where the adapter
/// has them; see `dnagpu::gpu::profile`) and prints each kernel's share.
/// Nothing on the CPU backend.
fn profile_once(dev: &Device, f: impl FnOnce() -> Result<()>) -> Result<serde_json::Value> {
    let Device::Gpu(g) = dev else {
        println!("--profile: per-kernel times need a GPU backend");
        return Ok(serde_json::Value::Null);
    };
    g.set_profiling(true)?;
    let run = f();
    let (rows, timestamps) = g.profile_rows()?;
    g.set_profiling(false)?;
    run?;
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let how = if timestamps {
        "GPU timestamps"
    } else {
        "no timestamp queries: each dispatch synchronised, launch latency included"
    };
    println!("per kernel (one run; {how}; total {total:.4} s):");
    println!(
        "{:<36} {:>10} {:>10} {:>7}",
        "kernel", "dispatches", "ms", "share"
    );
    for (k, n, s) in &rows {
        println!(
            "{k:<36} {n:>10} {:>10.3} {:>6.1}%",
            s * 1e3,
            100.0 * s / total
        );
    }
    Ok(serde_json::json!(rows
        .iter()
        .map(|(k, n, s)| serde_json::json!({"kernel": k, "dispatches": n, "seconds": s}))
        .collect::<Vec<_>>()))
}

/// `b` random sequences of `t` tokens: [CLS], regular tokens, [SEP].
fn random_sequences(rng: &mut Rng, b: usize, t: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..b)
        .map(|_| {
            let mut s: Vec<u32> = (0..t).map(|_| 5 + rng.below(vocab as u32 - 5)).collect();
            s[0] = 1;
            s[t - 1] = 2;
            s
        })
        .collect()
}

fn run_once(dev: &Device, model: &Model, b: usize, t: usize, rng: &mut Rng) -> Result<f64> {
    let ids: Vec<u32> = random_sequences(rng, b, t, model.encoder.config.vocab_size).concat();
    let start = std::time::Instant::now();
    let tid = dev.tensor_u32(&[b, t], &ids)?;
    let mask = dev.tensor_u32(&[b, t], &vec![1; b * t])?;
    let states = model.encoder.forward(dev, &tid, &mask, |_| false)?;
    let pooled = dnagpu::ops::pool(dev, &states[0].1, &mask, dnagpu::ops::PoolMode::Mean)?;
    pollster::block_on(dev.read_f32(&pooled))?;
    Ok(start.elapsed().as_secs_f64())
}

/// Random weights of `config` in a family's checkpoint layout.
fn family_weights(
    family: &str,
    config: &Config,
) -> Result<(dnagpu::model::encoder::Family, dnagpu::model::Weights)> {
    use dnagpu::model::encoder::Family;
    let family = match family {
        "dnabert2" => Family::Dnabert2,
        "bert" => Family::Bert,
        "esm" => Family::Esm,
        other => anyhow::bail!("--family {other}: expected dnabert2, bert or esm"),
    };
    let weights = match family {
        Family::Dnabert2 => init::random_weights(config, 0),
        f => init::random_weights_of(init::other_encoder_shapes(config, f), 0),
    };
    Ok((family, weights))
}

pub(crate) fn config_of(path: &Option<PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::from_json(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &p.display().to_string(),
        )?,
        None => Config::dnabert2_117m(),
    })
}

pub fn run(dev_args: &DeviceArgs, args: &BenchArgs) -> Result<()> {
    let a = match &args.what {
        BenchWhat::Embed(a) => a,
        BenchWhat::Train(t) => return run_train(dev_args, t),
        BenchWhat::Finetune(f) => return run_finetune(dev_args, f),
        BenchWhat::Kernels(k) => return crate::bench_kernels::run(dev_args, k),
        BenchWhat::Vep(v) => return crate::bench_vep::run(dev_args, v),
    };
    let config = config_of(&a.config)?;
    let dev = dev_args.device()?;
    use dnagpu::model::encoder::Family;
    let (family, weights) = family_weights(&a.family, &config)?;
    let model = Model::load_with(&dev, &config, &weights, a.precision)?;
    drop(weights);
    let gated =
        family == Family::Dnabert2 || config.position_embedding_type.as_deref() == Some("rotary");
    let mut rng = Rng::new(1);
    run_once(&dev, &model, 1, 8, &mut rng)?; // compiles pipelines, touches weights
    let mut rows = Vec::new();
    let mut cases = vec![(a.batch, a.seq)];
    if a.long > 0 {
        cases.push((1, a.long));
    }
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}, {} heads, intermediate {}; weights {}",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        a.precision.name()
    );
    println!(
        "{:>6} {:>7} {:>10} {:>12} {:>10} {:>12}",
        "batch", "tokens", "seconds", "tokens/s", "GFLOP/s", "peak MiB"
    );
    for (b, t) in cases {
        let best = (0..a.iters.max(1))
            .map(|_| run_once(&dev, &model, b, t, &mut rng))
            .collect::<Result<Vec<f64>>>()?
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let tps = (b * t) as f64 / best;
        let gflops = flops_of(&config, b, t, gated) / best / 1e9;
        let peak = peak_bytes(&dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64);
        println!("{b:>6} {t:>7} {best:>10.3} {tps:>12.0} {gflops:>10.1} {peak:>12.0}");
        rows.push(serde_json::json!({"batch": b, "tokens": t, "seconds": best, "tokens_per_s": tps, "gflops": gflops, "peak_mib": peak}));
    }
    let profile = if a.profile {
        profile_once(&dev, || {
            run_once(&dev, &model, a.batch, a.seq, &mut rng).map(|_| ())
        })?
    } else {
        serde_json::Value::Null
    };
    if let Some(p) = &a.json {
        let doc = serde_json::json!({"device": dev.name(), "backend": dev.backend(), "family": a.family, "precision": a.precision.name(), "config": {
            "layers": config.num_hidden_layers, "hidden": config.hidden_size, "heads": config.num_attention_heads, "intermediate": config.intermediate_size}, "results": rows, "profile": profile});
        dnagpu::fs::write_atomic(p, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}

/// One training step's FLOPs: forward and backward (2x the forward) of the
/// encoder on every token, and of the head (transform + decoder) on the
/// labelled ones.
fn train_flops(cfg: &Config, b: usize, t: usize, labelled: usize) -> f64 {
    let (h, v) = (cfg.hidden_size as f64, cfg.vocab_size as f64);
    3.0 * (flops(cfg, b, t) + 2.0 * labelled as f64 * (h * h + v * h))
}

fn run_train(dev_args: &DeviceArgs, a: &TrainBench) -> Result<()> {
    use dnagpu::train::masking::Masking;
    use dnagpu::train::optimizer::{AdamW, AdamWConfig};
    use dnagpu::train::trainer::{TrainOptions, Trainer};
    use dnagpu::train::MlmModel;

    let config = config_of(&a.config)?;
    let dev = dev_args.device()?;
    let mut model = MlmModel::load(&dev, &config, &init::random_weights(&config, 0))?;
    let names = model.names();
    let optimizer = AdamW::new(&dev, &names, &model.params(), AdamWConfig::default())?;
    let loss_scale = (a.precision == dnagpu::model::Precision::F16)
        .then(dnagpu::train::loss_scale::LossScale::default);
    let mut trainer = Trainer::new(
        model,
        optimizer,
        TrainOptions {
            schedule: BENCH_SCHEDULE,
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
    let mut rng = Rng::new(1);
    let mut batch = || {
        let seqs = random_sequences(&mut rng, a.batch, a.seq, config.vocab_size);
        masking.collate(&seqs, &mut rng)
    };
    pollster::block_on(trainer.train_step(&dev, &[batch()]))?; // warm-up
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}, {} heads, intermediate {}; {} x {} tokens per step",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        a.batch,
        a.seq
    );
    let (mut secs, mut labelled) = (0.0, 0usize);
    for _ in 0..a.iters.max(1) {
        let b = batch();
        labelled += b.labels.iter().filter(|&&l| l > 0).count();
        let start = std::time::Instant::now();
        pollster::block_on(trainer.train_step(&dev, &[b]))?;
        secs += start.elapsed().as_secs_f64();
    }
    let iters = a.iters.max(1) as f64;
    let step = secs / iters;
    let tps = (a.batch * a.seq) as f64 / step;
    let gflops =
        train_flops(&config, a.batch, a.seq, (labelled as f64 / iters) as usize) / step / 1e9;
    let peak = peak_bytes(&dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64);
    println!(
        "{:>10} {:>12} {:>10} {:>12}",
        "s/step", "tokens/s", "GFLOP/s", "peak MiB"
    );
    println!("{step:>10.3} {tps:>12.0} {gflops:>10.1} {peak:>12.0}");
    let profile = if a.profile {
        let b = batch();
        profile_once(&dev, || {
            pollster::block_on(trainer.train_step(&dev, &[b]))?;
            Ok(())
        })?
    } else {
        serde_json::Value::Null
    };
    if let Some(p) = &a.json {
        let doc = serde_json::json!({"device": dev.name(), "backend": dev.backend(), "precision": a.precision.name(), "batch": a.batch, "tokens": a.seq,
            "seconds_per_step": step, "tokens_per_s": tps, "gflops": gflops, "peak_mib": peak, "profile": profile});
        dnagpu::fs::write_atomic(p, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}

fn run_finetune(dev_args: &DeviceArgs, a: &FinetuneBench) -> Result<()> {
    use dnagpu::model::adapter::LoraConfig;
    use dnagpu::model::lora::Lora;
    use dnagpu::train::classify::ClsModel;
    use dnagpu::train::finetune::{FineTuneOptions, FineTuner};
    use dnagpu::train::optimizer::AdamWConfig;

    let config = config_of(&a.config)?;
    let dev = dev_args.device()?;
    let (family, weights) = family_weights(&a.family, &config)?;
    let mut model = ClsModel::load_with(&dev, &config, &weights, 2, 0, a.precision)?;
    drop(weights);
    match a.mode.as_str() {
        "lora" => {
            model.lora = Some(Lora::fresh(
                &dev,
                &model.encoder,
                LoraConfig::for_family(family),
                0,
            )?)
        }
        "full" => {}
        other => anyhow::bail!("--mode {other}: expected lora or full"),
    }
    let trainable: usize = model.trainable_params().iter().map(|t| t.numel()).sum();
    let mut tuner = FineTuner::new(
        &dev,
        model,
        AdamWConfig::default(),
        FineTuneOptions {
            schedule: BENCH_SCHEDULE,
            max_grad_norm: 1.0,
            dropout: config.hidden_dropout_prob as f32,
            seed: 0,
        },
    )?;
    let mut rng = Rng::new(2);
    let mut batch = || {
        let seqs = random_sequences(&mut rng, a.batch, a.seq, config.vocab_size);
        let labels: Vec<u32> = (0..a.batch).map(|_| rng.below(2)).collect();
        (seqs, labels)
    };
    let (s, l) = batch();
    pollster::block_on(tuner.train_step(&dev, &s, &l))?; // warm-up
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}; mode {}, {trainable} trainable parameters; {} x {} tokens per step",
        config.num_hidden_layers, config.hidden_size, a.mode, a.batch, a.seq
    );
    let mut secs = 0.0;
    for _ in 0..a.iters.max(1) {
        let (s, l) = batch();
        let start = std::time::Instant::now();
        pollster::block_on(tuner.train_step(&dev, &s, &l))?;
        secs += start.elapsed().as_secs_f64();
    }
    let step = secs / a.iters.max(1) as f64;
    let sps = a.batch as f64 / step;
    let peak = peak_bytes(&dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64);
    println!(
        "{:>10} {:>12} {:>12} {:>12}",
        "s/step", "samples/s", "tokens/s", "peak MiB"
    );
    println!(
        "{step:>10.3} {sps:>12.1} {:>12.0} {peak:>12.0}",
        sps * a.seq as f64
    );
    if a.profile {
        let (s, l) = batch();
        profile_once(&dev, || {
            pollster::block_on(tuner.train_step(&dev, &s, &l))?;
            Ok(())
        })?;
    }
    if let Some(p) = &a.json {
        let doc = serde_json::json!({"device": dev.name(), "mode": a.mode, "precision": a.precision.name(), "trainable": trainable, "batch": a.batch,
            "tokens": a.seq, "seconds_per_step": step, "samples_per_s": sps, "peak_mib": peak});
        dnagpu::fs::write_atomic(p, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}
