//! Options every command that reads sequences shares: the input, what to do
//! with invalid records, and how to batch.

use std::path::Path;

use anyhow::Result;
use dnagpu::data::{InvalidPolicy, Record, StreamedInput, Summary};
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
    fn policy(&self) -> InvalidPolicy {
        if self.skip_invalid {
            InvalidPolicy::Skip
        } else {
            InvalidPolicy::Error
        }
    }

    /// Opens the input and checks every record (the first of two passes:
    /// nothing is held but what the second pass needs); warnings go to
    /// stderr as they are found.
    pub fn scan(&self) -> Result<Scanned> {
        let input = StreamedInput::open(&self.input)?;
        let summary = input.scan(self.policy(), &mut |w| eprintln!("warning: {w}"))?;
        Ok(Scanned { input, summary })
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

/// An input checked by [`InputArgs::scan`], to be read again record by record.
pub struct Scanned {
    input: StreamedInput,
    pub summary: Summary,
}

impl Scanned {
    /// The records, one at a time, as the scan found them.
    pub fn records<'a>(
        &'a self,
        args: &InputArgs,
    ) -> Result<impl Iterator<Item = dnagpu::Result<Record>> + 'a> {
        Ok(self.input.records(args.policy(), &self.summary)?)
    }

    /// Fails when the second pass met another number of records than the
    /// first (the file changed meanwhile).
    pub fn check_count(&self, ran: usize) -> Result<()> {
        Ok(self.input.check_count(&self.summary, ran)?)
    }
}
