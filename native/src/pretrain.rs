//! `dnagpu pretrain`: masked-language-model pretraining from FASTA files, on
//! the GPU or the CPU backend, with checkpoints, exact resume, validation,
//! a CSV log and a loss plot in the run folder. The run itself is the
//! library's (`dnagpu::train::pretrain_run`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::export::Precision;
use dnagpu::train::optimizer::AdamWConfig;
use dnagpu::train::pretrain_run::{pretrain, PretrainRecipe, PretrainStart};
use dnagpu::train::progress::{RunProgress, Silent};
use dnagpu::train::schedule::Decay;

use dnagpu::train::distributed::Distributed;
use std::sync::Arc;

use crate::interrupt::Interrupt;
use crate::model_arg::Source;
use crate::progress::BarProgress;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct PretrainArgs {
    /// FASTA or FASTA.gz files (streamed; any size).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// The run folder: checkpoints, log.csv, loss.svg, and the final model.
    #[arg(long)]
    output: PathBuf,
    /// Train a new model of this architecture (a DNABERT-2 config.json), with the DNABERT-2 tokenizer
    /// (or --tokenizer).
    #[arg(long, conflicts_with = "model")]
    config: Option<PathBuf>,
    /// Continue pretraining this model (a folder or hub id with an MLM head).
    #[arg(long)]
    model: Option<PathBuf>,
    /// tokenizer.json for a new model (e.g. from `dnagpu tokenizer train`).
    #[arg(long, requires = "config")]
    tokenizer: Option<PathBuf>,
    /// Continue the run in --output from its newest complete checkpoint.
    #[arg(long)]
    resume: bool,
    /// Optimizer steps in total.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    /// Warmup steps (linear from 0); default 6% of --steps.
    #[arg(long)]
    warmup: Option<u64>,
    #[arg(long, value_enum, default_value = "linear")]
    schedule: ScheduleArg,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    /// Apply weight decay to biases and LayerNorm parameters too (off by default, as in BERT).
    #[arg(long)]
    decay_all: bool,
    #[arg(long, default_value_t = 0.9)]
    adam_beta1: f32,
    #[arg(long, default_value_t = 0.98)]
    adam_beta2: f32,
    #[arg(long, default_value_t = 1e-6)]
    adam_eps: f32,
    /// Clip the global gradient norm to this (0 = off).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    /// Dropout probability; default: the config's hidden_dropout_prob.
    #[arg(long)]
    dropout: Option<f32>,
    /// Longest training sequence in tokens ([CLS] and [SEP] included).
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Padded tokens per batch; default batch size x max length.
    #[arg(long)]
    batch_tokens: Option<usize>,
    /// Batches per optimizer step (gradient accumulation).
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Bases per training piece cut from the FASTA records; default 5 x max length.
    #[arg(long)]
    chunk_bp: Option<usize>,
    /// Pieces shorter than this (record ends, pieces between N runs) are dropped.
    #[arg(long, default_value_t = 20)]
    min_bp: usize,
    /// Fraction of regular tokens chosen for prediction.
    #[arg(long, default_value_t = 0.15)]
    mlm_probability: f64,
    #[arg(long, default_value_t = 10_000)]
    shuffle_buffer: usize,
    /// The first N pieces of the data are held out for validation.
    #[arg(long, default_value_t = 256)]
    val_sequences: usize,
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    #[arg(long, default_value_t = 500)]
    save_every: u64,
    /// Checkpoints kept (the newest ones).
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
    /// f16: mixed-precision training where the GPU computes in half
    /// precision (f32 master weights, each step computing with f16 layer
    /// weights and keeping activations in f16 on a GPU with shader-f16, on
    /// cooperative matrices where the GPU has them; f32 gradients; dynamic
    /// loss scaling) and the final model's weights stored in f16.
    /// Checkpoints are always f32.
    #[arg(long, value_enum, default_value = "f32")]
    precision: PrecisionArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Data-parallel over MPI: launch with `mpirun -np N` or `srun`; --batch-size (and
    /// --batch-tokens) are per rank, rank 0 writes the files (build with --features mpi).
    #[arg(long)]
    distributed: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ScheduleArg {
    Linear,
    Cosine,
    Constant,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
}

impl PretrainArgs {
    fn recipe(&self) -> PretrainRecipe {
        PretrainRecipe {
            data: self.data.clone(),
            steps: self.steps,
            lr: self.lr,
            warmup: self.warmup,
            decay: match self.schedule {
                ScheduleArg::Linear => Decay::Linear,
                ScheduleArg::Cosine => Decay::Cosine,
                ScheduleArg::Constant => Decay::Constant,
            },
            adamw: AdamWConfig {
                beta1: self.adam_beta1,
                beta2: self.adam_beta2,
                eps: self.adam_eps,
                weight_decay: self.weight_decay,
                no_decay_bias_norm: !self.decay_all,
            },
            max_grad_norm: self.max_grad_norm,
            dropout: self.dropout,
            max_length: self.max_length,
            batch_size: self.batch_size,
            batch_tokens: self.batch_tokens,
            grad_accum: self.grad_accum,
            chunk_bp: self.chunk_bp,
            min_bp: self.min_bp,
            mlm_probability: self.mlm_probability,
            shuffle_buffer: self.shuffle_buffer,
            val_sequences: self.val_sequences,
            eval_every: self.eval_every,
            save_every: self.save_every,
            keep_checkpoints: self.keep_checkpoints,
            precision: match self.precision {
                PrecisionArg::F32 => Precision::F32,
                PrecisionArg::F16 => Precision::F16,
            },
            seed: self.seed,
        }
    }

    fn start(&self, progress: &mut dyn RunProgress) -> Result<PretrainStart> {
        if self.resume {
            return Ok(PretrainStart::resume(
                &self.output,
                self.config.as_deref(),
                progress,
            )?);
        }
        let src = match (&self.config, &self.model) {
            (Some(cfg), None) => Source::random_init(cfg, self.seed)?,
            (None, Some(m)) => Source::open(m, Precision::F32)?,
            _ => bail!(
                "pass --config config.json (a new model) or --model M (continued pretraining)"
            ),
        };
        Ok(PretrainStart::fresh(
            &self.output,
            src,
            self.tokenizer.as_deref(),
        )?)
    }
}

pub fn run(device: &DeviceArgs, args: &PretrainArgs) -> Result<()> {
    let dist = crate::join(args.distributed)?;
    let ranks = dist.as_ref().map_or(1, |d| d.size());
    let body = |dist: Option<Arc<Distributed>>| -> Result<Option<i32>> {
        let recipe = args.recipe().for_ranks(ranks);
        recipe.validate()?;
        let (mut bar, mut silent) = (BarProgress::new(), Silent);
        let progress: &mut dyn RunProgress = match dist.as_ref().is_none_or(|d| d.is_root()) {
            true => &mut bar,
            false => &mut silent,
        };
        let start = args.start(progress)?;
        let dev = device.device_for(dist.as_deref())?;
        let interrupt = Interrupt::install("saving a checkpoint")?;
        let end = pretrain(
            &dev,
            &args.output,
            &recipe,
            &start,
            progress,
            interrupt.flag(),
            dist.clone(),
        )?;
        if dist.as_ref().is_none_or(|d| d.is_root()) {
            eprintln!("{}", end.summary(&args.output));
        }
        Ok(interrupt.exit_code())
    };
    crate::run_ranked(dist, body)
}
