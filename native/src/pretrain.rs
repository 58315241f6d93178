//! `dnagpu pretrain`: masked-language-model pretraining from FASTA files, on
//! the GPU or the CPU backend, with checkpoints, exact resume, validation,
//! a CSV log and a loss plot in the run folder.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dnagpu::export::Precision;
use dnagpu::model::{Config, Weights};
use dnagpu::rng::derive_seed;
use dnagpu::rng::Rng;
use dnagpu::tokenize::BpeTokenizer;
use dnagpu::train::batch::HostBatch;
use dnagpu::train::corpus::CorpusOptions;
use dnagpu::train::masking::Masking;
use dnagpu::train::optimizer::{AdamW, AdamWConfig};
use dnagpu::train::schedule::{Decay, Schedule};
use dnagpu::train::stream::{BatchStream, StreamOptions};
use dnagpu::train::trainer::{evaluate, EvalStats, StepStats, TrainOptions, Trainer};
use dnagpu::train::{read_named, MlmModel};
use serde_json::json;

use crate::checkpoint::{self, ModelFolder, OptimizerState, TrainerState};
use crate::model_arg::{random_init, ModelArgs};
use crate::output::write_atomic;
use crate::plot::{line_chart, Series};
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
    /// Storage of the final model's weights (checkpoints are always f32).
    #[arg(long, value_enum, default_value = "f32")]
    precision: PrecisionArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
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

/// One row of log.csv.
#[derive(Clone, Debug)]
struct LogRow {
    step: u64,
    loss: f64,
    lr: f64,
    grad_norm: f64,
    tokens: u64,
    seconds: f64,
    val: Option<EvalStats>,
}

const LOG_HEADER: [&str; 8] = [
    "step",
    "loss",
    "lr",
    "grad_norm",
    "tokens",
    "seconds",
    "val_loss",
    "val_accuracy",
];

impl LogRow {
    /// The row's fields, in `LOG_HEADER` order.
    fn fields(&self) -> [String; 8] {
        let (vl, va) = match self.val {
            Some(v) => (format!("{:.9e}", v.loss), format!("{:.6}", v.accuracy)),
            None => (String::new(), String::new()),
        };
        [
            self.step.to_string(),
            format!("{:.9e}", self.loss),
            format!("{:.6e}", self.lr),
            format!("{:.6e}", self.grad_norm),
            self.tokens.to_string(),
            format!("{:.3}", self.seconds),
            vl,
            va,
        ]
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return None;
        }
        let val = match (f[6].parse(), f[7].parse()) {
            (Ok(loss), Ok(accuracy)) => Some(EvalStats {
                loss,
                accuracy,
                labelled: 0,
            }),
            _ => None,
        };
        Some(Self {
            step: f[0].parse().ok()?,
            loss: f[1].parse().ok()?,
            lr: f[2].parse().ok()?,
            grad_norm: f[3].parse().ok()?,
            tokens: f[4].parse().ok()?,
            seconds: f[5].parse().ok()?,
            val,
        })
    }
}

/// What the model starts from.
struct Start {
    config: Config,
    config_json: String,
    tokenizer_json: String,
    weights: Weights,
    resume: Option<Resume>,
}

/// Where a resumed run continues from.
struct Resume {
    dir: PathBuf,
    state: TrainerState,
    optimizer: OptimizerState,
}

impl PretrainArgs {
    fn settings(&self, cfg: &Config) -> serde_json::Value {
        json!({
            "data": self.data.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "seed": self.seed,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens(),
            "grad_accum": self.grad_accum,
            "chunk_bp": self.chunk_bp(),
            "min_bp": self.min_bp,
            "mlm_probability": self.mlm_probability,
            "shuffle_buffer": self.shuffle_buffer,
            "val_sequences": self.val_sequences,
            "steps": self.steps,
            "lr": self.lr,
            "warmup": self.warmup(),
            "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "vocab_size": cfg.vocab_size,
        })
    }

    fn batch_tokens(&self) -> usize {
        self.batch_tokens
            .unwrap_or(self.batch_size * self.max_length)
    }

    fn chunk_bp(&self) -> usize {
        self.chunk_bp.unwrap_or(5 * self.max_length)
    }

    fn warmup(&self) -> u64 {
        self.warmup.unwrap_or(self.steps * 6 / 100)
    }

    fn start(&self) -> Result<Start> {
        let has_checkpoints = self.output.join("checkpoints").is_dir();
        if self.resume {
            let (loaded, warnings) = checkpoint::load_latest(&self.output)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let Some(c) = loaded else {
                bail!(
                    "--resume: {} holds no complete checkpoint",
                    self.output.display()
                );
            };
            let config = Config::from_json(
                &c.config_json,
                &c.dir.join("config.json").display().to_string(),
            )?;
            if let Some(p) = &self.config {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let given = Config::from_json(&text, &p.display().to_string())?;
                if given != config {
                    bail!(
                        "--resume: {} describes another model than the checkpoint {} (compare their config.json)",
                        p.display(),
                        c.dir.display()
                    );
                }
            }
            eprintln!("resuming from {} (step {})", c.dir.display(), c.state.step);
            let checkpoint::Loaded {
                dir,
                state,
                weights,
                optimizer,
                config_json,
                tokenizer_json,
            } = c;
            return Ok(Start {
                config,
                config_json,
                tokenizer_json,
                weights,
                resume: Some(Resume {
                    dir,
                    state,
                    optimizer,
                }),
            });
        }
        if has_checkpoints {
            bail!(
                "{} already holds a run (checkpoints/): pass --resume to continue it, or choose another --output",
                self.output.display()
            );
        }
        let src = match (&self.config, &self.model) {
            (Some(cfg), None) => random_init(cfg, self.seed)?,
            (None, Some(m)) => ModelArgs {
                model: Some(m.clone()),
                random_init: None,
                seed: 0,
                precision: dnagpu::model::Precision::F32,
            }
            .files()?,
            _ => bail!(
                "pass --config config.json (a new model) or --model M (continued pretraining)"
            ),
        };
        let (tokenizer_json, _) = match &self.tokenizer {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let tok = BpeTokenizer::from_json(&text, &p.display().to_string())?;
                if tok.vocab_size() != src.config.vocab_size {
                    bail!(
                        "{}: {} tokens, but the config's vocab_size is {}",
                        p.display(),
                        tok.vocab_size(),
                        src.config.vocab_size
                    );
                }
                (text, ())
            }
            None => {
                if src.tokenizer.bpe().is_none() {
                    bail!(
                        "{}: pretraining runs DNABERT-2-architecture models (BPE tokenizer.json); this model's tokenizer is a {}",
                        src.source,
                        src.tokenizer.file_name()
                    );
                }
                (src.tokenizer_file.clone(), ())
            }
        };
        Ok(Start {
            config: src.config,
            config_json: src.config_json,
            tokenizer_json,
            weights: src.weights,
            resume: None,
        })
    }
}

/// Batches of the held-out sequences, masked once with a fixed seed.
fn validation_batches(seqs: &[Vec<u32>], masking: &Masking, args: &PretrainArgs) -> Vec<HostBatch> {
    seqs.chunks(args.batch_size)
        .enumerate()
        .map(|(i, c)| masking.collate(c, &mut Rng::new(derive_seed(args.seed, 4, i as u64))))
        .collect()
}

/// Predicting the most frequent label token: its accuracy, and the loss of
/// predicting the labels' own frequencies (their entropy).
fn baseline(val: &[HostBatch]) -> (f64, f64) {
    let mut counts = std::collections::HashMap::new();
    for b in val {
        for &l in b.labels.iter().filter(|&&l| l > 0) {
            *counts.entry(l).or_insert(0u64) += 1;
        }
    }
    let n: u64 = counts.values().sum();
    let top = counts.values().copied().max().unwrap_or(0);
    let entropy = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum();
    (top as f64 / n.max(1) as f64, entropy)
}

fn write_log(run: &Path, rows: &[LogRow]) -> Result<()> {
    let mut csv = dnagpu::export::CsvText::new();
    csv.row(LOG_HEADER)?;
    for r in rows {
        csv.row(r.fields())?;
    }
    write_atomic(&run.join("log.csv"), csv.finish()?.as_bytes())?;
    let train = Series {
        name: "training loss".into(),
        points: rows.iter().map(|r| (r.step as f64, r.loss)).collect(),
        color: "#1f77b4",
        dots: false,
    };
    let val = Series {
        name: "validation loss".into(),
        points: rows
            .iter()
            .filter_map(|r| r.val.map(|v| (r.step as f64, v.loss)))
            .collect(),
        color: "#d62728",
        dots: true,
    };
    let svg = line_chart(
        "MLM pretraining",
        "step",
        "masked-token cross-entropy",
        &[train, val],
    );
    write_atomic(&run.join("loss.svg"), svg.as_bytes())
}

fn read_log(run: &Path, upto: u64) -> Vec<LogRow> {
    std::fs::read_to_string(run.join("log.csv"))
        .map(|s| {
            s.lines()
                .skip(1)
                .filter_map(LogRow::parse)
                .filter(|r| r.step <= upto)
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(device: &DeviceArgs, args: &PretrainArgs) -> Result<()> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let start = args.start()?;
    let cfg = start.config.clone();
    let settings = args.settings(&cfg);
    if let Some(c) = &start.resume {
        checkpoint::check_settings(&c.state.settings, &settings)?;
    }
    let tokenizer = Arc::new(BpeTokenizer::from_json(
        &start.tokenizer_json,
        "tokenizer.json",
    )?);
    let dev = device.device()?;

    let masking = Masking {
        prob: args.mlm_probability,
        vocab: cfg.vocab_size as u32,
    };
    let stream_opts = StreamOptions {
        corpus: CorpusOptions {
            chunk_bp: args.chunk_bp(),
            min_bp: args.min_bp,
        },
        max_tokens: args.max_length,
        batch_tokens: args.batch_tokens(),
        batch_size: args.batch_size,
        shuffle_buffer: args.shuffle_buffer,
        val_sequences: args.val_sequences,
        seed: args.seed,
    };
    let (mut stream, val_seqs) = BatchStream::new(&args.data, stream_opts, tokenizer)?;
    let val = validation_batches(&val_seqs, &masking, args);
    let (top_acc, unigram) = baseline(&val);
    if !val.is_empty() {
        eprintln!(
            "validation: {} sequences; most frequent token {:.2}% accurate, label-frequency loss {:.4}",
            val_seqs.len(),
            100.0 * top_acc,
            unigram
        );
    }

    let mut model = MlmModel::load(&dev, &cfg, &start.weights)?;
    let names = model.names();
    let adamw = AdamWConfig {
        beta1: args.adam_beta1,
        beta2: args.adam_beta2,
        eps: args.adam_eps,
        weight_decay: args.weight_decay,
        no_decay_bias_norm: !args.decay_all,
    };
    let mut optimizer = AdamW::new(&dev, &names, &model.params(), adamw)?;
    let mut state = TrainerState {
        step: 0,
        batches: 0,
        epoch: 0,
        tokens: 0,
        elapsed_s: 0.0,
        settings: settings.clone(),
    };
    let mut log = Vec::new();
    if let Some(c) = &start.resume {
        let load = |map: &std::collections::BTreeMap<String, dnagpu::model::HostTensor>| {
            names
                .iter()
                .map(|n| {
                    let t = map.get(n).with_context(|| {
                        format!("{}: optimizer state has no `{n}`", c.dir.display())
                    })?;
                    Ok(dev.tensor_f32(&t.shape, &t.data)?)
                })
                .collect::<Result<Vec<_>>>()
        };
        optimizer = optimizer.with_state(
            c.state.step as u32,
            load(&c.optimizer.m)?,
            load(&c.optimizer.v)?,
        );
        state = c.state.clone();
        state.settings = settings.clone();
        stream.skip(state.batches)?;
        log = read_log(&args.output, state.step);
    }
    let schedule = Schedule {
        peak: args.lr,
        warmup: args.warmup(),
        total: args.steps,
        decay: match args.schedule {
            ScheduleArg::Linear => Decay::Linear,
            ScheduleArg::Cosine => Decay::Cosine,
            ScheduleArg::Constant => Decay::Constant,
        },
    };
    let mut trainer = Trainer {
        model,
        optimizer,
        options: TrainOptions {
            schedule,
            max_grad_norm: args.max_grad_norm,
            dropout: args.dropout.unwrap_or(cfg.hidden_dropout_prob as f32),
            seed: args.seed,
        },
    };

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to quit at once)");
        });
    }

    let save = |trainer: &mut Trainer, state: &TrainerState, log: &[LogRow]| -> Result<PathBuf> {
        let tensors = pollster::block_on(trainer.model.to_host(&dev))?;
        let opt = OptimizerState {
            m: pollster::block_on(read_named(&dev, &names, &trainer.optimizer.m))?,
            v: pollster::block_on(read_named(&dev, &names, &trainer.optimizer.v))?,
        };
        let folder = ModelFolder {
            config_json: &start.config_json,
            tokenizer: ("tokenizer.json", &start.tokenizer_json),
            tensors: &tensors,
            precision: Precision::F32,
        };
        let dir = checkpoint::save(&args.output, &folder, &opt, state, args.keep_checkpoints)?;
        write_log(&args.output, log)?;
        Ok(dir)
    };

    if state.step >= args.steps {
        eprintln!(
            "the run already has all its {} steps: writing its final files",
            args.steps
        );
    } else {
        eprintln!(
            "training steps {}..{} on {} (Ctrl-C saves a checkpoint and stops)",
            state.step + 1,
            args.steps,
            dev.name()
        );
    }
    let bar = crate::progress::TrainBar::new(args.steps, state.step);
    let began = Instant::now();
    let already = state.elapsed_s;
    let tokens_before = state.tokens;
    let mut last_saved = state.step;
    while state.step < args.steps {
        let micro = (0..args.grad_accum)
            .map(|_| stream.next_batch(&masking))
            .collect::<dnagpu::Result<Vec<_>>>()?;
        let stats: StepStats = match pollster::block_on(trainer.train_step(&dev, &micro)) {
            Ok(s) => s,
            Err(e) => {
                bar.finish();
                write_log(&args.output, &log)?;
                bail!(
                    "{e}. The newest checkpoint in {} is the last good state",
                    args.output.join("checkpoints").display()
                );
            }
        };
        state.step = stats.step;
        state.batches = stream.batches;
        state.epoch = stream.epoch;
        state.tokens += stats.tokens;
        state.elapsed_s = already + began.elapsed().as_secs_f64();
        let val_now = !val.is_empty()
            && (state.step.is_multiple_of(args.eval_every.max(1)) || state.step == args.steps);
        let val_stats = if val_now {
            Some(pollster::block_on(evaluate(&dev, &trainer.model, &val))?)
        } else {
            None
        };
        log.push(LogRow {
            step: state.step,
            loss: stats.loss,
            lr: stats.lr,
            grad_norm: stats.grad_norm,
            tokens: state.tokens,
            seconds: state.elapsed_s,
            val: val_stats,
        });
        let secs = began.elapsed().as_secs_f64().max(1e-9);
        bar.update(
            state.step,
            stats.loss,
            (state.tokens - tokens_before) as f64 / secs,
            val_stats,
        );
        let stop = interrupted.load(Ordering::SeqCst);
        if state.step.is_multiple_of(args.save_every.max(1)) || state.step == args.steps || stop {
            save(&mut trainer, &state, &log)?;
            last_saved = state.step;
        }
        if stop {
            bar.finish();
            eprintln!(
                "stopped at step {}; checkpoint saved in {}; continue with the same command and --resume",
                state.step,
                args.output.join("checkpoints").display()
            );
            return Ok(());
        }
    }
    bar.finish();
    if last_saved != state.step {
        save(&mut trainer, &state, &log)?;
    }
    // The run folder itself is a model folder that `embed` loads.
    let tensors = pollster::block_on(trainer.model.to_host(&dev))?;
    crate::checkpoint::write_model_folder(
        &args.output,
        &ModelFolder {
            config_json: &start.config_json,
            tokenizer: ("tokenizer.json", &start.tokenizer_json),
            tensors: &tensors,
            precision: match args.precision {
                PrecisionArg::F32 => Precision::F32,
                PrecisionArg::F16 => Precision::F16,
            },
        },
    )?;
    let last_val = log.iter().rev().find_map(|r| r.val);
    let metrics = json!({
        "steps": state.step,
        "epochs": state.epoch,
        "tokens": state.tokens,
        "seconds": state.elapsed_s,
        "final_train_loss": log.last().map(|r| r.loss),
        "validation": last_val.map(|v| json!({"loss": v.loss, "accuracy": v.accuracy, "sequences": val_seqs.len()})),
        "baseline_most_frequent_token_accuracy": top_acc,
        "baseline_label_frequency_loss": unigram,
        "device": dev.name(),
    });
    write_atomic(
        &args.output.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    write_log(&args.output, &log)?;
    let v = last_val
        .map(|v| {
            format!(
                ", validation loss {:.4}, masked-token accuracy {:.2}%",
                v.loss,
                100.0 * v.accuracy
            )
        })
        .unwrap_or_default();
    eprintln!(
        "done: {} steps, {} tokens in {:.0} s{v}; model in {}",
        state.step,
        state.tokens,
        state.elapsed_s,
        args.output.display()
    );
    Ok(())
}
