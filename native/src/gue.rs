//! `dnagpu gue`: fine-tunes and evaluates on every GUE subset present
//! (`GUE/<task>/<subset>/{train,dev,test}.csv`), resumably, and writes
//! `results.csv`, `results.md` and a bar chart. `--baseline kmer` runs a
//! linear classifier on k-mer frequencies on the same splits instead.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dnagpu::baseline::kmer::{KmerBaseline, KmerOptions};
use dnagpu::data::{read_path, InvalidPolicy};
use serde_json::json;

use crate::finetune::{run_task, TuneOptions};
use crate::model_arg::ModelArgs;
use crate::output::write_atomic;
use crate::plot::bar_chart;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct GueArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The GUE folder (GUE/<task>/<subset>/{train,dev,test}.csv, plain or .gz).
    #[arg(long)]
    gue: PathBuf,
    /// Where each subset's run and the results tables go.
    #[arg(long)]
    output: PathBuf,
    /// Subsets to run, e.g. tf/0,mouse/2,prom/prom_core_all (default: all present).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// kmer: a linear classifier on 4-6-mer frequencies instead of the model.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
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

fn has(dir: &Path, name: &str) -> bool {
    dir.join(format!("{name}.csv")).is_file() || dir.join(format!("{name}.csv.gz")).is_file()
}

fn labelled(dir: &Path, name: &str) -> Result<Vec<(String, usize)>> {
    let path = [format!("{name}.csv"), format!("{name}.csv.gz")]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .with_context(|| format!("{}: no {name}.csv", dir.display()))?;
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
    let dev = if has(dir, "dev") {
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
    let (label, mode) = match args.baseline {
        Some(Baseline::Kmer) => ("kmer baseline".to_string(), "kmer"),
        None => (String::new(), args.opts.mode_name()),
    };
    let (dev, src) = match args.baseline {
        Some(_) => (None, None),
        None => (Some(device.device()?), Some(args.model.files()?)),
    };
    let model_name = src.as_ref().map_or(label, |s| s.source.clone());
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for task in &chosen {
        let dir = args.gue.join(task);
        if !has(&dir, "train") {
            skipped.push(format!("{task} (no train.csv)"));
            continue;
        }
        let out = args.output.join(mode).join(task.replace('/', "_"));
        let done = out.join("metrics.json");
        let metrics: serde_json::Value = if done.is_file() {
            eprintln!("{task}: done before, reusing {}", done.display());
            serde_json::from_str(&std::fs::read_to_string(&done)?)
                .with_context(|| format!("{}", done.display()))?
        } else {
            eprintln!("== {task}");
            let m = match (&dev, &src) {
                (Some(d), Some(s)) => run_task(d, s, &dir, &out, &args.opts)?,
                _ => {
                    std::fs::create_dir_all(&out)?;
                    let m = kmer_task(&dir)?;
                    write_atomic(&done, serde_json::to_string_pretty(&m)?.as_bytes())?;
                    m
                }
            };
            m
        };
        let t = &metrics["test"];
        rows.push((
            task.clone(),
            t["mcc"].as_f64().unwrap_or(f64::NAN),
            t["f1_macro"].as_f64().unwrap_or(f64::NAN),
            t["accuracy"].as_f64().unwrap_or(f64::NAN),
            metrics["train_seconds"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    let mut csv = String::from("model,mode,task,mcc,f1_macro,accuracy,train_seconds\n");
    let mut md = format!("# GUE results: {model_name} ({mode})\n\n| task | MCC | F1 (macro) | accuracy | train s |\n|---|---:|---:|---:|---:|\n");
    for (task, mcc, f1, acc, secs) in &rows {
        csv.push_str(&format!(
            "{},{mode},{task},{mcc:.6},{f1:.6},{acc:.6},{secs:.1}\n",
            dnagpu::export::csv_field(&model_name)
        ));
        md.push_str(&format!(
            "| {task} | {:.2} | {:.2} | {:.2} | {secs:.0} |\n",
            100.0 * mcc,
            100.0 * f1,
            100.0 * acc
        ));
    }
    let n = rows.len().max(1) as f64;
    let avg = |f: fn(&(String, f64, f64, f64, f64)) -> f64| rows.iter().map(f).sum::<f64>() / n;
    md.push_str(&format!(
        "| **average** | **{:.2}** | **{:.2}** | **{:.2}** | {:.0} |\n",
        100.0 * avg(|r| r.1),
        100.0 * avg(|r| r.2),
        100.0 * avg(|r| r.3),
        rows.iter().map(|r| r.4).sum::<f64>()
    ));
    md.push_str("\nMCC, F1 and accuracy in percent on each subset's test set.\n");
    if !skipped.is_empty() {
        md.push_str(&format!("\nSkipped: {}.\n", skipped.join(", ")));
        eprintln!("skipped: {}", skipped.join(", "));
    }
    write_atomic(&args.output.join("results.csv"), csv.as_bytes())?;
    write_atomic(&args.output.join("results.md"), md.as_bytes())?;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let chart = bar_chart(
        &format!("GUE test MCC: {model_name} ({mode})"),
        "MCC",
        &names,
        &[(mode.to_string(), rows.iter().map(|r| r.1).collect())],
    );
    write_atomic(&args.output.join("results.svg"), chart.as_bytes())?;
    print!("{md}");
    Ok(())
}
