//! `dnagpu classify`: class probabilities per record from a model with a
//! sequence-classification head.

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::embed::classify;
use dnagpu::export;
use dnagpu::metrics::Metrics;
use dnagpu::train::finetune::confusion_of;

use crate::input::InputArgs;
use crate::model_arg::{AdapterRef, ModelArgs};
use crate::progress::Bar;
use crate::DeviceArgs;
use dnagpu::fs::{check_output, write_atomic};

#[derive(clap::Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    /// A .csv file; CSV on stdout when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    /// A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors), e.g. from `dnagpu finetune`.
    #[arg(long)]
    adapter: Option<PathBuf>,
}

pub fn run(dev_args: &DeviceArgs, args: &ClassifyArgs) -> Result<()> {
    if let Some(p) = &args.output {
        if !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            bail!(
                "{}: classify writes CSV; name the output FILE.csv",
                p.display()
            );
        }
        check_output(p, &args.input.path())?;
    }
    let input = args.input.read()?;
    let dev = dev_args.device()?;
    let adapter = match &args.adapter {
        Some(a) => Some(AdapterRef::Dir(a)),
        // The shipped model has no classifier of its own: it classifies
        // with its demo adapter (promoter or not).
        None if args.model.is_default() => {
            eprintln!("no --model: the shipped model with its demo adapter (promoter = 1, GUE prom_core_all)");
            Some(AdapterRef::Shipped)
        }
        None => None,
    };
    let loaded = match adapter {
        Some(a) => args.model.load_with_adapter(&dev, a)?,
        None => args.model.load(&dev)?,
    };
    if loaded.model.classifier.is_none() {
        bail!("{}: this model has no classification head (bert.pooler.dense + classifier weights): classify needs a fine-tuned model", loaded.source);
    }
    let seqs: Vec<&str> = input.records.iter().map(|r| r.seq.as_str()).collect();
    let bar = Bar::new(seqs.len() as u64, "classifying");
    let t0 = std::time::Instant::now();
    let batching = args.input.batching();
    let out = pollster::block_on(classify(
        &dev,
        &loaded.model,
        &loaded.tokenizer,
        &seqs,
        batching,
        |p| bar.show(&p, t0),
    ))?;
    bar.finish();
    eprintln!(
        "classified {} sequences with {} on {} in {:.2} s",
        out.len(),
        loaded.source,
        dev.name(),
        t0.elapsed().as_secs_f64()
    );
    let ids: Vec<String> = input.records.iter().map(|r| r.id.clone()).collect();
    let probs: Vec<Vec<f32>> = out.into_iter().map(|e| e.values).collect();
    export::check_finite(&ids, probs.iter().map(Vec::as_slice), "class probabilities")?;
    let labels: Option<Vec<&str>> = input.records.iter().all(|r| r.label.is_some()).then(|| {
        input
            .records
            .iter()
            .map(|r| r.label.as_deref().unwrap_or(""))
            .collect()
    });
    if let Some(labels) = &labels {
        report_scores(labels, &probs)?;
    }
    let text = export::predictions_csv(&ids, &probs, labels.as_deref())?;
    match &args.output {
        Some(p) => {
            write_atomic(p, text.as_bytes())?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// With class-number labels (a GUE `test.csv`), prints the scores
/// `dnagpu finetune` reports, so a file can be scored without re-training.
fn report_scores(labels: &[&str], probs: &[Vec<f32>]) -> Result<()> {
    let classes = probs.first().map_or(0, Vec::len);
    let truth: Option<Vec<usize>> = labels
        .iter()
        .map(|l| l.trim().parse::<usize>().ok().filter(|&c| c < classes))
        .collect();
    let Some(truth) = truth else {
        eprintln!(
            "(labels are not all class numbers 0..{}: no scores)",
            classes.max(1) - 1
        );
        return Ok(());
    };
    let m = Metrics::of(&confusion_of(probs, &truth, classes)?);
    eprintln!(
        "scores on {} labelled sequences: MCC {:.6}, macro F1 {:.6}, accuracy {:.6}",
        truth.len(),
        m.mcc,
        m.f1_macro,
        m.accuracy
    );
    Ok(())
}
