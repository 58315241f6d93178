//! `dnagpu gue`: fine-tunes and evaluates on every GUE subset present
//! (`GUE/<task>/<subset>/{train,dev,test}.csv`), resumably, and writes
//! `results.csv`, `results.md` and a bar chart. `--baseline kmer` runs a
//! linear classifier on k-mer frequencies on the same splits instead.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dnagpu::baseline::kmer::{KmerBaseline, KmerOptions};
use dnagpu::data::{read_path, InvalidPolicy};
use dnagpu::train::finetune_run::{split_file, FineTuneEnd};
use serde_json::json;

use crate::finetune::{run_task, TuneOptions};
use crate::interrupt::Interrupt;
use crate::model_arg::ModelArgs;
use crate::DeviceArgs;
use dnagpu::fs::write_atomic;
use dnagpu::plot::bar_chart;

#[derive(clap::Args)]
pub struct GueArgs {
    /// A model to fine-tune and evaluate (folder or hub id); repeat it to
    /// compare several in one table and chart. Default: the shipped model.
    #[arg(long = "model")]
    models: Vec<PathBuf>,
    /// Build a randomly initialised model from this config.json instead (tests).
    #[arg(long, conflicts_with = "models")]
    random_init: Option<PathBuf>,
    /// Seed for --random-init.
    #[arg(long, default_value_t = 0, requires = "random_init")]
    seed: u64,
    /// The GUE folder (GUE/<task>/<subset>/{train,dev,test}.csv, plain or .gz).
    #[arg(long)]
    gue: PathBuf,
    /// Where each subset's run and the results tables go.
    #[arg(long)]
    output: PathBuf,
    /// Subsets to run, e.g. tf/0,mouse/2,prom/prom_core_all (default: all present).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// kmer: a linear classifier on 4-6-mer frequencies on the same splits;
    /// alone, or as one more row beside the --model runs.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// The models' weight matrices as f32 or f16 (see `finetune --precision`).
    #[arg(long, default_value = "f32", value_parser = crate::model_arg::parse_precision)]
    precision: dnagpu::model::Precision,
    #[command(flatten)]
    opts: TuneOptions,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Baseline {
    Kmer,
}

/// Every `<task>/<subset>` folder with a test file, sorted.
fn subsets(gue: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(gue).with_context(|| format!("reading {}", gue.display()))? {
        let task = task?.path();
        if !task.is_dir() {
            continue;
        }
        for sub in std::fs::read_dir(&task)? {
            let sub = sub?.path();
            if sub.join("test.csv").is_file() || sub.join("test.csv.gz").is_file() {
                let rel = sub
                    .strip_prefix(gue)
                    .unwrap_or(&sub)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn labelled(dir: &Path, name: &str) -> Result<Vec<(String, usize)>> {
    let path =
        split_file(dir, name).with_context(|| format!("{}: no {name}.csv", dir.display()))?;
    let out = read_path(&path.to_string_lossy(), InvalidPolicy::Error)?;
    out.records
        .into_iter()
        .map(|r| {
            let l = r.label.as_deref().unwrap_or("").trim().to_string();
            let c = l.parse::<usize>().with_context(|| {
                format!(
                    "{}:{}: label `{l}` is not a class number",
                    path.display(),
                    r.line
                )
            })?;
            Ok((r.seq, c))
        })
        .collect()
}

fn kmer_task(dir: &Path) -> Result<serde_json::Value> {
    let start = Instant::now();
    let train = labelled(dir, "train")?;
    let dev = if split_file(dir, "dev").is_some() {
        Some(labelled(dir, "dev")?)
    } else {
        None
    };
    let test = labelled(dir, "test")?;
    let classes = train.iter().chain(&test).map(|x| x.1).max().unwrap_or(0) + 1;
    let model = KmerBaseline::train(&train, dev.as_deref(), classes, &KmerOptions::default())?;
    let train_seconds = start.elapsed().as_secs_f64();
    let m = model.evaluate(&test)?;
    Ok(json!({"mode": "kmer", "train_seconds": train_seconds,
        "test": {"mcc": m.mcc, "f1_macro": m.f1_macro, "accuracy": m.accuracy}}))
}

pub fn run(device: &DeviceArgs, args: &GueArgs) -> Result<()> {
    let recipe = args.opts.recipe()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let all = subsets(&args.gue)?;
    if all.is_empty() {
        anyhow::bail!(
            "{}: no GUE subsets (expected <task>/<subset>/test.csv)",
            args.gue.display()
        );
    }
    let chosen: Vec<String> = if args.tasks.is_empty() {
        all.clone()
    } else {
        for t in &args.tasks {
            if !all.contains(t) {
                anyhow::bail!(
                    "--tasks {t}: no such subset in {} (present: {})",
                    args.gue.display(),
                    all.join(", ")
                );
            }
        }
        args.tasks.clone()
    };
    // What runs: each model (the shipped one when none is named and no
    // baseline is asked for alone), then the baseline.
    let mut runs: Vec<Option<ModelArgs>> = Vec::new();
    if args.random_init.is_some() {
        runs.push(Some(ModelArgs {
            model: None,
            random_init: args.random_init.clone(),
            seed: args.seed,
            precision: args.precision,
        }));
    }
    for m in &args.models {
        runs.push(Some(ModelArgs {
            model: Some(m.clone()),
            random_init: None,
            seed: 0,
            precision: args.precision,
        }));
    }
    if runs.is_empty() && args.baseline.is_none() {
        runs.push(Some(ModelArgs {
            model: None,
            random_init: None,
            seed: 0,
            precision: args.precision,
        }));
    }
    if args.baseline.is_some() {
        runs.push(None);
    }
    // One run keeps the layout of earlier versions (output/<mode>/<task>);
    // several get a folder each.
    let several = runs.len() > 1;
    let dev = if runs.iter().any(Option::is_some) {
        Some(device.device()?)
    } else {
        None
    };
    let interrupt = Interrupt::install("saving the current task's model so far")?;
    let mut results: Vec<RunResult> = Vec::new();
    let mut skipped = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (name, mode, src) = match run {
            Some(m) => {
                let src = m.files()?;
                (src.source.clone(), args.opts.mode_name(), Some(src))
            }
            None => ("kmer baseline".to_string(), "kmer", None),
        };
        let root = if several {
            args.output.join(format!("{}-{}", i + 1, slug(&name)))
        } else {
            args.output.clone()
        };
        eprintln!("=== {name} ({mode})");
        let mut rows = Vec::new();
        for task in &chosen {
            let dir = args.gue.join(task);
            if split_file(&dir, "train").is_none() {
                if i == 0 {
                    skipped.push(format!("{task} (no train.csv)"));
                }
                continue;
            }
            let out = root.join(mode).join(task.replace('/', "_"));
            let done = out.join("metrics.json");
            let metrics = match finished(&done)? {
                Some(m) => {
                    eprintln!("{task}: done before, reusing {}", done.display());
                    m
                }
                None => {
                    eprintln!("== {task}");
                    let m = match (&dev, &src) {
                        (Some(d), Some(s)) => {
                            match run_task(d, s, &dir, &out, &recipe, args.opts.merge, &interrupt)
                                .with_context(|| format!("{name}, {task}"))?
                            {
                                FineTuneEnd::Done { metrics }
                                | FineTuneEnd::Stopped { metrics } => metrics,
                            }
                        }
                        _ => {
                            std::fs::create_dir_all(&out)?;
                            let m = kmer_task(&dir)?;
                            write_atomic(&done, serde_json::to_string_pretty(&m)?.as_bytes())?;
                            m
                        }
                    };
                    // A signal stops the comparison between tasks (or, with a
                    // model, mid-task: that task starts over next time).
                    if let Some(code) = interrupt.exit_code() {
                        eprintln!(
                            "stopped: run the same command again to go on (finished tasks are reused)"
                        );
                        std::process::exit(code);
                    }
                    m
                }
            };
            let t = &metrics["test"];
            rows.push(Row {
                task: task.clone(),
                mcc: t["mcc"].as_f64().unwrap_or(f64::NAN),
                f1: t["f1_macro"].as_f64().unwrap_or(f64::NAN),
                acc: t["accuracy"].as_f64().unwrap_or(f64::NAN),
                secs: metrics["train_seconds"].as_f64().unwrap_or(f64::NAN),
            });
        }
        results.push(RunResult { name, mode, rows });
    }
    write_results(&args.output, &results, &skipped)
}

/// The metrics.json of a task finished before; `None` when there is none, or
/// when that run was interrupted (it is run again).
fn finished(done: &Path) -> Result<Option<serde_json::Value>> {
    if !done.is_file() {
        return Ok(None);
    }
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(done)?)
        .with_context(|| format!("{}", done.display()))?;
    Ok((m["interrupted"] != json!(true)).then_some(m))
}

/// A folder-name-safe form of a model's name.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The end of a path names the model best: keep the last 60 characters.
    let kept: Vec<char> = s.trim_matches('_').chars().collect();
    kept[kept.len().saturating_sub(60)..].iter().collect()
}

struct Row {
    task: String,
    mcc: f64,
    f1: f64,
    acc: f64,
    secs: f64,
}

struct RunResult {
    name: String,
    mode: &'static str,
    rows: Vec<Row>,
}

/// `results.csv` (every run's rows), `results.md` (a table per run, and a
/// comparison of test MCC when several ran) and `results.svg` (MCC per
/// task, a bar per run).
fn write_results(output: &Path, results: &[RunResult], skipped: &[String]) -> Result<()> {
    let mut csv = dnagpu::export::CsvText::new();
    csv.row([
        "model",
        "mode",
        "task",
        "mcc",
        "f1_macro",
        "accuracy",
        "train_seconds",
    ])?;
    let mut md = String::new();
    let avg = |rows: &[Row], f: fn(&Row) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    if results.len() > 1 {
        md.push_str("# GUE results: test MCC / accuracy (%)\n\n| task |");
        for r in results {
            md.push_str(&format!(" {} ({}) |", r.name, r.mode));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(results.len()));
        md.push('\n');
        for (i, row) in results[0].rows.iter().enumerate() {
            md.push_str(&format!("| {} |", row.task));
            for r in results {
                match r.rows.get(i) {
                    Some(x) => {
                        md.push_str(&format!(" {:.2} / {:.2} |", 100.0 * x.mcc, 100.0 * x.acc))
                    }
                    None => md.push_str(" — |"),
                }
            }
            md.push('\n');
        }
        md.push_str("| **average** |");
        for r in results {
            md.push_str(&format!(
                " **{:.2}** / {:.2} |",
                100.0 * avg(&r.rows, |x| x.mcc),
                100.0 * avg(&r.rows, |x| x.acc)
            ));
        }
        md.push_str("\n\n");
    }
    for r in results {
        md.push_str(&format!(
            "# GUE results: {} ({})\n\n| task | MCC | F1 (macro) | accuracy | train s |\n|---|---:|---:|---:|---:|\n",
            r.name, r.mode
        ));
        for x in &r.rows {
            csv.row([
                r.name.clone(),
                r.mode.to_string(),
                x.task.clone(),
                format!("{:.6}", x.mcc),
                format!("{:.6}", x.f1),
                format!("{:.6}", x.acc),
                format!("{:.1}", x.secs),
            ])?;
            md.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.0} |\n",
                x.task,
                100.0 * x.mcc,
                100.0 * x.f1,
                100.0 * x.acc,
                x.secs
            ));
        }
        md.push_str(&format!(
            "| **average** | **{:.2}** | **{:.2}** | **{:.2}** | {:.0} |\n\n",
            100.0 * avg(&r.rows, |x| x.mcc),
            100.0 * avg(&r.rows, |x| x.f1),
            100.0 * avg(&r.rows, |x| x.acc),
            r.rows.iter().map(|x| x.secs).sum::<f64>()
        ));
    }
    md.push_str("MCC, F1 and accuracy in percent on each subset's test set.\n");
    if !skipped.is_empty() {
        md.push_str(&format!("\nSkipped: {}.\n", skipped.join(", ")));
        eprintln!("skipped: {}", skipped.join(", "));
    }
    write_atomic(&output.join("results.csv"), csv.finish()?.as_bytes())?;
    write_atomic(&output.join("results.md"), md.as_bytes())?;
    let names: Vec<String> = results
        .first()
        .map(|r| r.rows.iter().map(|x| x.task.clone()).collect())
        .unwrap_or_default();
    let series: Vec<(String, Vec<f64>)> = results
        .iter()
        .map(|r| {
            (
                format!("{} ({})", r.name, r.mode),
                r.rows.iter().map(|x| x.mcc).collect(),
            )
        })
        .collect();
    let title = match results {
        [one] => format!("GUE test MCC: {} ({})", one.name, one.mode),
        _ => "GUE test MCC".to_string(),
    };
    let chart = bar_chart(&title, "MCC", &names, &series);
    write_atomic(&output.join("results.svg"), chart.as_bytes())?;
    print!("{md}");
    Ok(())
}
