//! `dnagpu gue`: fine-tunes and evaluates on every GUE subset present
//! (`GUE/<task>/<subset>/{train,dev,test}.csv`), resumably, and writes
//! `results.csv`, `results.md` and a bar chart. `--baseline kmer` runs a
//! linear classifier on k-mer frequencies on the same splits instead. The
//! comparison's parts (subsets, the baseline, reuse, the tables) are the
//! library's (`dnagpu::train::gue`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use dnagpu::train::finetune_run::{split_file, FineTuneEnd};
use dnagpu::train::gue::{choose, finished, kmer_task, slug, subsets, Row, RunResult};

use crate::finetune::{run_task, TuneOptions};
use crate::interrupt::Interrupt;
use crate::model_arg::ModelArgs;
use crate::DeviceArgs;
use dnagpu::fs::write_atomic;

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

pub fn run(device: &DeviceArgs, args: &GueArgs) -> Result<()> {
    let recipe = args.opts.recipe()?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let all = subsets(&args.gue).with_context(|| format!("reading {}", args.gue.display()))?;
    let chosen = choose(&args.gue, &all, &args.tasks)?;
    // What runs: each model (the shipped one when none is named and no
    // baseline is asked for alone), then the baseline.
    let run = |model: Option<PathBuf>, random_init: Option<PathBuf>, seed| {
        Some(ModelArgs {
            model,
            random_init,
            seed,
            precision: args.precision,
        })
    };
    let mut runs: Vec<Option<ModelArgs>> = Vec::new();
    if args.random_init.is_some() {
        runs.push(run(None, args.random_init.clone(), args.seed));
    }
    for m in &args.models {
        runs.push(run(Some(m.clone()), None, 0));
    }
    if runs.is_empty() && args.baseline.is_none() {
        runs.push(run(None, None, 0));
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
                            match run_task(
                                d,
                                s,
                                &dir,
                                &out,
                                &recipe,
                                args.opts.merge,
                                &interrupt,
                                None,
                            )
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
            rows.push(Row::of(task, &metrics));
        }
        results.push(RunResult { name, mode, rows });
    }
    if !skipped.is_empty() {
        eprintln!("skipped: {}", skipped.join(", "));
    }
    let md = dnagpu::train::gue::write_results(&args.output, &results, &skipped)?;
    print!("{md}");
    Ok(())
}
