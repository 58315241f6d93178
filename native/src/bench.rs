//! `dnagpu bench embed`: encoder throughput on a random-init model of any
//! config (default: DNABERT-2-117M), tokens/s, GFLOP/s and peak memory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use dnagpu::model::{init, Config, Model};
use dnagpu::rng::Rng;
use dnagpu::Device;

use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(clap::Subcommand)]
enum BenchWhat {
    /// Encoder forward throughput (random weights, random tokens).
    Embed(EmbedBench),
}

#[derive(clap::Args)]
struct EmbedBench {
    /// Model config (default: DNABERT-2-117M).
    #[arg(long)]
    config: Option<PathBuf>,
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
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Forward FLOPs of `b` sequences of `t` tokens (2 per multiply-add).
fn flops(cfg: &Config, b: usize, t: usize) -> f64 {
    let (h, i) = (cfg.hidden_size as f64, cfg.intermediate_size as f64);
    let per_token = 2.0 * (3.0 * h * h + h * h + 2.0 * i * h + i * h) + 4.0 * t as f64 * h;
    per_token * (b * t) as f64 * cfg.num_hidden_layers as f64
}

/// Peak memory: the GPU pool's peak, or the process's peak RSS on the CPU.
fn peak_bytes(dev: &Device) -> Option<u64> {
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

fn run_once(dev: &Device, model: &Model, b: usize, t: usize, rng: &mut Rng) -> Result<f64> {
    let v = model.encoder.config.vocab_size as u32;
    let mut ids: Vec<u32> = (0..b * t).map(|_| 5 + rng.below(v - 5)).collect();
    for r in 0..b {
        ids[r * t] = 1;
        ids[r * t + t - 1] = 2;
    }
    let start = std::time::Instant::now();
    let tid = dev.tensor_u32(&[b, t], &ids)?;
    let mask = dev.tensor_u32(&[b, t], &vec![1; b * t])?;
    let states = model.encoder.forward(dev, &tid, &mask, |_| false)?;
    let pooled = dnagpu::ops::pool(dev, &states[0].1, &mask, dnagpu::ops::PoolMode::Mean)?;
    pollster::block_on(dev.read_f32(&pooled))?;
    Ok(start.elapsed().as_secs_f64())
}

pub fn run(dev_args: &DeviceArgs, args: &BenchArgs) -> Result<()> {
    let BenchWhat::Embed(a) = &args.what;
    let config = match &a.config {
        Some(p) => Config::from_json(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &p.display().to_string(),
        )?,
        None => Config::dnabert2_117m(),
    };
    let dev = dev_args.device()?;
    let model = Model::load(&dev, &config, &init::random_weights(&config, 0))?;
    let mut rng = Rng::new(1);
    run_once(&dev, &model, 1, 8, &mut rng)?; // compiles pipelines, touches weights
    let mut rows = Vec::new();
    let mut cases = vec![(a.batch, a.seq)];
    if a.long > 0 {
        cases.push((1, a.long));
    }
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}, {} heads, intermediate {}",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size
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
        let gflops = flops(&config, b, t) / best / 1e9;
        let peak = peak_bytes(&dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64);
        println!("{b:>6} {t:>7} {best:>10.3} {tps:>12.0} {gflops:>10.1} {peak:>12.0}");
        rows.push(serde_json::json!({"batch": b, "tokens": t, "seconds": best, "tokens_per_s": tps, "gflops": gflops, "peak_mib": peak}));
    }
    if let Some(p) = &a.json {
        let doc = serde_json::json!({"device": dev.name(), "backend": dev.backend(), "config": {
            "layers": config.num_hidden_layers, "hidden": config.hidden_size, "heads": config.num_attention_heads, "intermediate": config.intermediate_size}, "results": rows});
        crate::output::write_atomic(p, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}
