//! `dnagpu finetune`: fine-tunes a sequence classifier on a GUE-style folder
//! (`train.csv`, `dev.csv`, `test.csv`, plain or .gz; `sequence,label`),
//! keeps the checkpoint with the lowest dev loss, and writes the model,
//! `metrics.json`, `predictions.csv` and plots into the output folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dnagpu::data::{read_path, InvalidPolicy};
use dnagpu::export::{predictions_csv, Precision};
use dnagpu::model::adapter::LoraConfig;
use dnagpu::model::lora::Lora;
use dnagpu::tokenize::Tokenizer;
use dnagpu::train::classify::ClsModel;
use dnagpu::train::finetune::{self, Evaluation, FineTuneOptions, FineTuner};
use dnagpu::train::labelled::{EpochBatches, LabelledSet};
use dnagpu::train::optimizer::AdamWConfig;
use dnagpu::train::schedule::{Decay, Schedule};
use serde_json::json;

use crate::checkpoint::{write_model_folder, ModelFolder};
use crate::model_arg::ModelArgs;
use crate::output::write_atomic;
use crate::plot::{confusion_matrix, line_chart, Series};
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct FinetuneArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A folder with train.csv, dev.csv and test.csv (or .csv.gz), columns sequence,label.
    #[arg(long)]
    data: PathBuf,
    /// Where the fine-tuned model, metrics.json, predictions.csv and plots go.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    opts: TuneOptions,
}

/// The fine-tuning recipe (shared with `dnagpu gue`).
#[derive(clap::Args, Clone)]
pub struct TuneOptions {
    /// lora: train LoRA adapters and the head, the encoder frozen (writes a PEFT adapter);
    /// full: train every parameter (the paper's recipe; writes a model folder).
    #[arg(long, value_enum, default_value = "lora")]
    mode: Mode,
    /// Peak learning rate; default 1e-3 for lora, 3e-5 (the paper's) for full.
    #[arg(long)]
    lr: Option<f64>,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    lora_r: usize,
    #[arg(long, default_value_t = 32.0)]
    lora_alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    lora_dropout: f64,
    /// Linear layers to adapt, comma-separated: DNABERT-2 any of Wqkv, dense,
    /// gated_layers, wo (default Wqkv); DNABERT any of query, key, value
    /// (default all three).
    #[arg(long, value_delimiter = ',')]
    lora_targets: Vec<String>,
    /// With --mode lora, also write the model with the adapter folded in (a plain model folder).
    #[arg(long)]
    merge: bool,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    #[arg(long, default_value_t = 50)]
    warmup: u64,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Evaluate on dev every N steps (and at the end); the lowest dev loss is kept.
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Passes over train.csv; default: the paper's for GUE task folders, else 3.
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many steps (whatever the epochs).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Longest input in tokens; default: the longest training sequence's.
    #[arg(long)]
    max_length: Option<usize>,
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    #[arg(long, default_value_t = 0)]
    train_seed: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Lora,
    Full,
}

impl TuneOptions {
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Lora => "lora",
            Mode::Full => "full",
        }
    }
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.csv"), format!("{name}.csv.gz")]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn load_split(path: &Path, tok: &Tokenizer, max_len: Option<usize>) -> Result<LabelledSet> {
    let out = read_path(&path.to_string_lossy(), InvalidPolicy::Error)?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    Ok(LabelledSet::from_records(
        out.records,
        tok,
        max_len,
        &path.display().to_string(),
    )?)
}

/// The paper's epochs per GUE task (model doc), from the folder's path.
fn paper_epochs(dir: &Path) -> usize {
    let p = dir.to_string_lossy().replace('\\', "/");
    let has = |s: &str| p.contains(s);
    if has("prom_core_tata") || has("prom_300_tata") {
        10
    } else if has("prom") {
        4
    } else if has("splice") || has("mouse") {
        5
    } else if has("covid") {
        8
    } else {
        3
    }
}

fn evaluate(
    dev: &dnagpu::Device,
    model: &ClsModel,
    s: &LabelledSet,
    batch: usize,
) -> Result<Evaluation> {
    Ok(pollster::block_on(finetune::evaluate(
        dev,
        model,
        s,
        batch,
        |_, _| {},
    ))?)
}

pub fn run(device: &DeviceArgs, args: &FinetuneArgs) -> Result<()> {
    let dev = device.device()?;
    let src = args.model.files()?;
    run_task(&dev, &src, &args.data, &args.output, &args.opts).map(|_| ())
}

/// Fine-tunes `src` on the folder `data` into `output`; returns metrics.json.
pub fn run_task(
    dev: &dnagpu::Device,
    src: &crate::model_arg::Source,
    data: &Path,
    output: &Path,
    args: &TuneOptions,
) -> Result<serde_json::Value> {
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let train_path = find(data, "train")
        .with_context(|| format!("{}: no train.csv or train.csv.gz", data.display()))?;
    let tok = &src.tokenizer;
    // Learned positions (DNABERT, NT v1) bound the length: longer sequences
    // are cut there (GUE's own limits are in DNABERT-2 BPE tokens).
    let positions = dnagpu::model::Encoder::max_positions_of(&src.config, &src.weights);
    let cap = match (args.max_length, positions) {
        (Some(m), Some(p)) => Some(m.min(p)),
        (m, p) => m.or(p),
    };
    let mut train = load_split(&train_path, tok, cap)?;
    // The training data's longest (cut at `cap`), unless given.
    let max_len = match (args.max_length, cap) {
        (Some(_), Some(c)) => c,
        _ => train.max_tokens(),
    };
    let classes = train.training_classes()?;
    let seen: std::collections::BTreeSet<u32> = train.labels.iter().copied().collect();
    let dev_split = find(data, "dev")
        .map(|p| load_split(&p, tok, Some(max_len)))
        .transpose()?;
    let test_split = find(data, "test")
        .map(|p| load_split(&p, tok, Some(max_len)))
        .transpose()?;
    for s in dev_split.iter().chain(&test_split) {
        s.check_classes(classes)?;
        let unseen = s.labels.iter().filter(|l| !seen.contains(l)).count();
        if unseen > 0 {
            eprintln!(
                "warning: {}: {unseen} sequences have classes never seen in training",
                s.origin
            );
        }
    }
    if let (Mode::Full, Precision::F16) = (&args.mode, src.precision) {
        anyhow::bail!(
            "--mode full trains the weights themselves, which needs them in f32: drop --precision f16, or fine-tune with --mode lora"
        );
    }
    let mut model = ClsModel::load_with(
        dev,
        &src.config,
        &src.weights,
        classes,
        args.train_seed,
        src.precision,
    )?;
    if let Mode::Lora = args.mode {
        let mut lcfg = LoraConfig::for_family(model.encoder.family);
        lcfg.r = args.lora_r;
        lcfg.alpha = args.lora_alpha;
        lcfg.dropout = args.lora_dropout;
        if !args.lora_targets.is_empty() {
            lcfg.target_modules = args.lora_targets.clone();
        }
        lcfg.base_model = Some(src.source.clone());
        model.lora = Some(Lora::fresh(dev, &model.encoder, lcfg, args.train_seed)?);
    }
    let lr = args.lr.unwrap_or(match args.mode {
        Mode::Lora => 1e-3,
        Mode::Full => 3e-5,
    });
    let epochs = args.epochs.unwrap_or_else(|| paper_epochs(data));
    let per_epoch = train.tokens.len().div_ceil(args.batch_size) as u64;
    let total = args
        .max_steps
        .unwrap_or(u64::MAX)
        .min(per_epoch * epochs as u64)
        .max(1);
    eprintln!(
        "{}: {} training sequences, {classes} classes, max length {max_len} tokens; {total} steps ({epochs} epochs of {per_epoch})",
        data.display(),
        train.tokens.len()
    );
    let attention_dropout = src.config.attention_probs_dropout_prob;
    if attention_dropout > 0.0 {
        // Said once, so that a run differing from transformers' is not a surprise.
        eprintln!(
            "note: the config's attention_probs_dropout_prob ({attention_dropout}) is not applied (dnagpu's attention has no dropout); hidden_dropout_prob ({}) is",
            src.config.hidden_dropout_prob
        );
    }
    let mut tuner = FineTuner::new(
        dev,
        model,
        AdamWConfig {
            weight_decay: args.weight_decay,
            ..AdamWConfig::default()
        },
        FineTuneOptions {
            schedule: Schedule {
                peak: lr,
                warmup: args.warmup,
                total,
                decay: Decay::Linear,
            },
            max_grad_norm: args.max_grad_norm,
            dropout: src.config.hidden_dropout_prob as f32,
            seed: args.train_seed,
        },
    )?;

    let started = Instant::now();
    let bar = crate::progress::TrainBar::new(total, 0);
    let mut batches = EpochBatches::new(train.len(), args.batch_size, args.train_seed);
    let mut curve: Vec<(u64, f64, Option<f64>)> = Vec::new();
    let mut best: Option<(f64, u64, Vec<Vec<f32>>)> = None;
    let mut samples = 0u64;
    // `total` is at most `epochs` passes: the loop ends there.
    loop {
        let chunk = batches.next_batch();
        let seqs: Vec<Vec<u32>> = chunk.iter().map(|&i| train.tokens[i].clone()).collect();
        let labels: Vec<u32> = chunk.iter().map(|&i| train.labels[i]).collect();
        let st = pollster::block_on(tuner.train_step(dev, &seqs, &labels))?;
        samples += seqs.len() as u64;
        let eval_now = st.step % args.eval_every.max(1) == 0 || st.step == total;
        let mut dev_loss = None;
        if eval_now {
            if let Some(d) = &dev_split {
                let e = evaluate(dev, &tuner.model, d, args.batch_size)?;
                let (m, loss) = (e.metrics, e.loss);
                dev_loss = Some(loss);
                bar.note(&format!(
                    "step {}: dev loss {loss:.4}, MCC {:.4}, accuracy {:.4}",
                    st.step, m.mcc, m.accuracy
                ));
                if best.as_ref().is_none_or(|b| loss < b.0) {
                    let params = tuner.model.trainable_params();
                    let host = params
                        .iter()
                        .map(|p| dev.read_f32_blocking(p))
                        .collect::<dnagpu::Result<Vec<_>>>()?;
                    best = Some((loss, st.step, host));
                }
            }
        }
        curve.push((st.step, st.loss, dev_loss));
        bar.update_fine(
            st.step,
            st.loss,
            samples as f64 / started.elapsed().as_secs_f64(),
        );
        if st.step >= total {
            break;
        }
    }
    bar.finish();
    let train_seconds = started.elapsed().as_secs_f64();
    let best_step = match best {
        Some((_, step, host)) => {
            let params = tuner
                .model
                .trainable_params()
                .iter()
                .zip(host)
                .map(|(p, h)| dev.tensor_f32(p.shape(), &h))
                .collect::<dnagpu::Result<Vec<_>>>()?;
            tuner.model.set_trainable(params)?;
            step
        }
        None => tuner.step(),
    };

    let mode = match args.mode {
        Mode::Lora => "lora",
        Mode::Full => "full",
    };
    let mut metrics = json!({"mode": mode, "lr": lr, "best_step": best_step, "steps": tuner.step(), "train_seconds": train_seconds,
        "samples_per_s": samples as f64 / train_seconds, "max_length": max_len, "classes": classes, "device": dev.name()});
    let mut test_conf = None;
    for (name, split) in [("dev", &dev_split), ("test", &test_split)] {
        let Some(s) = split else { continue };
        let Evaluation {
            probs,
            metrics: m,
            loss,
            confusion: conf,
        } = evaluate(dev, &tuner.model, s, args.batch_size)?;
        metrics[name] =
            json!({"mcc": m.mcc, "f1_macro": m.f1_macro, "accuracy": m.accuracy, "loss": loss});
        if name == "test" {
            let labels: Vec<String> = s.labels.iter().map(u32::to_string).collect();
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            write_atomic(
                &output.join("predictions.csv"),
                predictions_csv(&s.ids, &probs, Some(&refs))?.as_bytes(),
            )?;
            test_conf = Some(conf);
        }
    }
    train.tokens.clear();

    // LoRA: a PEFT adapter (and with --merge the merged model); full: the
    // model. Either way `classify` loads the result.
    let mut model_tensors = None;
    if tuner.model.lora.is_some() {
        let adapter = pollster::block_on(tuner.model.to_adapter(dev))?;
        adapter.save(output)?;
        if args.merge {
            let mut map = src.weights.take_all();
            adapter.merge(&mut map)?;
            model_tensors = Some(map);
        }
    } else {
        model_tensors = Some(pollster::block_on(tuner.model.to_host(dev))?);
    }
    if let Some(tensors) = model_tensors {
        let mut cfg: serde_json::Value =
            serde_json::from_str(&src.config_json).context("config.json")?;
        cfg["num_labels"] = json!(classes);
        cfg["id2label"] = json!((0..classes)
            .map(|c| (c.to_string(), json!(format!("LABEL_{c}"))))
            .collect::<serde_json::Map<_, _>>());
        cfg["label2id"] = json!((0..classes)
            .map(|c| (format!("LABEL_{c}"), json!(c)))
            .collect::<serde_json::Map<_, _>>());
        write_model_folder(
            output,
            &ModelFolder {
                config_json: &serde_json::to_string_pretty(&cfg)?,
                tokenizer: (src.tokenizer.file_name(), &src.tokenizer_file),
                tensors: &tensors,
                precision: Precision::F32,
            },
        )?;
    }
    write_atomic(
        &output.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    let train_curve = Series {
        name: "training loss".into(),
        points: curve.iter().map(|c| (c.0 as f64, c.1)).collect(),
        color: "#1f77b4",
        dots: false,
    };
    let dev_curve = Series {
        name: "dev loss".into(),
        points: curve
            .iter()
            .filter_map(|c| c.2.map(|d| (c.0 as f64, d)))
            .collect(),
        color: "#d62728",
        dots: true,
    };
    write_atomic(
        &output.join("dev_curve.svg"),
        line_chart(
            "Fine-tuning",
            "step",
            "cross-entropy",
            &[train_curve, dev_curve],
        )
        .as_bytes(),
    )?;
    if let Some(conf) = test_conf {
        write_atomic(
            &output.join("confusion_matrix.svg"),
            confusion_matrix("Test set", &conf).as_bytes(),
        )?;
    }
    let test = &metrics["test"];
    eprintln!(
        "done in {train_seconds:.0} s (best dev loss at step {best_step}); test MCC {}, F1 {}, accuracy {}; wrote {}",
        test["mcc"], test["f1_macro"], test["accuracy"], output.display()
    );
    Ok(metrics)
}
