//! `dnagpu embed`: sequences in, one embedding per record out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use dnagpu::embed::{embed, EmbedOptions, Pooling};
use dnagpu::export;

use crate::input::InputArgs;
use crate::model_arg::ModelArgs;
use crate::progress::Bar;
use crate::DeviceArgs;
use dnagpu::fs::{check_output, write_atomic};

#[derive(clap::Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    /// .npy, .csv, .jsonl or .safetensors; JSON lines on stdout when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    /// mean (all tokens, as the model card), mean-nospecial, cls, max, pooler, or none (per token; .safetensors only).
    #[arg(long, default_value = "mean")]
    pooling: String,
    /// Hidden state to use: 0 = embedding output, L = last layer (default); negative counts from the end.
    #[arg(long, allow_negative_numbers = true)]
    layer: Option<isize>,
    /// Embed sequences longer than this many bases in windows and average
    /// the windows' pooled vectors (DNABERT's 512 positions hold 509 + k bp).
    #[arg(long)]
    window: Option<usize>,
    /// Bases between window starts (default: half the window).
    #[arg(long, requires = "window")]
    stride: Option<usize>,
}

enum Sink {
    Stdout,
    Npy(PathBuf),
    Csv(PathBuf),
    Jsonl(PathBuf),
    Safetensors(PathBuf),
}

fn sink(output: &Option<PathBuf>, pooling: Pooling, inputs: &[&Path]) -> Result<Sink> {
    let Some(p) = output else {
        if pooling == Pooling::None {
            bail!("--pooling none writes per-token states: give --output FILE.safetensors");
        }
        return Ok(Sink::Stdout);
    };
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let s = match ext.as_str() {
        "npy" => Sink::Npy(p.clone()),
        "csv" => Sink::Csv(p.clone()),
        "jsonl" | "json" => Sink::Jsonl(p.clone()),
        "safetensors" => Sink::Safetensors(p.clone()),
        _ => bail!(
            "{}: unknown output format; use .npy, .csv, .jsonl or .safetensors",
            p.display()
        ),
    };
    if pooling == Pooling::None && !matches!(s, Sink::Safetensors(_)) {
        bail!(
            "--pooling none writes per-token states: only .safetensors holds them ({} given)",
            p.display()
        );
    }
    check_output(p, inputs)?;
    Ok(s)
}

pub fn run(dev_args: &DeviceArgs, args: &EmbedArgs) -> Result<()> {
    let pooling: Pooling = args.pooling.parse()?;
    let sink = sink(&args.output, pooling, &args.input.path())?;
    let input = args.input.read()?;
    let dev = dev_args.device()?;
    let loaded = args.model.load(&dev)?;
    let opts = EmbedOptions {
        pooling,
        layer: args.layer,
        batching: args.input.batching(),
        window: args.window.map(|size| dnagpu::embed::Window {
            size,
            stride: args.stride.unwrap_or((size / 2).max(1)),
        }),
    };
    let seqs: Vec<&str> = input.records.iter().map(|r| r.seq.as_str()).collect();
    let bar = Bar::new(seqs.len() as u64, "embedding");
    let t0 = std::time::Instant::now();
    let out = pollster::block_on(embed(
        &dev,
        &loaded.model,
        &loaded.tokenizer,
        &seqs,
        &opts,
        |p| bar.show(&p, t0),
    ))?;
    bar.finish();
    let tokens: usize = out.iter().map(|e| e.input_ids.len()).sum();
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "embedded {} sequences ({tokens} tokens) with {} on {} in {secs:.2} s ({:.0} tokens/s)",
        out.len(),
        loaded.source,
        dev.name(),
        tokens as f64 / secs.max(1e-9)
    );
    let h = loaded.config.hidden_size;
    let ids: Vec<String> = input.records.iter().map(|r| r.id.clone()).collect();
    export::check_finite(&ids, out.iter().map(|e| e.values.as_slice()), "embedding")?;
    let flat = || -> Vec<f32> { out.iter().flat_map(|e| e.values.iter().copied()).collect() };
    match &sink {
        Sink::Stdout => print!("{}", export::jsonl(&ids, h, &flat())),
        Sink::Npy(p) => write_atomic(p, &export::npy_f32(&[ids.len(), h], &flat()))?,
        Sink::Csv(p) => write_atomic(p, export::csv(&ids, h, &flat())?.as_bytes())?,
        Sink::Jsonl(p) => write_atomic(p, export::jsonl(&ids, h, &flat()).as_bytes())?,
        Sink::Safetensors(p) if pooling == Pooling::None => {
            let recs: Vec<export::TokenStates> = ids
                .iter()
                .zip(&out)
                .map(|(id, e)| export::TokenStates {
                    id,
                    input_ids: &e.input_ids,
                    states: &e.values,
                })
                .collect();
            write_atomic(p, &export::safetensors_tokens(&recs, h)?)?
        }
        Sink::Safetensors(p) => write_atomic(p, &export::safetensors_pooled(&ids, h, &flat())?)?,
    }
    if let Some(p) = &args.output {
        eprintln!("wrote {}", Path::new(p).display());
    }
    Ok(())
}
