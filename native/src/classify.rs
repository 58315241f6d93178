//! `dnagpu classify`: class probabilities per record from a model with a
//! sequence-classification head.

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::embed::{check_long_sequence, classify_stream, Chunking};
use dnagpu::export::PredictionWriter;
use dnagpu::metrics::RunningScores;

use crate::input::InputArgs;
use crate::model_arg::{AdapterRef, ModelArgs};
use crate::progress::Bar;
use crate::DeviceArgs;
use dnagpu::fs::check_output;

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

/// Reads the input twice (every record checked before any work, then
/// streamed a chunk at a time) and writes each record's probabilities as
/// they are done: memory stays bounded whatever the input's size.
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
    let input = args.input.scan()?;
    let scan = &input.summary;
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
    let (longest_at, longest_bp) = scan.longest;
    check_long_sequence(
        &loaded.config,
        &loaded.tokenizer,
        longest_at + 1,
        longest_bp,
        args.input.max_tokens,
    )?;
    let mut out = PredictionWriter::create(args.output.as_deref(), scan.labelled)?;
    let mut scores = RunningScores::default();
    let bar = Bar::new(scan.records as u64, "classifying");
    let t0 = std::time::Instant::now();
    let ran = pollster::block_on(classify_stream(
        &dev,
        &loaded.model,
        &loaded.tokenizer,
        input.records(&args.input)?,
        args.input.batching(),
        Chunking::bounded(scan.records),
        |record, e| {
            if scan.labelled {
                scores.add(record.label.as_deref().unwrap_or_default(), &e.values);
            }
            out.write(&record.id, &e.values, record.label.as_deref())
        },
        |p| bar.show(&p, t0),
    ))?;
    bar.finish();
    input.check_count(ran.sequences)?;
    eprintln!(
        "classified {} sequences with {} on {} in {:.2} s",
        ran.sequences,
        loaded.source,
        dev.name(),
        t0.elapsed().as_secs_f64()
    );
    if scan.labelled {
        let classes = scores.classes();
        match scores.finish()? {
            None => eprintln!(
                "(labels are not all class numbers 0..{}: no scores)",
                classes.max(1) - 1
            ),
            Some((n, m)) => eprintln!(
                "scores on {n} labelled sequences: MCC {:.6}, macro F1 {:.6}, accuracy {:.6}",
                m.mcc, m.f1_macro, m.accuracy
            ),
        }
    }
    out.finish()?;
    if let Some(p) = &args.output {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
