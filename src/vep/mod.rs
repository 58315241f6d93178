//! Zero-shot variant-effect scores from a masked language model (`dnagpu
//! vep`), as in the GPN, Nucleotide Transformer and BEND work. For each VCF
//! record (CHROM, 1-based POS, ID, REF, each ALT in order; ALTs that are
//! not sequences are skipped and counted), with p = POS − 1, F the flank
//! and n the chromosome's length:
//!
//! - window = genome[max(0, p − F) : min(n, p + |REF| + F)]; the ALT window
//!   is the same with REF replaced by ALT; the allele's span in a window is
//!   [p − start, p − start + |allele|) ([`windows`]).
//! - masked set = every token, specials excluded, whose bases meet the
//!   allele's span ([`tokens`]).
//! - L(window) = Σ over the masked set of log softmax(logits_i)[id_i], all
//!   masked tokens replaced by the mask token in one forward with the MLM
//!   head ([`score`]).
//! - llr_fwd = L(alt) − L(ref); llr_rev the same on the reverse
//!   complements (allele span [len − hi, len − lo)); llr their mean.
//! - embedding_distance = the mean over both strands of 1 − cos(mean_ref,
//!   mean_alt), mean = the last hidden state averaged over all tokens,
//!   specials included, of the unmasked window.
//! - With a classification head: the class probabilities of the forward
//!   REF and ALT windows.
//!
//! The genome is read in one streaming pass that keeps only the windows'
//! bases ([`crate::data::regions`]); results are written by [`output`].
//! The reference implementation is `scripts/reference/vep_fixtures.py`.

pub mod output;
pub mod score;
// Files and stdin, read again and again: not in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod tokens;
pub mod windows;

pub use score::{runs, score, Scorer, Scores};
pub use tokens::{AlleleTokens, Tokens};
pub use windows::{plan, regions, AlleleWindows, Mismatch, Plan, Window};

use crate::data::vcf::Vcf;
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;

/// Tokenizes the windows of `alleles` (of `vcf`'s plan). An allele whose
/// window has no token over it, or more tokens than the model's position
/// table (`max_positions`) holds, is an error naming its record and the
/// fix.
pub fn tokenize(
    vcf: &Vcf,
    alleles: &[AlleleWindows],
    tokenizer: &Tokenizer,
    max_positions: Option<usize>,
    flank: usize,
) -> Result<Vec<AlleleTokens>> {
    alleles
        .iter()
        .map(|a| {
            let rec = &vcf.records[a.record];
            let name = || {
                format!(
                    "{}: line {}: {}",
                    vcf.origin,
                    rec.line,
                    windows::describe(rec)
                )
            };
            let t = AlleleTokens::of(tokenizer, &a.reference, &a.alternate)
                .map_err(|e| Error::Invalid(format!("{}: {e}", name())))?;
            if let Some(max) = max_positions.filter(|&m| t.longest() > m) {
                return Err(Error::Invalid(format!(
                    "{}: a window of {} tokens (--flank {flank}) is longer than the model's {max} positions (a learned position table): use a smaller --flank",
                    name(),
                    t.longest()
                )));
            }
            Ok(t)
        })
        .collect()
}

/// [`tokenize`]'s checks on every allele of `plan`, a chunk at a time,
/// keeping nothing: a large VCF is checked whole before any scoring
/// without holding all its tokens.
pub fn check_tokens(
    vcf: &Vcf,
    plan: &Plan,
    tokenizer: &Tokenizer,
    max_positions: Option<usize>,
    flank: usize,
) -> Result<()> {
    for chunk in plan.alleles.chunks(CHUNK) {
        tokenize(vcf, chunk, tokenizer, max_positions, flank)?;
    }
    Ok(())
}

/// The largest flank (`--flank`): windows of 100 kbp already cost minutes
/// each.
pub const MAX_FLANK: usize = 50_000;

/// Most alleles tokenized and scored at a time: their tokens (a few KiB
/// each) and pooled states are what a large VCF would otherwise hold all
/// at once.
pub const CHUNK: usize = 4096;

/// Most window bases (REF and ALT, forward) scored at a time: with large
/// flanks, [`CHUNK`] alleles would hold gigabytes of tokens. 8 Mbp leaves
/// the default flank's chunks at [`CHUNK`] alleles.
pub const CHUNK_BASES: usize = 8 << 20;

/// How many of the alleles ahead (their window bases, in VCF order) the
/// next scoring chunk takes: at most [`CHUNK`] and [`CHUNK_BASES`], at
/// least one. Cut the same way however the VCF was read, the chunks (so
/// the batches, so the numbers to the last bit) are too.
pub fn scoring_chunk(bases: impl Iterator<Item = usize>) -> usize {
    let (mut n, mut sum) = (0, 0);
    for b in bases.take(CHUNK) {
        if n > 0 && sum + b > CHUNK_BASES {
            break;
        }
        n += 1;
        sum += b;
    }
    n
}

/// Scores every allele of `plan`, in order, a [`scoring_chunk`] at a time
/// (only a chunk's tokens are held). `progress` hears windows run over the whole plan, of [`runs`].
#[allow(clippy::too_many_arguments)]
pub async fn score_plan(
    dev: &crate::Device,
    scorer: &Scorer<'_>,
    vcf: &Vcf,
    plan: &Plan,
    tokenizer: &Tokenizer,
    max_positions: Option<usize>,
    flank: usize,
    batching: crate::embed::Batching,
    mut progress: impl FnMut(crate::embed::Progress),
) -> Result<Vec<Scores>> {
    use crate::embed::Progress;
    let total = runs(plan.alleles.len(), scorer.classifier.is_some());
    let mut scores = Vec::with_capacity(plan.alleles.len());
    let mut done = Progress::default();
    let mut rest = &plan.alleles[..];
    while !rest.is_empty() {
        let n = scoring_chunk(
            rest.iter()
                .map(|a| a.reference.seq.len() + a.alternate.seq.len()),
        );
        let (chunk, after) = rest.split_at(n);
        rest = after;
        let tokens = tokenize(vcf, chunk, tokenizer, max_positions, flank)?;
        let mut last = Progress::default();
        let shown = |p: Progress| Progress {
            sequences: done.sequences + p.sequences,
            total_sequences: total,
            tokens: done.tokens + p.tokens,
            ..p
        };
        scores.extend(
            score(dev, scorer, &tokens, batching, |p| {
                last = shown(p);
                progress(last)
            })
            .await?,
        );
        done = last;
    }
    Ok(scores)
}

/// Fails naming the first allele of `plan` with a score that is not finite.
pub fn check_finite(vcf: &Vcf, plan: &Plan, scores: &[Scores]) -> Result<()> {
    let names: Vec<String> = plan
        .alleles
        .iter()
        .map(|a| {
            let rec = &vcf.records[a.record];
            format!("{} ALT {}", windows::describe(rec), a.alt + 1)
        })
        .collect();
    let values: Vec<Vec<f32>> = scores.iter().map(|s| s.values()).collect();
    crate::export::check_finite(&names, values.iter().map(Vec::as_slice), "scores")
}
