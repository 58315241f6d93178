//! Options every command that reads sequences shares: the input, what to do
//! with invalid records, and how to batch.

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
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Most padded tokens per batch (batch x longest sequence).
    #[arg(long, default_value_t = 16384)]
    pub max_tokens: usize,
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

    pub fn batching(&self) -> Batching {
        Batching {
            batch_size: self.batch_size,
            max_tokens: self.max_tokens,
        }
    }
}
