//! `dnagpu embed`: sequences in, one embedding per record out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use dnagpu::embed::{check_long_sequence, embed_stream, Chunking, EmbedOptions, Pooling};
use dnagpu::export::{EmbeddingWriter, OutputFormat};

use crate::input::InputArgs;
use crate::model_arg::ModelArgs;
use crate::progress::Bar;
use crate::DeviceArgs;
use dnagpu::fs::check_output;

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
    /// With --pooling none: one vector per base ([bases, H]) instead of per token: the mean of the tokens covering the base (k of them for overlapping k-mers).
    #[arg(long)]
    per_base: bool,
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

/// Reads the input twice (every record checked before any work, then
/// streamed a chunk at a time) and writes each embedding as it is done:
/// memory stays bounded whatever the input's size.
pub fn run(dev_args: &DeviceArgs, args: &EmbedArgs) -> Result<()> {
    let pooling: Pooling = args.pooling.parse()?;
    let format = OutputFormat::for_output(args.output.as_deref(), pooling)?;
    if let Some(p) = &args.output {
        check_output(p, &args.input.path())?;
    }
    let pooling = match (args.per_base, pooling) {
        (false, p) => p,
        (true, Pooling::None) => Pooling::PerBase,
        (true, _) => bail!("--per-base writes per-base states: give it with --pooling none"),
    };
    let input = args.input.scan()?;
    let scan = &input.summary;
    let dev = dev_args.device()?;
    let loaded = args.model.load(&dev)?;
    let window = args.window.map(|size| dnagpu::embed::Window {
        size,
        stride: args.stride.unwrap_or((size / 2).max(1)),
    });
    let opts = EmbedOptions {
        pooling,
        layer: args.layer,
        batching: args.input.batching(),
        window,
    };
    // The longest record (or window) is refused now if it would run for hours.
    let (longest_at, longest_bp) = scan.longest;
    check_long_sequence(
        &loaded.config,
        &loaded.tokenizer,
        longest_at + 1,
        window.map_or(longest_bp, |w| longest_bp.min(w.size)),
        args.input.max_tokens,
    )?;
    let h = loaded.config.hidden_size;
    let mut out = EmbeddingWriter::create(args.output.as_deref(), format, scan.records, h)?;
    let bar = Bar::new(scan.records as u64, "embedding");
    let t0 = std::time::Instant::now();
    let ran = pollster::block_on(embed_stream(
        &dev,
        &loaded.model,
        &loaded.tokenizer,
        input.records(&args.input)?,
        &opts,
        Chunking::bounded(scan.records),
        |record, e| out.write(&record.id, &e),
        |p| bar.show(&p, t0),
    ))?;
    bar.finish();
    input.check_count(ran.sequences)?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "embedded {} sequences ({} tokens) with {} on {} in {secs:.2} s ({:.0} tokens/s)",
        ran.sequences,
        ran.tokens,
        loaded.source,
        dev.name(),
        ran.tokens as f64 / secs.max(1e-9)
    );
    out.finish()?;
    if let Some(p) = &args.output {
        eprintln!("wrote {}", Path::new(p).display());
    }
    Ok(())
}
