//! A whole fine-tuning run on a GUE-style folder (`train.csv`, `dev.csv`,
//! `test.csv`, plain or .gz; `sequence,label`): the recipe's steps, dev
//! evaluation every `eval_every` steps keeping the parameters with the
//! lowest dev loss, then the model (LoRA: a PEFT adapter), `metrics.json`,
//! `predictions.csv` and plots written into the output folder. Asked to
//! stop, it writes the model kept so far and a metrics.json marked
//! `"interrupted"` instead. The CLI's `finetune` and `gue` are this with a
//! progress bar and signal handlers that set the `stop` flag.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::checkpoint::{write_model_folder, ModelFolder};
use super::classify::ClsModel;
use super::distributed::Distributed;
use super::finetune::{evaluate, Evaluation};
use super::labelled::{EpochBatches, LabelledSet};
use super::progress::{RunProgress, Throughput};
use super::recipe::{task_epochs, FineTuneRecipe, TuneMode};
use crate::data::{read_path, InvalidPolicy};
use crate::error::{Error, Result};
use crate::export::{predictions_csv, Precision};
use crate::fs::{io_error, remove_stale_temps, write_atomic};
use crate::model::lora::Lora;
use crate::model::source::ModelSource;
use crate::plot::{confusion_matrix, line_chart, Series};
use crate::tokenize::Tokenizer;
use crate::Device;

/// `train`, `dev` or `test` in the task folder `dir`: `<name>.csv` or
/// `<name>.csv.gz`.
pub fn split_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.csv"), format!("{name}.csv.gz")]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn load_split(
    path: &Path,
    tok: &Tokenizer,
    max_len: Option<usize>,
    progress: &mut dyn RunProgress,
) -> Result<LabelledSet> {
    let out = read_path(&path.to_string_lossy(), InvalidPolicy::Error)?;
    for w in &out.warnings {
        progress.note(&format!("warning: {w}"));
    }
    LabelledSet::from_records(out.records, tok, max_len, &path.display().to_string())
}

fn eval(dev: &Device, model: &ClsModel, s: &LabelledSet, batch: usize) -> Result<Evaluation> {
    pollster::block_on(evaluate(dev, model, s, batch, |_, _| {}))
}

/// How a fine-tuning run ended; either way `metrics` is what it wrote as
/// metrics.json.
#[derive(Clone, Debug, PartialEq)]
pub enum FineTuneEnd {
    /// Every step done, evaluated on dev and test.
    Done { metrics: serde_json::Value },
    /// Stopped when asked, before its last step: the output holds the model
    /// with the lowest dev loss so far (without dev.csv or before the first
    /// evaluation, the last step's), and metrics.json says `"interrupted":
    /// true` (with `steps`, `total_steps`, `best_step`, `best_dev_loss`);
    /// nothing is evaluated on test.
    Stopped { metrics: serde_json::Value },
}

impl FineTuneEnd {
    /// The line that tells the user how the run into `output` ended: what
    /// was kept and where, and the test scores when it finished.
    pub fn summary(&self, output: &Path) -> String {
        let metrics = match self {
            FineTuneEnd::Done { metrics } => metrics,
            FineTuneEnd::Stopped { metrics } => {
                let kept = match metrics["best_dev_loss"].as_f64() {
                    Some(loss) => format!(
                        "the model with the lowest dev loss so far (step {}, dev loss {loss:.4})",
                        metrics["best_step"]
                    ),
                    None => format!(
                        "the model after step {} (no dev evaluation yet)",
                        metrics["best_step"]
                    ),
                };
                return format!(
                    "stopped at step {} of {}: wrote {kept} to {}, with metrics.json marked \"interrupted\" (no test evaluation)",
                    metrics["steps"],
                    metrics["total_steps"],
                    output.display()
                );
            }
        };
        let test = &metrics["test"];
        let best = match metrics.get("dev") {
            Some(_) => format!("best dev loss at step {}", metrics["best_step"]),
            None => format!("no dev.csv: the model after step {}", metrics["steps"]),
        };
        format!(
            "done in {:.0} s ({best}); test MCC {}, F1 {}, accuracy {}; wrote {}",
            metrics["train_seconds"].as_f64().unwrap_or(0.0),
            test["mcc"],
            test["f1_macro"],
            test["accuracy"],
            output.display()
        )
    }
}

/// Fine-tunes `src` on the folder `data` by `recipe` into `output`; with
/// `merge` (LoRA), also writes the model with the adapter folded in.
/// `stop` is checked after every step: once set, the run writes what it
/// has and returns [`FineTuneEnd::Stopped`]. With `dist`, as one rank of a
/// data-parallel job (`None`: one process): every rank trains on its share
/// of each global batch; rank 0 alone evaluates and writes files; a stop
/// seen by any rank stops all.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    dev: &Device,
    src: &ModelSource,
    data: &Path,
    output: &Path,
    recipe: &FineTuneRecipe,
    merge: bool,
    progress: &mut dyn RunProgress,
    stop: &AtomicBool,
    dist: Option<Arc<Distributed>>,
) -> Result<FineTuneEnd> {
    recipe.validate()?;
    let root = dist.as_ref().is_none_or(|d| d.is_root());
    let stop_now = || match &dist {
        None => stop.load(Ordering::SeqCst),
        Some(d) => d.any(stop.load(Ordering::SeqCst)),
    };
    if root {
        std::fs::create_dir_all(output)
            .map_err(io_error(format!("creating {}", output.display())))?;
    }
    // What writes of a killed earlier run left half done.
    for p in root
        .then(|| remove_stale_temps(output))
        .transpose()?
        .unwrap_or_default()
    {
        progress.note(&format!(
            "removed {}, left by an earlier run killed while writing it",
            p.display()
        ));
    }
    let train_path = split_file(data, "train").ok_or_else(|| {
        Error::Invalid(format!("{}: no train.csv or train.csv.gz", data.display()))
    })?;
    let tok = &src.tokenizer;
    // Learned positions (DNABERT, NT v1) bound the length: longer sequences
    // are cut there (GUE's own limits are in DNABERT-2 BPE tokens).
    let positions = crate::model::Encoder::max_positions_of(&src.config, &src.weights);
    let cap = match (recipe.max_length, positions) {
        (Some(m), Some(p)) => Some(m.min(p)),
        (m, p) => m.or(p),
    };
    let mut train = load_split(&train_path, tok, cap, progress)?;
    // The training data's longest (cut at `cap`), unless given.
    let max_len = match (recipe.max_length, cap) {
        (Some(_), Some(c)) => c,
        _ => train.max_tokens(),
    };
    let classes = train.training_classes()?;
    let seen: std::collections::BTreeSet<u32> = train.labels.iter().copied().collect();
    let mut split = |name| {
        split_file(data, name)
            .map(|p| load_split(&p, tok, Some(max_len), progress))
            .transpose()
    };
    let dev_split = split("dev")?;
    let test_split = split("test")?;
    for s in dev_split.iter().chain(&test_split) {
        s.check_classes(classes)?;
        let unseen = s.labels.iter().filter(|l| !seen.contains(l)).count();
        if unseen > 0 {
            progress.note(&format!(
                "warning: {}: {unseen} sequences have classes never seen in training",
                s.origin
            ));
        }
    }
    // --precision f16: mixed precision where the device computes in half
    // precision (full training keeps f32 masters and makes f16 copies each
    // step; LoRA leaves the base weights in f16 and computes with f16
    // copies of its adapters), with loss scaling; else f32 arithmetic (LoRA
    // beside f16 weights, full training in f32).
    let mixed = super::mixed::applies(dev, src.precision);
    if src.precision == Precision::F16 {
        let lora_f32 = recipe.mode == TuneMode::Lora && !mixed;
        progress.note(&format!(
            "{}{}",
            super::mixed::note(dev),
            if lora_f32 {
                "; LoRA trains beside the f16 weights"
            } else {
                ""
            }
        ));
    }
    let load_precision = match recipe.mode {
        TuneMode::Full => Precision::F32,
        TuneMode::Lora => src.precision,
    };
    let mut model = ClsModel::load_with(
        dev,
        &src.config,
        &src.weights,
        classes,
        recipe.seed,
        load_precision,
    )?;
    if recipe.mode == TuneMode::Lora {
        let mut lcfg = recipe.lora_config(model.encoder.family);
        lcfg.base_model = Some(src.source.clone());
        model.lora = Some(Lora::fresh(dev, &model.encoder, lcfg, recipe.seed)?);
    }
    let epochs = recipe.epochs.unwrap_or_else(|| task_epochs(data));
    let total = recipe.total_steps(train.len(), epochs);
    progress.note(&format!(
        "{}: {} training sequences, {classes} classes, max length {max_len} tokens; {total} steps ({epochs} epochs of {})",
        data.display(),
        train.len(),
        train.len().div_ceil(recipe.batch_size)
    ));
    let attention_dropout = src.config.attention_probs_dropout_prob;
    if attention_dropout > 0.0 {
        // Said once, so that a run differing from transformers' is not a surprise.
        progress.note(&format!(
            "note: the config's attention_probs_dropout_prob ({attention_dropout}) is not applied (dnagpu's attention has no dropout); hidden_dropout_prob ({}) is",
            src.config.hidden_dropout_prob
        ));
    }
    let mut tuner = recipe.tuner(dev, model, total, src.config.hidden_dropout_prob as f32)?;
    if mixed {
        tuner = tuner.mixed_precision();
    }
    if let Some(d) = &dist {
        let params = tuner.model.trainable_params();
        pollster::block_on(d.check_same(dev, "weights", &params))?;
        d.check_same_precision(mixed)?;
        tuner = tuner.distributed(d.clone());
    }

    let started = Instant::now();
    progress.start(total, 0);
    let mut batches = EpochBatches::new(train.len(), recipe.batch_size, recipe.seed);
    let mut curve: Vec<(u64, f64, Option<f64>)> = Vec::new();
    let mut best: Option<(f64, u64, Vec<Vec<f32>>)> = None;
    let mut samples = 0u64;
    let mut interrupted = false;
    // `total` is at most `epochs` passes (plus any steps skipped in mixed
    // precision): the loop ends there.
    loop {
        let chunk = batches.next_batch();
        let seqs: Vec<Vec<u32>> = chunk.iter().map(|&i| train.tokens[i].clone()).collect();
        let labels: Vec<u32> = chunk.iter().map(|&i| train.labels[i]).collect();
        let st = pollster::block_on(tuner.train_step(dev, &seqs, &labels))?;
        samples += seqs.len() as u64;
        if let Some(scale) = st.skipped_at_scale {
            progress.note(&format!(
                "step {}: gradients overflowed at loss scale {scale}: skipped, the scale halved",
                st.step + 1
            ));
            if stop_now() {
                interrupted = true;
                break;
            }
            continue;
        }
        let mut dev_loss = None;
        if root && (st.step % recipe.eval_every == 0 || st.step == total) {
            if let Some(d) = &dev_split {
                let e = eval(dev, &tuner.model, d, recipe.batch_size)?;
                let (m, loss) = (e.metrics, e.loss);
                dev_loss = Some(loss);
                progress.note(&format!(
                    "step {}: dev loss {loss:.4}, MCC {:.4}, accuracy {:.4}",
                    st.step, m.mcc, m.accuracy
                ));
                if best.as_ref().is_none_or(|b| loss < b.0) {
                    let host = tuner
                        .model
                        .trainable_params()
                        .iter()
                        .map(|p| dev.read_f32_blocking(p))
                        .collect::<Result<Vec<_>>>()?;
                    best = Some((loss, st.step, host));
                }
            }
        }
        curve.push((st.step, st.loss, dev_loss));
        let rate = samples as f64 / started.elapsed().as_secs_f64();
        progress.step(st.step, st.loss, Throughput::Samples(rate));
        if st.step >= total {
            break;
        }
        if stop_now() {
            interrupted = true;
            break;
        }
    }
    progress.finish();
    if !root {
        let metrics = json!({"steps": tuner.step(), "rank": dist.as_ref().map(|d| d.rank())});
        return Ok(match interrupted {
            true => FineTuneEnd::Stopped { metrics },
            false => FineTuneEnd::Done { metrics },
        });
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let (best_step, best_dev_loss) = match best {
        Some((loss, step, host)) => {
            let params = tuner
                .model
                .trainable_params()
                .iter()
                .zip(host)
                .map(|(p, h)| dev.tensor_f32(p.shape(), &h))
                .collect::<Result<Vec<_>>>()?;
            tuner.model.set_trainable(params)?;
            (step, Some(loss))
        }
        None => (tuner.step(), None),
    };

    let mut metrics = json!({"mode": recipe.mode.name(), "lr": recipe.peak_lr(), "best_step": best_step,
        "steps": tuner.step(), "train_seconds": train_seconds, "samples_per_s": samples as f64 / train_seconds,
        "max_length": max_len, "classes": classes, "device": dev.name()});
    if interrupted {
        metrics["interrupted"] = json!(true);
        metrics["total_steps"] = json!(total);
        metrics["best_dev_loss"] = json!(best_dev_loss);
        write_model(dev, src, &mut tuner.model, classes, output, merge)?;
        write_atomic(&output.join("dev_curve.svg"), dev_curve(&curve).as_bytes())?;
        write_metrics(output, &metrics)?;
        return Ok(FineTuneEnd::Stopped { metrics });
    }
    let mut test_conf = None;
    for (name, split) in [("dev", &dev_split), ("test", &test_split)] {
        let Some(s) = split else { continue };
        let Evaluation {
            probs,
            metrics: m,
            loss,
            confusion: conf,
        } = eval(dev, &tuner.model, s, recipe.batch_size)?;
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

    write_model(dev, src, &mut tuner.model, classes, output, merge)?;
    write_metrics(output, &metrics)?;
    write_atomic(&output.join("dev_curve.svg"), dev_curve(&curve).as_bytes())?;
    if let Some(conf) = test_conf {
        write_atomic(
            &output.join("confusion_matrix.svg"),
            confusion_matrix("Test set", &conf).as_bytes(),
        )?;
    }
    Ok(FineTuneEnd::Done { metrics })
}

fn write_metrics(output: &Path, metrics: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(metrics)
        .map_err(|e| Error::Invalid(format!("metrics.json: {e}")))?;
    write_atomic(&output.join("metrics.json"), text.as_bytes())
}

/// LoRA: a PEFT adapter (and with `merge` the merged model); full: the
/// model. Either way `classify` loads the result.
fn write_model(
    dev: &Device,
    src: &ModelSource,
    model: &mut ClsModel,
    classes: usize,
    output: &Path,
    merge: bool,
) -> Result<()> {
    let mut tensors = None;
    if model.lora.is_some() {
        let adapter = pollster::block_on(model.to_adapter(dev))?;
        adapter.save(output)?;
        if merge {
            let mut map = src.weights.take_all()?;
            adapter.merge(&mut map)?;
            tensors = Some(map);
        }
    } else {
        tensors = Some(pollster::block_on(model.to_host(dev))?);
    }
    let Some(tensors) = tensors else {
        return Ok(());
    };
    let bad_config = |e: serde_json::Error| Error::Invalid(format!("config.json: {e}"));
    let mut cfg: serde_json::Value = serde_json::from_str(&src.config_json).map_err(bad_config)?;
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
            config_json: &serde_json::to_string_pretty(&cfg).map_err(bad_config)?,
            tokenizer: (src.tokenizer.file_name(), &src.tokenizer_file),
            tensors: &tensors,
            precision: Precision::F32,
        },
    )
}

/// The training loss per step and the dev loss at each evaluation.
fn dev_curve(curve: &[(u64, f64, Option<f64>)]) -> String {
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
    line_chart(
        "Fine-tuning",
        "step",
        "cross-entropy",
        &[train_curve, dev_curve],
    )
}
