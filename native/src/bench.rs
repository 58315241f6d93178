//! `dnagpu bench`: the arguments of each benchmark and the printing of
//! its results; the measurements are the library's (`dnagpu::bench`).
//! `embed` and `train`: encoder inference and MLM training-step throughput
//! on a random-init model of any config (default: DNABERT-2-117M): tokens/s,
//! GFLOP/s and peak memory; `finetune`: classification fine-tuning steps;
//! `kernels`: GFLOP/s of each matmul kernel and of flash attention; `vep`:
//! variant-scoring throughput.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dnagpu::bench::{kernels, model as measure, vep, Profile};
use dnagpu::model::Config;
use serde_json::{json, Value};

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
    /// MLM training steps (forward, backward, AdamW) on random tokens, 15% masked.
    Train(TrainBench),
    /// Sequence-classification fine-tuning steps, LoRA or full, on random tokens.
    Finetune(FinetuneBench),
    /// GFLOP/s of each matmul kernel and of flash attention, forward and backward.
    Kernels(KernelBench),
    /// Variant-effect scoring (`dnagpu vep`) throughput: variants/s on random SNVs.
    Vep(VepBench),
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
    /// Then time each kernel (CPU backend: each op) of one more step (see `profile_once`).
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
    /// Then time each kernel (CPU backend: each op) of one more step (see `profile_once`).
    #[arg(long)]
    profile: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// f32, or f16: mixed precision (f16 layer weights from f32 masters,
    /// loss scaling), as `pretrain --precision f16` trains.
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
    /// Data-parallel steps under `mpirun -np N`: --batch per rank; reports the global
    /// tokens/s and the all-reduce's share of a step (rank 0 prints).
    #[arg(long)]
    distributed: bool,
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
    /// Then time each kernel (CPU backend: each op) of one more forward (see `profile_once`).
    #[arg(long)]
    profile: bool,
    /// The encoder's weight matrices as f32 or f16 (half the memory).
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct KernelBench {
    /// Timed repetitions per case, recorded back to back (mean reported).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Small shapes only (the default on software adapters and the CPU).
    #[arg(long)]
    small: bool,
    /// Skip attention.
    #[arg(long)]
    no_attention: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VepBench {
    /// Model config (default: DNABERT-2-117M), with DNABERT-2's tokenizer.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SNVs to score (after one warm-up variant).
    #[arg(long, default_value_t = 64)]
    variants: usize,
    /// Bases on each side of the variant.
    #[arg(long, default_value_t = 256)]
    flank: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn config_of(path: &Option<PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::from_json(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &p.display().to_string(),
        )?,
        None => Config::dnabert2_117m(),
    })
}

fn write_json(path: &Path, doc: &Value) -> Result<()> {
    dnagpu::fs::write_atomic(path, serde_json::to_string_pretty(doc)?.as_bytes())?;
    Ok(())
}

/// Prints each kernel's (on the CPU backend: op's) share of a profiled run;
/// its rows as JSON.
fn print_profile(p: Profile) -> Result<Value> {
    let total: f64 = p.rows.iter().map(|r| r.seconds).sum();
    let how = p.how;
    let (what, count) = if p.cpu {
        ("op", "outputs")
    } else {
        ("kernel", "dispatches")
    };
    println!("per {what} (one run; {how}; total {total:.4} s):");
    println!("{what:<36} {count:>10} {:>10} {:>7}", "ms", "share");
    for r in &p.rows {
        println!(
            "{:<36} {:>10} {:>10.3} {:>6.1}%",
            r.kernel,
            r.dispatches,
            r.seconds * 1e3,
            100.0 * r.seconds / total
        );
    }
    Ok(serde_json::to_value(&p.rows)?)
}

/// The `model:` line's architecture part.
fn arch(config: &Config) -> String {
    format!(
        "{} layers, hidden {}, {} heads, intermediate {}",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size
    )
}

pub fn run(dev_args: &DeviceArgs, args: &BenchArgs) -> Result<()> {
    let a = match &args.what {
        BenchWhat::Embed(a) => a,
        BenchWhat::Train(t) => return run_train(dev_args, t),
        BenchWhat::Finetune(f) => return run_finetune(dev_args, f),
        BenchWhat::Kernels(k) => return run_kernels(dev_args, k),
        BenchWhat::Vep(v) => return run_vep(dev_args, v),
    };
    let config = config_of(&a.config)?;
    let dev = dev_args.device()?;
    let mut bench = measure::EmbedBench::new(&dev, &config, &a.family, a.precision)?;
    let mut rows = Vec::new();
    let mut cases = vec![(a.batch, a.seq)];
    if a.long > 0 {
        cases.push((1, a.long));
    }
    println!("device: {}", dev.name());
    println!("model: {}; weights {}", arch(&config), a.precision.name());
    println!(
        "{:>6} {:>7} {:>10} {:>12} {:>10} {:>12}",
        "batch", "tokens", "seconds", "tokens/s", "GFLOP/s", "peak MiB"
    );
    for (b, t) in cases {
        let r = bench.time(&dev, b, t, a.iters)?;
        println!(
            "{b:>6} {t:>7} {:>10.3} {:>12.0} {:>10.1} {:>12.0}",
            r.seconds, r.tokens_per_s, r.gflops, r.peak_mib
        );
        rows.push(serde_json::to_value(&r)?);
    }
    let profile = if a.profile {
        print_profile(bench.profile(&dev, a.batch, a.seq)?)?
    } else {
        Value::Null
    };
    if let Some(p) = &a.json {
        let doc = json!({"device": dev.name(), "backend": dev.backend(), "family": a.family, "precision": a.precision.name(), "config": {
            "layers": config.num_hidden_layers, "hidden": config.hidden_size, "heads": config.num_attention_heads, "intermediate": config.intermediate_size}, "results": rows, "profile": profile});
        write_json(p, &doc)?;
    }
    Ok(())
}

fn run_train(dev_args: &DeviceArgs, a: &TrainBench) -> Result<()> {
    let config = config_of(&a.config)?;
    let dist = crate::join(a.distributed)?;
    let dev = dev_args.device_for(dist.as_deref())?;
    let mut bench = measure::TrainBench::new(&dev, &config, a.precision, a.batch, a.seq)?;
    if let Some(d) = &dist {
        bench = bench.distributed(d.clone());
    }
    let r = bench.time(&dev, a.iters)?;
    let ranks = dist.as_ref().map_or(1, |d| d.size());
    if let Some(d) = dist.as_ref().filter(|d| d.is_root()) {
        let per_step = d.reduce_seconds() / a.iters.max(1) as f64;
        let share = 100.0 * per_step / r.seconds_per_step;
        println!("ranks: {ranks}; all-reduce (readback, MPI, upload): {per_step:.3} s/step, {share:.0}% of a step");
    } else if dist.is_some() {
        return Ok(());
    }
    println!("device: {}", dev.name());
    println!(
        "model: {}; {} x {} tokens per step",
        arch(&config),
        a.batch * ranks,
        a.seq
    );
    println!(
        "{:>10} {:>12} {:>10} {:>12}",
        "s/step", "tokens/s", "GFLOP/s", "peak MiB"
    );
    println!(
        "{:>10.3} {:>12.0} {:>10.1} {:>12.0}",
        r.seconds_per_step, r.tokens_per_s, r.gflops, r.peak_mib
    );
    let profile = if a.profile {
        print_profile(bench.profile(&dev)?)?
    } else {
        Value::Null
    };
    if let Some(p) = &a.json {
        let doc = json!({"device": dev.name(), "backend": dev.backend(), "precision": a.precision.name(), "batch": a.batch * ranks, "ranks": ranks, "tokens": a.seq,
            "seconds_per_step": r.seconds_per_step, "tokens_per_s": r.tokens_per_s, "gflops": r.gflops, "peak_mib": r.peak_mib, "profile": profile});
        write_json(p, &doc)?;
    }
    Ok(())
}

fn run_finetune(dev_args: &DeviceArgs, a: &FinetuneBench) -> Result<()> {
    let config = config_of(&a.config)?;
    let dev = dev_args.device()?;
    let mut bench = measure::FinetuneBench::new(
        &dev,
        &config,
        &a.family,
        &a.mode,
        a.precision,
        a.batch,
        a.seq,
    )?;
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}; mode {}, {} trainable parameters; {} x {} tokens per step",
        config.num_hidden_layers, config.hidden_size, a.mode, bench.trainable, a.batch, a.seq
    );
    let (step, peak) = bench.time(&dev, a.iters)?;
    let sps = a.batch as f64 / step;
    println!(
        "{:>10} {:>12} {:>12} {:>12}",
        "s/step", "samples/s", "tokens/s", "peak MiB"
    );
    println!(
        "{step:>10.3} {sps:>12.1} {:>12.0} {peak:>12.0}",
        sps * a.seq as f64
    );
    if a.profile {
        print_profile(bench.profile(&dev)?)?;
    }
    if let Some(p) = &a.json {
        let doc = json!({"device": dev.name(), "mode": a.mode, "precision": a.precision.name(), "trainable": bench.trainable, "batch": a.batch,
            "tokens": a.seq, "seconds_per_step": step, "samples_per_s": sps, "peak_mib": peak});
        write_json(p, &doc)?;
    }
    Ok(())
}

fn run_kernels(dev_args: &DeviceArgs, a: &KernelBench) -> Result<()> {
    let dev = dev_args.device()?;
    let setup = kernels::Setup {
        small: kernels::small_shapes(&dev, a.small),
        iters: a.iters.max(1),
    };
    println!("device: {}", dev.name());
    let mut rows = Vec::new();
    println!(
        "{:<16} {:>22} {:>7} {:>13} {:>10}",
        "matmul", "M x N x K", "layout", "kernel", "GFLOP/s"
    );
    kernels::matmul(&dev, setup, |r| {
        println!(
            "{:<16} {:>22} {:>7} {:>13} {:>10.1}",
            r.case,
            format!("{} x {} x {}", r.m, r.n, r.k),
            r.layout,
            r.kernel,
            r.gflops
        );
        rows.push(serde_json::to_value(r).expect("plain numbers and text"));
    })?;
    if !a.no_attention {
        println!(
            "{:<14} {:>8} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "attention",
            "T",
            "batch",
            "fwd rows",
            "fwd tiled",
            "bwd GFLOP/s",
            "fwd coop",
            "bwd coop"
        );
        kernels::attention(&dev, setup, |r| {
            let coop = |g: Option<f64>| g.map_or("-".to_string(), |g| format!("{g:.1}"));
            println!(
                "{:<14} {:>8} {:>6} {:>12.1} {:>12.1} {:>12.1} {:>12} {:>12}",
                "flash",
                r.t,
                r.batch,
                r.forward_rows_gflops,
                r.forward_gflops,
                r.backward_gflops,
                coop(r.coop_forward_gflops),
                coop(r.coop_backward_gflops)
            );
            rows.push(serde_json::to_value(r).expect("plain numbers and text"));
        })?;
    }
    if let Some(p) = &a.json {
        write_json(
            p,
            &json!({"device": dev.name(), "backend": dev.backend(), "results": rows}),
        )?;
    }
    Ok(())
}

fn run_vep(dev_args: &DeviceArgs, a: &VepBench) -> Result<()> {
    if a.variants == 0 || a.batch == 0 {
        bail!("--variants and --batch must be at least 1");
    }
    let config = config_of(&a.config)?;
    let tokenizer = vep::tokenizer_for(&config)?;
    let dev = dev_args.device()?;
    let r = vep::run(&dev, &config, &tokenizer, a.variants, a.flank, a.batch)?;
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}, {} heads (random init, DNABERT-2 tokenizer); flank {}, batch {} windows",
        config.num_hidden_layers, config.hidden_size, config.num_attention_heads, a.flank, a.batch
    );
    println!(
        "{:>9} {:>8} {:>10} {:>11} {:>12} {:>10} {:>10}",
        "variants", "windows", "seconds", "variants/s", "tokens/s", "prepare s", "peak MiB"
    );
    println!(
        "{:>9} {:>8} {:>10.3} {:>11.2} {:>12.0} {:>10.3} {:>10.0}",
        r.variants,
        r.windows,
        r.seconds,
        r.variants_per_s,
        r.tokens_per_s,
        r.prepare_seconds,
        r.peak_mib
    );
    if let Some(p) = &a.json {
        let mut doc = serde_json::to_value(&r)?;
        let extra = json!({"device": dev.name(), "backend": dev.backend(),
            "config": {"layers": config.num_hidden_layers, "hidden": config.hidden_size, "heads": config.num_attention_heads},
            "flank": a.flank, "batch": a.batch});
        if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
            d.extend(e);
        }
        write_json(p, &doc)?;
    }
    Ok(())
}
