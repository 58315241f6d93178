//! A whole MLM pretraining run in a run folder: streamed FASTA batches,
//! validation on held-out sequences, checkpoints every `save_every` steps
//! (and when asked to stop), exact `--resume`, `log.csv` / `loss.svg`, and
//! at the end the run folder as a model folder with `metrics.json`. The
//! CLI's `pretrain` is this with a progress bar and signal handlers that
//! set the `stop` flag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::batch::{majority_baseline, HostBatch};
use super::checkpoint::{self, Loaded, ModelFolder, OptimizerState, TrainerState};
use super::corpus::CorpusOptions;
use super::distributed::Distributed;
use super::finetune::check_peak_lr;
use super::masking::Masking;
use super::optimizer::{AdamW, AdamWConfig};
use super::pretrain_log::{read_log, LogRow, RunLog};
use super::progress::{RunProgress, Throughput};
use super::schedule::{Decay, Schedule};
use super::stream::{BatchStream, StreamOptions};
use super::trainer::{evaluate, TrainOptions, Trainer};
use super::{read_named, MlmModel};
use crate::error::{Error, Result};
use crate::export::Precision;
use crate::fs::{io_error, remove_stale_temps, write_atomic};
use crate::model::source::ModelSource;
use crate::model::{Config, HostTensor, Weights};
use crate::rng::{derive_seed, Rng};
use crate::tokenize::BpeTokenizer;
use crate::Device;

/// Every setting of a pretraining run (the CLI's flags).
#[derive(Clone, Debug)]
pub struct PretrainRecipe {
    pub data: Vec<PathBuf>,
    pub steps: u64,
    pub lr: f64,
    /// Warm-up steps; `None`: 6% of `steps`.
    pub warmup: Option<u64>,
    pub decay: Decay,
    pub adamw: AdamWConfig,
    pub max_grad_norm: f64,
    /// `None`: the config's hidden dropout.
    pub dropout: Option<f32>,
    pub max_length: usize,
    pub batch_size: usize,
    /// Tokens per batch; `None`: `batch_size * max_length`.
    pub batch_tokens: Option<usize>,
    pub grad_accum: usize,
    /// Longest piece a record is cut into; `None`: 5 * `max_length`.
    pub chunk_bp: Option<usize>,
    pub min_bp: usize,
    pub mlm_probability: f64,
    pub shuffle_buffer: usize,
    pub val_sequences: usize,
    pub eval_every: u64,
    pub save_every: u64,
    pub keep_checkpoints: usize,
    /// How the final model's weights are stored.
    pub precision: Precision,
    pub seed: u64,
}

impl PretrainRecipe {
    pub fn batch_tokens(&self) -> usize {
        self.batch_tokens
            .unwrap_or(self.batch_size * self.max_length)
    }

    pub fn chunk_bp(&self) -> usize {
        self.chunk_bp.unwrap_or(5 * self.max_length)
    }

    /// The recipe of one process for `ranks` ranks given each this one's
    /// --batch-size (and --batch-tokens): the global batch is theirs summed,
    /// formed as one process forms it (so a run resumes on any rank count).
    pub fn for_ranks(mut self, ranks: usize) -> Self {
        self.batch_size *= ranks;
        self.batch_tokens = self.batch_tokens.map(|t| t * ranks);
        self
    }

    pub fn warmup(&self) -> u64 {
        self.warmup.unwrap_or(self.steps * 6 / 100)
    }

    /// Every number finite and in range, before any work starts.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |what: &str, why: String| Err(Error::Invalid(format!("pretraining: {what} {why}")));
        check_peak_lr(self.lr)?;
        if !(self.mlm_probability > 0.0 && self.mlm_probability < 1.0) {
            return bad(
                "--mlm-probability",
                format!(
                    "must be between 0 and 1 (exclusive), got {}",
                    self.mlm_probability
                ),
            );
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return bad(
                "--max-grad-norm",
                format!("must be >= 0 (0: no clipping), got {}", self.max_grad_norm),
            );
        }
        if let Some(p) = self.dropout {
            if !(0.0..1.0).contains(&p) {
                return bad("--dropout", format!("must be in [0, 1), got {p}"));
            }
        }
        for (what, zero) in [
            ("--steps", self.steps == 0),
            ("--max-length", self.max_length == 0),
            ("--batch-size", self.batch_size == 0),
            ("--batch-tokens", self.batch_tokens == Some(0)),
            ("--grad-accum", self.grad_accum == 0),
            ("--chunk-bp", self.chunk_bp == Some(0)),
            ("--eval-every", self.eval_every == 0),
            ("--save-every", self.save_every == 0),
            ("--keep-checkpoints", self.keep_checkpoints == 0),
        ] {
            if zero {
                return bad(what, "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The settings that shape the run; a resume must match them.
    pub fn settings(&self, cfg: &Config) -> serde_json::Value {
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
            // f16: mixed precision (and the final model stored in f16).
            "precision": self.precision.name(),
        })
    }
}

/// What a run starts from: a model and its tokenizer, and where a resumed
/// run continues.
pub struct PretrainStart {
    pub config: Config,
    pub config_json: String,
    pub tokenizer_json: String,
    pub weights: Weights,
    pub resume: Option<Resume>,
}

/// Where a resumed run continues from.
pub struct Resume {
    pub dir: PathBuf,
    pub state: TrainerState,
    pub optimizer: OptimizerState,
}

impl PretrainStart {
    /// The model folder of `tensors` with this run's config and tokenizer.
    fn folder<'a>(
        &'a self,
        tensors: &'a BTreeMap<String, HostTensor>,
        precision: Precision,
    ) -> ModelFolder<'a> {
        ModelFolder {
            config_json: &self.config_json,
            tokenizer: ("tokenizer.json", &self.tokenizer_json),
            tensors,
            precision,
        }
    }

    /// The newest whole checkpoint of the run folder `run`; `config`, when
    /// given, must describe the same model.
    pub fn resume(
        run: &Path,
        config: Option<&Path>,
        progress: &mut dyn RunProgress,
    ) -> Result<Self> {
        let (loaded, warnings) = checkpoint::load_latest(run)?;
        let Some(c) = loaded else {
            let why = if warnings.is_empty() {
                String::new()
            } else {
                format!(": {}", warnings.join("; "))
            };
            return Err(Error::Invalid(format!(
                "--resume: {} holds no intact checkpoint{why}. Start a new run in another folder",
                run.join("checkpoints").display()
            )));
        };
        for w in warnings {
            progress.note(&format!("warning: {w}"));
        }
        let config_of = c.dir.join("config.json").display().to_string();
        let saved = Config::from_json(&c.config_json, &config_of)?;
        if let Some(p) = config {
            let text =
                std::fs::read_to_string(p).map_err(io_error(format!("reading {}", p.display())))?;
            if Config::from_json(&text, &p.display().to_string())? != saved {
                return Err(Error::Invalid(format!(
                    "--resume: {} describes another model than the checkpoint {} (compare their config.json)",
                    p.display(),
                    c.dir.display()
                )));
            }
        }
        progress.note(&format!(
            "resuming from {} (step {})",
            c.dir.display(),
            c.state.step
        ));
        let Loaded {
            dir,
            state,
            weights,
            optimizer,
            config_json,
            tokenizer_json,
        } = c;
        Ok(Self {
            config: saved,
            config_json,
            tokenizer_json,
            weights,
            resume: Some(Resume {
                dir,
                state,
                optimizer,
            }),
        })
    }

    /// A new run in `run` from `src`, with the BPE tokenizer in `tokenizer`
    /// (else the model's own). Refuses a folder that already holds a run.
    pub fn fresh(run: &Path, src: ModelSource, tokenizer: Option<&Path>) -> Result<Self> {
        if run.join("checkpoints").is_dir() {
            return Err(Error::Invalid(format!(
                "{} already holds a run (checkpoints/): pass --resume to continue it, or choose another --output",
                run.display()
            )));
        }
        let tokenizer_json = match tokenizer {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(io_error(format!("reading {}", p.display())))?;
                let tok = BpeTokenizer::from_json(&text, &p.display().to_string())?;
                if tok.vocab_size() != src.config.vocab_size {
                    return Err(Error::Invalid(format!(
                        "{}: {} tokens, but the config's vocab_size is {}",
                        p.display(),
                        tok.vocab_size(),
                        src.config.vocab_size
                    )));
                }
                text
            }
            None if src.tokenizer.bpe().is_none() => {
                return Err(Error::Invalid(format!(
                    "{}: pretraining runs DNABERT-2-architecture models (BPE tokenizer.json); this model's tokenizer is a {}",
                    src.source,
                    src.tokenizer.file_name()
                )))
            }
            None => src.tokenizer_file,
        };
        Ok(Self {
            config: src.config,
            config_json: src.config_json,
            tokenizer_json,
            weights: src.weights,
            resume: None,
        })
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum PretrainEnd {
    /// Every step done; the run folder is the final model, with metrics.json.
    Done { metrics: serde_json::Value },
    /// Stopped when asked at `step`, after a checkpoint.
    Stopped { step: u64 },
}

impl PretrainEnd {
    /// The line that tells the user how the run in `output` ended: where
    /// its checkpoint or model is, and what it learned.
    pub fn summary(&self, output: &Path) -> String {
        match self {
            PretrainEnd::Stopped { step } => format!(
                "stopped at step {step}; checkpoint saved in {}; continue with the same command and --resume",
                output.join(format!("checkpoints/step-{step:08}")).display()
            ),
            PretrainEnd::Done { metrics } => {
                let v = match &metrics["validation"] {
                    serde_json::Value::Null => String::new(),
                    v => format!(
                        ", validation loss {:.4}, masked-token accuracy {:.2}%",
                        v["loss"].as_f64().unwrap_or(f64::NAN),
                        100.0 * v["accuracy"].as_f64().unwrap_or(f64::NAN)
                    ),
                };
                format!(
                    "done: {} steps, {} tokens in {:.0} s{v}; model in {}",
                    metrics["steps"],
                    metrics["tokens"],
                    metrics["seconds"].as_f64().unwrap_or(0.0),
                    output.display()
                )
            }
        }
    }
}

/// Batches of the held-out sequences, masked once with a fixed seed.
fn validation_batches(
    seqs: &[Vec<u32>],
    masking: &Masking,
    recipe: &PretrainRecipe,
) -> Vec<HostBatch> {
    seqs.chunks(recipe.batch_size)
        .enumerate()
        .map(|(i, c)| masking.collate(c, &mut Rng::new(derive_seed(recipe.seed, 4, i as u64))))
        .collect()
}

/// Runs (or continues) the pretraining of `start` in the folder `run`.
/// `stop` is checked after every step: once set, a checkpoint is written
/// and the run returns [`PretrainEnd::Stopped`]. With `dist`, as one rank
/// of a data-parallel job (`None`: one process): every rank trains on its
/// share of each global batch; rank 0 alone evaluates and writes files; a
/// stop seen by any rank stops all.
pub fn pretrain(
    dev: &Device,
    run: &Path,
    recipe: &PretrainRecipe,
    start: &PretrainStart,
    progress: &mut dyn RunProgress,
    stop: &AtomicBool,
    dist: Option<Arc<Distributed>>,
) -> Result<PretrainEnd> {
    recipe.validate()?;
    let root = dist.as_ref().is_none_or(|d| d.is_root());
    let stop_now = || match &dist {
        None => stop.load(Ordering::SeqCst),
        Some(d) => d.any(stop.load(Ordering::SeqCst)),
    };
    if root {
        std::fs::create_dir_all(run).map_err(io_error(format!("creating {}", run.display())))?;
    }
    // What writes of a killed earlier process left half done.
    for dir in [run.to_path_buf(), run.join("checkpoints")]
        .into_iter()
        .filter(|_| root)
    {
        for p in remove_stale_temps(&dir)? {
            progress.note(&format!(
                "removed {}, left by an earlier run killed while writing it",
                p.display()
            ));
        }
    }
    let cfg = &start.config;
    let settings = recipe.settings(cfg);
    if let Some(c) = &start.resume {
        checkpoint::check_settings(&c.state.settings, &settings)?;
    }
    let tokenizer = Arc::new(BpeTokenizer::from_json(
        &start.tokenizer_json,
        "tokenizer.json",
    )?);
    let masking = Masking {
        prob: recipe.mlm_probability,
        vocab: cfg.vocab_size as u32,
    };
    let stream_opts = StreamOptions {
        corpus: CorpusOptions {
            chunk_bp: recipe.chunk_bp(),
            min_bp: recipe.min_bp,
        },
        max_tokens: recipe.max_length,
        batch_tokens: recipe.batch_tokens(),
        batch_size: recipe.batch_size,
        shuffle_buffer: recipe.shuffle_buffer,
        val_sequences: recipe.val_sequences,
        seed: recipe.seed,
    };
    let (mut stream, val_seqs) = BatchStream::new(&recipe.data, stream_opts, tokenizer)?;
    let val = validation_batches(&val_seqs, &masking, recipe);
    let (top_acc, unigram) = majority_baseline(&val);
    if !val.is_empty() {
        progress.note(&format!(
            "validation: {} sequences; most frequent token {:.2}% accurate, label-frequency loss {unigram:.4}",
            val_seqs.len(),
            100.0 * top_acc,
        ));
    }

    let mut model = MlmModel::load(dev, cfg, &start.weights)?;
    if let Some(d) = &dist {
        pollster::block_on(d.check_same(dev, "weights", &model.params()))?;
    }
    let names = model.names();
    let mut optimizer = AdamW::new(dev, &names, &model.params(), recipe.adamw)?;
    let mut state = TrainerState {
        step: 0,
        batches: 0,
        epoch: 0,
        tokens: 0,
        elapsed_s: 0.0,
        settings: settings.clone(),
        loss_scale: None,
        skipped_steps: 0,
    };
    let mut kept_rows = Vec::new();
    if let Some(c) = &start.resume {
        let load = |map: &BTreeMap<String, HostTensor>| {
            names
                .iter()
                .map(|n| {
                    let t = map.get(n).ok_or_else(|| {
                        Error::Invalid(format!("{}: optimizer state has no `{n}`", c.dir.display()))
                    })?;
                    dev.tensor_f32(&t.shape, &t.data)
                })
                .collect::<Result<Vec<_>>>()
        };
        optimizer = optimizer.with_state(
            c.state.step as u32,
            load(&c.optimizer.m)?,
            load(&c.optimizer.v)?,
        );
        state = c.state.clone();
        state.settings = settings;
        stream.skip(state.batches)?;
        kept_rows = read_log(run, state.step);
    }
    // --precision f16: mixed precision where the device computes in half
    // precision (from the saved loss scale on resume); elsewhere f32.
    let half = super::mixed::applies(dev, recipe.precision);
    if recipe.precision == Precision::F16 {
        progress.note(&format!(
            "{}; the final model is stored in f16",
            super::mixed::note(dev)
        ));
    }
    let loss_scale = half.then(|| state.loss_scale.unwrap_or_default());
    let mut trainer = Trainer::new(
        model,
        optimizer,
        TrainOptions {
            schedule: Schedule {
                peak: recipe.lr,
                warmup: recipe.warmup(),
                total: recipe.steps,
                decay: recipe.decay,
            },
            max_grad_norm: recipe.max_grad_norm,
            dropout: recipe.dropout.unwrap_or(cfg.hidden_dropout_prob as f32),
            seed: recipe.seed,
        },
        loss_scale,
    );
    if let Some(d) = &dist {
        d.check_same_precision(half)?;
        trainer = trainer.distributed(d.clone());
    }
    let save = |trainer: &mut Trainer, state: &TrainerState, log: &RunLog| -> Result<()> {
        if !root {
            return Ok(());
        }
        let tensors = pollster::block_on(trainer.model.to_host(dev))?;
        let opt = OptimizerState {
            m: pollster::block_on(read_named(dev, &names, &trainer.optimizer.m))?,
            v: pollster::block_on(read_named(dev, &names, &trainer.optimizer.v))?,
        };
        checkpoint::save(
            run,
            &start.folder(&tensors, Precision::F32),
            &opt,
            state,
            recipe.keep_checkpoints,
        )?;
        log.plot()
    };

    if state.step >= recipe.steps {
        progress.note(&format!(
            "the run already has all its {} steps: writing its final files",
            recipe.steps
        ));
    } else {
        progress.note(&format!(
            "training steps {}..{} on {} (Ctrl-C saves a checkpoint and stops)",
            state.step + 1,
            recipe.steps,
            dev.name()
        ));
    }
    let mut log = match root {
        true => RunLog::start(run, kept_rows)?,
        false => RunLog::unwritten(kept_rows),
    };
    progress.start(recipe.steps, state.step);
    let began = Instant::now();
    let already = state.elapsed_s;
    let tokens_before = state.tokens;
    let mut last_saved = state.step;
    while state.step < recipe.steps {
        let micro = (0..recipe.grad_accum)
            .map(|_| stream.next_batch(&masking))
            .collect::<Result<Vec<_>>>()?;
        let stats = match pollster::block_on(trainer.train_step(dev, &micro)) {
            Ok(s) => s,
            Err(e) => {
                progress.finish();
                log.plot()?;
                let newest = match last_saved {
                    0 => "no checkpoint was written yet".to_string(),
                    _ => format!(
                        "the newest checkpoint in {} is the last good state",
                        run.join("checkpoints").display()
                    ),
                };
                return Err(Error::Invalid(format!("{e}. {newest}")));
            }
        };
        state.step = stats.step;
        state.batches = stream.batches;
        state.epoch = stream.epoch;
        state.tokens += stats.tokens;
        state.elapsed_s = already + began.elapsed().as_secs_f64();
        state.loss_scale = trainer.loss_scale;
        if let Some(scale) = stats.skipped_at_scale {
            state.skipped_steps += 1;
            progress.note(&format!(
                "step {}: gradients overflowed at loss scale {scale}: skipped, the scale halved ({} skipped so far)",
                stats.step + 1,
                state.skipped_steps
            ));
            if stop_now() {
                progress.finish();
                save(&mut trainer, &state, &log)?;
                return Ok(PretrainEnd::Stopped { step: state.step });
            }
            continue;
        }
        let val_now = root
            && !val.is_empty()
            && (state.step.is_multiple_of(recipe.eval_every) || state.step == recipe.steps);
        let val_stats = if val_now {
            Some(pollster::block_on(evaluate(dev, &trainer.model, &val))?)
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
        })?;
        let secs = began.elapsed().as_secs_f64().max(1e-9);
        let rate = (state.tokens - tokens_before) as f64 / secs;
        progress.step(state.step, stats.loss, Throughput::Tokens(rate));
        if let Some(v) = val_stats {
            progress.note(&format!(
                "step {}: loss {:.4}, {rate:.0} tokens/s, val loss {:.4} acc {:.1}%",
                state.step,
                stats.loss,
                v.loss,
                100.0 * v.accuracy
            ));
        }
        let stopping = stop_now();
        if state.step.is_multiple_of(recipe.save_every) || state.step == recipe.steps || stopping {
            save(&mut trainer, &state, &log)?;
            last_saved = state.step;
        }
        if stopping {
            progress.finish();
            return Ok(PretrainEnd::Stopped { step: state.step });
        }
    }
    progress.finish();
    if last_saved != state.step {
        save(&mut trainer, &state, &log)?;
    }
    if !root {
        return Ok(PretrainEnd::Done {
            metrics: json!({"steps": state.step, "rank": dist.as_ref().map(|d| d.rank())}),
        });
    }
    // The run folder itself is a model folder that `embed` loads.
    let tensors = pollster::block_on(trainer.model.to_host(dev))?;
    checkpoint::write_model_folder(run, &start.folder(&tensors, recipe.precision))?;
    let last_val = log.rows().iter().rev().find_map(|r| r.val);
    let metrics = json!({
        "steps": state.step,
        "epochs": state.epoch,
        "tokens": state.tokens,
        "seconds": state.elapsed_s,
        "final_train_loss": log.rows().last().map(|r| r.loss),
        "validation": last_val.map(|v| json!({"loss": v.loss, "accuracy": v.accuracy, "sequences": val_seqs.len()})),
        "baseline_most_frequent_token_accuracy": top_acc,
        "baseline_label_frequency_loss": unigram,
        "device": dev.name(),
    });
    let text = serde_json::to_string_pretty(&metrics)
        .map_err(|e| Error::Invalid(format!("metrics.json: {e}")))?;
    write_atomic(&run.join("metrics.json"), text.as_bytes())?;
    log.plot()?;
    Ok(PretrainEnd::Done { metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> PretrainRecipe {
        PretrainRecipe {
            data: vec![PathBuf::from("x.fa")],
            steps: 10,
            lr: 5e-4,
            warmup: None,
            decay: Decay::Linear,
            adamw: AdamWConfig::default(),
            max_grad_norm: 1.0,
            dropout: None,
            max_length: 128,
            batch_size: 32,
            batch_tokens: None,
            grad_accum: 1,
            chunk_bp: None,
            min_bp: 20,
            mlm_probability: 0.15,
            shuffle_buffer: 100,
            val_sequences: 8,
            eval_every: 5,
            save_every: 5,
            keep_checkpoints: 2,
            precision: Precision::F32,
            seed: 0,
        }
    }

    #[test]
    fn settings_out_of_range_are_named_before_any_work() {
        recipe().validate().unwrap();
        let with = |f: fn(&mut PretrainRecipe)| {
            let mut r = recipe();
            f(&mut r);
            r.validate().unwrap_err().to_string()
        };
        assert!(with(|r| r.mlm_probability = 1.5).contains("--mlm-probability"));
        assert!(with(|r| r.mlm_probability = 0.0).contains("--mlm-probability"));
        assert!(with(|r| r.mlm_probability = f64::NAN).contains("--mlm-probability"));
        assert!(with(|r| r.lr = f64::NAN).contains("learning rate"));
        assert!(with(|r| r.grad_accum = 0).contains("--grad-accum"));
        assert!(with(|r| r.batch_size = 0).contains("--batch-size"));
        assert!(with(|r| r.dropout = Some(1.0)).contains("--dropout"));
        assert!(with(|r| r.max_grad_norm = -1.0).contains("--max-grad-norm"));
    }
}
