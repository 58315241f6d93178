//! `dnagpu grad`: the MLM loss and every parameter's gradient for one given
//! batch, dropout off; optionally N steps of plain PyTorch AdamW. The bridge
//! for comparing the backward pass and the optimizer with other frameworks
//! (contract in the README). The run is the library's (`dnagpu::train::grad`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use dnagpu::train::grad::{sig9, GradRun};
use dnagpu::train::optimizer::AdamWConfig;
use dnagpu::train::HostBatch;

use crate::model_arg::ModelArgs;
use crate::DeviceArgs;
use dnagpu::fs::{check_output, write_atomic};

#[derive(clap::Args)]
pub struct GradArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// safetensors with `input_ids`, `attention_mask`, `labels` [B, T] (labels <= 0 are ignored).
    #[arg(long)]
    batch: PathBuf,
    /// Where to write the gradients (safetensors, one tensor per parameter).
    #[arg(long)]
    output: PathBuf,
    /// Also apply this many AdamW steps on the batch (every parameter decays, no clipping, constant lr).
    #[arg(long, default_value_t = 0)]
    steps: u32,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    #[arg(long, default_value_t = 1e-8)]
    adam_eps: f32,
    #[arg(long, default_value_t = 0.9)]
    adam_beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    adam_beta2: f32,
    /// Where to write the model after --steps (a model folder).
    #[arg(long, requires = "steps")]
    output_model: Option<PathBuf>,
}

pub fn run(device: &DeviceArgs, args: &GradArgs) -> Result<()> {
    check_output(&args.output, &[])?;
    if args.output_model.is_some() && args.steps == 0 {
        anyhow::bail!("--output-model needs --steps N (N >= 1)");
    }
    let dev = device.device()?;
    let src = args.model.files()?;
    let bytes =
        std::fs::read(&args.batch).with_context(|| format!("reading {}", args.batch.display()))?;
    let host = HostBatch::from_safetensors(&bytes, &args.batch.display().to_string())?;
    let mut run = GradRun::new(&dev, &src, &host)?;
    let (loss, grads) = run.loss_and_grads(&dev)?;
    println!("loss {}", sig9(loss));
    write_atomic(&args.output, &run.grads_safetensors(&dev, &grads)?)?;

    if args.steps == 0 {
        return Ok(());
    }
    let cfg = AdamWConfig {
        beta1: args.adam_beta1,
        beta2: args.adam_beta2,
        eps: args.adam_eps,
        weight_decay: args.weight_decay,
        no_decay_bias_norm: false,
    };
    let after = run.adamw_steps(&dev, cfg, args.lr, args.steps, grads, |step, loss| {
        eprintln!("step {step}: loss {}", sig9(loss))
    })?;
    println!("loss_after_steps {}", sig9(after));
    if let Some(dir) = &args.output_model {
        run.write_model(&dev, &src, dir)?;
    }
    Ok(())
}
