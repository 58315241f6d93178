//! Variant-scoring throughput of `dnagpu vep` on a random-init model
//! (DNABERT-2's tokenizer): random SNVs on a random chromosome, each scored
//! as `vep` does (four windows, a masked and a plain pass), windows of many
//! variants batched together.

use std::time::Instant;

use serde::Serialize;

use super::peak_mib;
use crate::data::regions::fetch;
use crate::data::vcf::Vcf;
use crate::embed::Batching;
use crate::model::{init, Config, Model};
use crate::rng::Rng;
use crate::tokenize::{BpeTokenizer, Tokenizer};
use crate::vep::{self, Mismatch, Scorer};
use crate::{Device, Error, Result};

/// DNABERT-2's tokenizer, checked against `config`'s vocabulary.
pub fn tokenizer_for(config: &Config) -> Result<Tokenizer> {
    let tokenizer: Tokenizer = BpeTokenizer::dnabert2().into();
    if tokenizer.vocab_size() != config.vocab_size {
        return Err(Error::Invalid(format!(
            "the config's vocab_size {} is not DNABERT-2's tokenizer's {}",
            config.vocab_size,
            tokenizer.vocab_size()
        )));
    }
    Ok(tokenizer)
}

/// A random chromosome and a VCF of `n` SNVs spread over it, `flank` apart
/// at least from its ends.
fn inputs(n: usize, flank: usize, rng: &mut Rng) -> Result<(String, Vcf)> {
    let len = (n + 1) * (flank + 16) + 2 * flank;
    let chrom: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
    let mut fasta = String::from(">chr1\n");
    for line in chrom.chunks(60) {
        // ASCII bases.
        fasta.push_str(&String::from_utf8_lossy(line));
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

/// What one scoring run measured.
#[derive(Serialize)]
pub struct VepTimes {
    /// Variants timed (after one warm-up variant), and their windows.
    pub variants: usize,
    pub windows: usize,
    /// Tokens through the encoder (two passes per window).
    pub encoder_tokens: usize,
    pub seconds: f64,
    pub variants_per_s: f64,
    pub tokens_per_s: f64,
    /// Reading, planning and tokenizing every variant.
    pub prepare_seconds: f64,
    pub peak_mib: f64,
}

/// Scores `variants` random SNVs (after one warm-up) with `flank` bases on
/// each side, `batch` windows per batch, on a random model of `config`.
pub fn run(
    dev: &Device,
    config: &Config,
    tokenizer: &Tokenizer,
    variants: usize,
    flank: usize,
    batch: usize,
) -> Result<VepTimes> {
    let model = Model::load(dev, config, &init::random_weights(config, 0))?;
    let scorer = Scorer {
        model: &model,
        mask_id: tokenizer.mask_id().unwrap_or(4),
        classifier: None,
    };
    let batching = Batching {
        batch_size: batch,
        ..Batching::default()
    };
    let mut rng = Rng::new(17);
    let (fasta, vcf) = inputs(variants + 1, flank, &mut rng)?;

    let t0 = Instant::now();
    let got = fetch(fasta.as_bytes(), "bench.fa", &vep::regions(&vcf, flank))?;
    let plan = vep::plan(&vcf, &got, "bench.fa", flank, Mismatch::Error)?;
    let tokens = vep::tokenize(&vcf, &plan.alleles, tokenizer, None, flank)?;
    let prepare = t0.elapsed().as_secs_f64();
    // The first variant warms up (pipelines, weights); the rest are timed.
    let (warm, timed) = tokens.split_at(1);
    pollster::block_on(vep::score(dev, &scorer, warm, batching, |_| {}))?;
    let t1 = Instant::now();
    pollster::block_on(vep::score(dev, &scorer, timed, batching, |_| {}))?;
    let secs = t1.elapsed().as_secs_f64();

    let encoder_tokens: usize = 2 * timed
        .iter()
        .flat_map(|t| t.all())
        .map(|w| w.ids.len())
        .sum::<usize>();
    let n = timed.len();
    Ok(VepTimes {
        variants: n,
        windows: 4 * n,
        encoder_tokens,
        seconds: secs,
        variants_per_s: n as f64 / secs,
        tokens_per_s: encoder_tokens as f64 / secs,
        prepare_seconds: prepare,
        peak_mib: peak_mib(dev),
    })
}
