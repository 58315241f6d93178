//! `dnagpu bench vep`: variant-scoring throughput of `dnagpu vep` on a
//! random-init model (default: the DNABERT-2-117M architecture, DNABERT-2's
//! tokenizer): random SNVs on a random chromosome, each scored as `vep`
//! does (four windows, a masked and a plain pass), windows of many variants
//! batched together. Reports variants/s and the encoder's tokens/s.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use dnagpu::data::regions::fetch;
use dnagpu::data::vcf::Vcf;
use dnagpu::embed::Batching;
use dnagpu::model::{init, Model};
use dnagpu::rng::Rng;
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::vep::{self, Mismatch, Scorer};

use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct VepBench {
    /// Model config (default: DNABERT-2-117M), with DNABERT-2's tokenizer.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SNVs to score (after one warm-up variant).
    #[arg(long, default_value_t = 64)]
    variants: usize,
    /// Bases on each side of the variant.
    #[arg(long, default_value_t = 256)]
    flank: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A random chromosome and a VCF of `n` SNVs spread over it, `flank` apart
/// at least from its ends.
fn inputs(n: usize, flank: usize, rng: &mut Rng) -> Result<(String, Vcf)> {
    let len = (n + 1) * (flank + 16) + 2 * flank;
    let chrom: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
    let mut fasta = String::from(">chr1\n");
    for line in chrom.chunks(60) {
        fasta.push_str(std::str::from_utf8(line)?);
        fasta.push('\n');
    }
    let mut vcf = String::from("#CHROM\tPOS\tID\tREF\tALT\n");
    for i in 0..n {
        let p = flank + i * (len - 2 * flank) / n.max(1);
        let r = chrom[p];
        let alt = b"ACGT"
            [(b"ACGT".iter().position(|&b| b == r).unwrap_or(0) + 1 + rng.below(3) as usize) % 4];
        vcf.push_str(&format!(
            "chr1\t{}\tv{i}\t{}\t{}\n",
            p + 1,
            r as char,
            alt as char
        ));
    }
    Ok((fasta, Vcf::parse(vcf.as_bytes(), "bench.vcf")?))
}

pub fn run(dev_args: &DeviceArgs, a: &VepBench) -> Result<()> {
    if a.variants == 0 || a.batch == 0 {
        bail!("--variants and --batch must be at least 1");
    }
    let config = crate::bench::config_of(&a.config)?;
    let tokenizer: Tokenizer = BpeTokenizer::dnabert2().into();
    if tokenizer.vocab_size() != config.vocab_size {
        bail!(
            "the config's vocab_size {} is not DNABERT-2's tokenizer's {}",
            config.vocab_size,
            tokenizer.vocab_size()
        );
    }
    let dev = dev_args.device()?;
    let model = Model::load(&dev, &config, &init::random_weights(&config, 0))?;
    let scorer = Scorer {
        model: &model,
        mask_id: tokenizer.mask_id().unwrap_or(4),
        classifier: None,
    };
    let batching = Batching {
        batch_size: a.batch,
        ..Batching::default()
    };
    let mut rng = Rng::new(17);
    let (fasta, vcf) = inputs(a.variants + 1, a.flank, &mut rng)?;

    let t0 = Instant::now();
    let got = fetch(fasta.as_bytes(), "bench.fa", &vep::regions(&vcf, a.flank))?;
    let plan = vep::plan(&vcf, &got, "bench.fa", a.flank, Mismatch::Error)?;
    let tokens = vep::tokenize(&vcf, &plan.alleles, &tokenizer, None, a.flank)?;
    let prepare = t0.elapsed().as_secs_f64();
    // The first variant warms up (pipelines, weights); the rest are timed.
    let (warm, timed) = tokens.split_at(1);
    pollster::block_on(vep::score(&dev, &scorer, warm, batching, |_| {}))?;
    let t1 = Instant::now();
    pollster::block_on(vep::score(&dev, &scorer, timed, batching, |_| {}))?;
    let secs = t1.elapsed().as_secs_f64();

    let encoder_tokens: usize = 2 * timed
        .iter()
        .flat_map(|t| t.all())
        .map(|w| w.ids.len())
        .sum::<usize>();
    let n = timed.len();
    let peak = crate::bench::peak_bytes(&dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64);
    println!("device: {}", dev.name());
    println!(
        "model: {} layers, hidden {}, {} heads (random init, DNABERT-2 tokenizer); flank {}, batch {} windows",
        config.num_hidden_layers, config.hidden_size, config.num_attention_heads, a.flank, a.batch
    );
    println!(
        "{:>9} {:>8} {:>10} {:>11} {:>12} {:>10} {:>10}",
        "variants", "windows", "seconds", "variants/s", "tokens/s", "prepare s", "peak MiB"
    );
    println!(
        "{n:>9} {:>8} {secs:>10.3} {:>11.2} {:>12.0} {prepare:>10.3} {peak:>10.0}",
        4 * n,
        n as f64 / secs,
        encoder_tokens as f64 / secs
    );
    if let Some(p) = &a.json {
        let doc = serde_json::json!({
            "device": dev.name(), "backend": dev.backend(),
            "config": {"layers": config.num_hidden_layers, "hidden": config.hidden_size, "heads": config.num_attention_heads},
            "flank": a.flank, "batch": a.batch, "variants": n, "windows": 4 * n, "encoder_tokens": encoder_tokens,
            "seconds": secs, "variants_per_s": n as f64 / secs, "tokens_per_s": encoder_tokens as f64 / secs,
            "prepare_seconds": prepare, "peak_mib": peak,
        });
        dnagpu::fs::write_atomic(p, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    }
    Ok(())
}
