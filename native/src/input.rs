//! Options every command that reads sequences shares: the input, what to do
//! with invalid records, and how to batch.

use std::path::Path;

use anyhow::Result;
use dnagpu::data::{read_path, InvalidPolicy, ReadOutput};
use dnagpu::embed::Batching;

#[derive(clap::Args)]
pub struct InputArgs {
    /// FASTA (.fa/.fasta/.fna, optionally .gz), GUE-style CSV, or one sequence per line; `-` = stdin.
    #[arg(long, default_value = "-")]
    pub input: String,
    /// Drop records with invalid symbols (counted) instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Most sequences per batch.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    pub batch_size: usize,
    /// Most padded tokens per batch (batch x longest sequence); a longer
    /// sequence is refused (embed it with --window).
    #[arg(long, default_value_t = 16384, value_parser = at_least_one)]
    pub max_tokens: usize,
}

/// A count that must be at least 1 (a batch of 0 would loop or do nothing).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl InputArgs {
    /// Reads and validates the records; warnings go to stderr.
    pub fn read(&self) -> Result<ReadOutput> {
        let policy = if self.skip_invalid {
            InvalidPolicy::Skip
        } else {
            InvalidPolicy::Error
        };
        let input = read_path(&self.input, policy)?;
        for w in &input.warnings {
            eprintln!("warning: {w}");
        }
        Ok(input)
    }

    /// The input file, when it is one (not stdin): an output must not replace it.
    pub fn path(&self) -> Vec<&Path> {
        match self.input.as_str() {
            "-" => vec![],
            p => vec![Path::new(p)],
        }
    }

    pub fn batching(&self) -> Batching {
        Batching {
            batch_size: self.batch_size,
            max_tokens: self.max_tokens,
        }
    }
}
