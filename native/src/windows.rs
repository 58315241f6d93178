//! `dnagpu windows`: a genome cut into windows in shards, for embedding at
//! scale (workflows/embed-genome); the work is `dnagpu::data::windows`.

use std::path::PathBuf;

use anyhow::Result;
use dnagpu::data::windows::{plan, write_shards};
use dnagpu::data::{InvalidPolicy, StreamedInput};
use dnagpu::embed::Window;

use crate::input::at_least_one;

#[derive(clap::Args)]
pub struct WindowsArgs {
    /// The genome: FASTA (.fa/.fasta/.fna, optionally .gz); `-` = stdin.
    #[arg(long)]
    input: String,
    /// Bases per window (the last window of a record ends at its end).
    #[arg(long, value_parser = at_least_one)]
    window: usize,
    /// Bases between window starts (default: the window, no overlap).
    #[arg(long, value_parser = at_least_one)]
    stride: Option<usize>,
    /// Shard files to spread the windows over, in genome order.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    shards: usize,
    /// The folder for windows.bed and shard-0.fa … shard-{K-1}.fa (it must exist).
    #[arg(long)]
    output: PathBuf,
    /// Drop records with invalid symbols (counted) instead of stopping.
    #[arg(long)]
    skip_invalid: bool,
}

pub fn run(args: &WindowsArgs) -> Result<()> {
    let policy = if args.skip_invalid {
        InvalidPolicy::Skip
    } else {
        InvalidPolicy::Error
    };
    let window = Window {
        size: args.window,
        stride: args.stride.unwrap_or(args.window),
    }
    .check()?;
    let input = StreamedInput::open(&args.input)?;
    let summary = input.scan(policy, &mut |w| eprintln!("warning: {w}"))?;
    let inputs: Vec<&std::path::Path> = match args.input.as_str() {
        "-" => vec![],
        p => vec![std::path::Path::new(p)],
    };
    let plan = plan(
        &input,
        policy,
        &summary,
        window,
        args.shards,
        &args.output,
        &inputs,
    )?;
    let cut = write_shards(&input, policy, &summary, &plan, &args.output)?;
    eprintln!(
        "cut {} windows of {} bp (stride {}) from {} records ({} bp) into {} shard(s) ({}–{} windows each) in {}",
        cut.windows,
        window.size,
        window.stride,
        summary.records,
        summary.bases,
        args.shards,
        cut.per_shard.iter().min().unwrap_or(&0),
        cut.per_shard.iter().max().unwrap_or(&0),
        args.output.display()
    );
    Ok(())
}
