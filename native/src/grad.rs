//! `dnagpu grad`: the MLM loss and every parameter's gradient for one given
//! batch, dropout off; optionally N steps of plain PyTorch AdamW. The bridge
//! for comparing the backward pass and the optimizer with other frameworks
//! (contract in the README).

use std::path::PathBuf;

use anyhow::{Context, Result};
use dnagpu::export::{safetensors_named, Precision};
use dnagpu::model::Dropout;
use dnagpu::train::optimizer::{AdamW, AdamWConfig};
use dnagpu::train::{forward_backward, HostBatch, MlmModel};

use crate::model_arg::ModelArgs;
use crate::DeviceArgs;
use dnagpu::fs::{check_output, write_atomic};
use dnagpu::train::checkpoint::{write_model_folder, ModelFolder};

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

/// `%.9g`: 9 significant digits, as the contract prints the loss.
pub fn sig9(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..9).contains(&exp) {
        let decimals = (8 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let e = format!("{v:.8e}");
        let (mantissa, exp) = e.split_once('e').expect("exponent form");
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        let exp: i32 = exp.parse().expect("integer exponent");
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
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
    let batch = host.to_device(&dev, src.config.vocab_size)?;
    let mut model = MlmModel::load(&dev, &src.config, &src.weights)?;
    let names = model.names();
    let scale = 1.0 / batch.labelled() as f32;

    let loss_of = |rows: &dnagpu::Tensor| -> Result<f64> {
        let r = dev.read_f32_blocking(rows)?;
        Ok(r.iter().map(|&v| v as f64).sum::<f64>() / batch.labelled() as f64)
    };
    let (loss, grads) = forward_backward(&dev, &model, &batch, scale, &Dropout::OFF)?;
    println!("loss {}", sig9(loss_of(&loss.rows)?));
    let mut host_grads = Vec::with_capacity(grads.len());
    for g in &grads {
        host_grads.push(dev.read_f32_blocking(g)?);
    }
    let named = names
        .iter()
        .zip(&grads)
        .zip(&host_grads)
        .map(|((n, g), d)| (n.as_str(), g.shape(), d.as_slice()));
    write_atomic(
        &args.output,
        &safetensors_named(named, Precision::F32, None)?,
    )?;

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
    let mut opt = AdamW::new(&dev, &names, &model.params(), cfg)?;
    let mut grads = grads;
    for step in 1..=args.steps {
        if step > 1 {
            let (loss, g) = forward_backward(&dev, &model, &batch, scale, &Dropout::OFF)?;
            eprintln!("step {step}: loss {}", sig9(loss_of(&loss.rows)?));
            grads = g;
        }
        let params = opt.update(&dev, model.params(), &grads, args.lr, 1.0)?;
        model.set_params(params)?;
    }
    let (loss, _) = forward_backward(&dev, &model, &batch, scale, &Dropout::OFF)?;
    println!("loss_after_steps {}", sig9(loss_of(&loss.rows)?));
    if let Some(dir) = &args.output_model {
        let tensors = pollster::block_on(model.to_host(&dev))?;
        write_model_folder(
            dir,
            &ModelFolder {
                config_json: &src.config_json,
                tokenizer: (src.tokenizer.file_name(), &src.tokenizer_file),
                tensors: &tensors,
                precision: Precision::F32,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sig9;

    #[test]
    fn nine_significant_digits_like_printf_g() {
        assert_eq!(sig9(13.7371666123), "13.7371666");
        assert_eq!(sig9(0.000123456789012), "0.000123456789");
        assert_eq!(sig9(8.0), "8");
        assert_eq!(sig9(1.5e-7), "1.5e-07");
        assert_eq!(sig9(-2.0e12), "-2e+12");
        assert_eq!(sig9(123456789.4), "123456789");
    }
}
