//! A comparison on GUE (`GUE/<task>/<subset>/{train,dev,test}.csv`): the
//! subsets present and chosen, each run's folder name, the k-mer baseline
//! on one subset, which subsets a run finished before (reused), and the
//! tables and chart of the results. The CLI's `gue` runs the fine-tuning
//! itself ([`super::finetune_run`]) between these, with progress and signals.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use super::finetune_run::split_file;
use crate::baseline::kmer::{KmerBaseline, KmerOptions};
use crate::data::{read_path, InvalidPolicy};
use crate::export::CsvText;
use crate::fs::write_atomic;
use crate::plot::bar_chart;
use crate::{Error, Result};

/// Every `<task>/<subset>` folder with a test file, sorted.
pub fn subsets(gue: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(gue)? {
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

/// The subsets to run: `asked` (each must be present), or all of `present`
/// when none is asked for.
pub fn choose(gue: &Path, present: &[String], asked: &[String]) -> Result<Vec<String>> {
    if present.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no GUE subsets (expected <task>/<subset>/test.csv)",
            gue.display()
        )));
    }
    if asked.is_empty() {
        return Ok(present.to_vec());
    }
    for t in asked {
        if !present.contains(t) {
            return Err(Error::Invalid(format!(
                "--tasks {t}: no such subset in {} (present: {})",
                gue.display(),
                present.join(", ")
            )));
        }
    }
    Ok(asked.to_vec())
}

fn labelled(dir: &Path, name: &str) -> Result<Vec<(String, usize)>> {
    let path = split_file(dir, name)
        .ok_or_else(|| Error::Invalid(format!("{}: no {name}.csv", dir.display())))?;
    let out = read_path(&path.to_string_lossy(), InvalidPolicy::Error)?;
    out.records
        .into_iter()
        .map(|r| {
            let l = r.label.as_deref().unwrap_or("").trim().to_string();
            let c = l.parse::<usize>().map_err(|e| {
                Error::Invalid(format!(
                    "{}:{}: label `{l}` is not a class number ({e})",
                    path.display(),
                    r.line
                ))
            })?;
            Ok((r.seq, c))
        })
        .collect()
}

/// The k-mer baseline trained on the subset in `dir` (dev, when present,
/// picks its regularisation) and scored on its test set: metrics.json's
/// content.
pub fn kmer_task(dir: &Path) -> Result<Value> {
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

/// The metrics.json of a task finished before; `None` when there is none, or
/// when that run was interrupted (it is run again).
pub fn finished(done: &Path) -> Result<Option<Value>> {
    if !done.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(done)
        .map_err(|e| Error::Invalid(format!("reading {}: {e}", done.display())))?;
    let m: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", done.display())))?;
    Ok((m["interrupted"] != json!(true)).then_some(m))
}

/// A folder-name-safe form of a model's name.
pub fn slug(name: &str) -> String {
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

/// One subset's test scores and training time.
pub struct Row {
    pub task: String,
    pub mcc: f64,
    pub f1: f64,
    pub acc: f64,
    pub secs: f64,
}

impl Row {
    /// The row of `task` from its metrics.json (NaN where a number is missing).
    pub fn of(task: &str, metrics: &Value) -> Self {
        let t = &metrics["test"];
        Row {
            task: task.to_string(),
            mcc: t["mcc"].as_f64().unwrap_or(f64::NAN),
            f1: t["f1_macro"].as_f64().unwrap_or(f64::NAN),
            acc: t["accuracy"].as_f64().unwrap_or(f64::NAN),
            secs: metrics["train_seconds"].as_f64().unwrap_or(f64::NAN),
        }
    }
}

/// One model's (or the baseline's) rows.
pub struct RunResult {
    pub name: String,
    pub mode: &'static str,
    pub rows: Vec<Row>,
}

/// Writes `results.csv` (every run's rows), `results.md` (a table per run,
/// and a comparison of test MCC when several ran) and `results.svg` (MCC
/// per task, a bar per run) into `output`; returns results.md's text.
pub fn write_results(output: &Path, results: &[RunResult], skipped: &[String]) -> Result<String> {
    let mut csv = CsvText::new();
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
    Ok(md)
}
