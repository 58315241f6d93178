//! `dnagpu tokenizer ...`: tokenizer tools. `train` learns a BPE vocabulary
//! with DNABERT-2's layout from FASTA files (see `dnagpu::tokenize::train`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
use dnagpu::data::FastaSequences;
use dnagpu::tokenize::train::{
    train_bpe_with_progress, TrainOptions, TrainProgress, MIN_VOCAB_SIZE,
};
use indicatif::{ProgressBar, ProgressStyle};

use dnagpu::fs::{check_output, write_atomic};

#[derive(clap::Args)]
pub struct TokenizerArgs {
    #[command(subcommand)]
    command: TokenizerCommand,
}

#[derive(Subcommand)]
enum TokenizerCommand {
    /// Learn a BPE tokenizer (DNABERT-2 layout: [UNK] [CLS] [SEP] [PAD] [MASK] A C G T first)
    /// from FASTA files.
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// FASTA files (.fa/.fasta/.fna, gzip recognised by content; `-` = stdin).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<String>,
    /// Tokens in the vocabulary, the 5 special tokens and 4 bases included.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(MIN_VOCAB_SIZE as i64..))]
    vocab_size: u32,
    /// Where to write tokenizer.json (replaced only once training succeeded).
    #[arg(long)]
    output: PathBuf,
    /// Pairs seen fewer times are never merged.
    #[arg(long, default_value_t = 2)]
    min_frequency: u64,
    /// Longest piece of sequence the trainer sees as one word; sequences are
    /// also split at N and the other IUPAC ambiguity codes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1000..=10_000))]
    chunk_bp: u32,
    /// Stop reading after this many sequences (records).
    #[arg(long, value_parser = parse_count)]
    max_sequences: Option<u64>,
    /// Stop reading after this many bases, e.g. 50000000 or 50M (the trainer
    /// needs about 60 bytes of memory per base).
    #[arg(long, value_parser = parse_count)]
    max_bp: Option<u64>,
}

pub fn run(args: &TokenizerArgs) -> Result<()> {
    match &args.command {
        TokenizerCommand::Train(args) => train(args),
    }
}

fn train(args: &TrainArgs) -> Result<()> {
    let inputs: Vec<&std::path::Path> = args
        .data
        .iter()
        .filter(|d| d.as_str() != "-")
        .map(std::path::Path::new)
        .collect();
    check_output(&args.output, &inputs)?;
    let sequences = FastaSequences::open(&args.data)?;
    let opts = TrainOptions {
        vocab_size: args.vocab_size as usize,
        min_frequency: args.min_frequency,
        chunk_bp: args.chunk_bp as usize,
        max_sequences: args.max_sequences,
        max_bp: args.max_bp,
    };
    let t0 = Instant::now();
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").expect("valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
    let show = |p: TrainProgress| match p {
        TrainProgress::Reading(s) => spinner.set_message(format!(
            "reading: {} sequences, {} ({}/s)",
            s.sequences,
            bp(s.bp),
            bp((s.bp as f64 / t0.elapsed().as_secs_f64().max(1e-9)) as u64)
        )),
        TrainProgress::Merging(s) => spinner.set_message(format!(
            "learning up to {} tokens from {} in {} pieces",
            opts.vocab_size,
            bp(s.bp),
            s.chunks
        )),
    };
    let result = train_bpe_with_progress(sequences, &opts, &show);
    spinner.finish_and_clear();
    let trained = result?;
    if trained.vocab_size < opts.vocab_size {
        eprintln!(
            "warning: learned {} tokens, not {}: no pair of tokens is left that occurs at least \
             {} times in the sample (more data or a lower --min-frequency gives more)",
            trained.vocab_size,
            opts.vocab_size,
            opts.min_frequency.max(1)
        );
    }
    write_atomic(&args.output, trained.json.as_bytes())?;
    let s = trained.sample;
    eprintln!(
        "learned {} tokens ({} merges) from {} sequences, {} ({} ambiguous symbols skipped) in {:.1} s; wrote {}",
        trained.vocab_size,
        trained.merges,
        s.sequences,
        bp(s.bp),
        s.ambiguous,
        t0.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

/// A base count for people: `812 bp`, `1.23 Mbp`.
fn bp(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} bp"),
        1_000..1_000_000 => format!("{:.2} kbp", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} Mbp", n as f64 / 1e6),
        _ => format!("{:.2} Gbp", n as f64 / 1e9),
    }
}

/// A positive count, optionally with a k, M or G suffix (powers of 1000).
fn parse_count(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1_000),
        Some((i, 'm' | 'M')) => (&t[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&t[..i], 1_000_000_000),
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a count (e.g. 5000000 or 5M)"))?;
    match n.checked_mul(scale) {
        Some(0) => Err("must be at least 1".to_owned()),
        Some(v) => Ok(v),
        None => Err(format!("{text:?} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes() {
        assert_eq!(parse_count("5000"), Ok(5000));
        assert_eq!(parse_count("50M"), Ok(50_000_000));
        assert_eq!(parse_count("2k"), Ok(2000));
        assert_eq!(parse_count("1G"), Ok(1_000_000_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("1.5M").is_err());
        assert!(parse_count("M").is_err());
        assert_eq!(bp(812), "812 bp");
        assert_eq!(bp(1_234_567), "1.23 Mbp");
    }
}
