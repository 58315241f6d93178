//! `dnagpu vep` on a VCF of any size, in bounded memory. [`check`] runs
//! every check before any work: the VCF read line by line (each record
//! parsed), the genome indexed ([`crate::data::genome::index`]: lengths,
//! symbols of the VCF's chromosomes), the chromosomes looked up, then
//! every record planned and tokenized a chunk at a time (REF against the
//! genome, windows against the model's positions) and dropped. [`score`]
//! reads the VCF again the same way, scores each chunk's alleles and
//! writes their rows as they are done, in VCF order. A chunk is at most
//! [`Reading::records`] records and [`Reading::bases`] bases of genome:
//! memory is a chunk's, whatever the VCF's size.
//!
//! Scoring chunks ([`super::scoring_chunk`]) are cut from the alleles in
//! VCF order whatever the reading chunks, so the batches, and the bytes
//! written, are the same for any [`Reading`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::BufRead;

use super::score::{runs, Scorer, Scores};
use super::tokens::AlleleTokens;
use super::windows::{describe, plan, regions, Mismatch, Plan};
use crate::data::genome::{index, Cursor, GenomeIndex};
use crate::data::vcf::Vcf;
use crate::data::vcf_stream::{VcfItem, VcfStream};
use crate::data::StreamedInput;
use crate::embed::{Batching, Progress};
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;

/// How many records one reading chunk (one fetch from the genome) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub records: usize,
    /// Bases of the windows the chunk holds: a record's reference window
    /// (2F + |REF|) and, for each ALT, a reference and an alternate window
    /// (`record_bases`).
    pub bases: u64,
}

impl Reading {
    /// 4096 records and 12 Mbp of windows (4 Mbp of genome for SNVs): a
    /// few tens of MB of windows, lines and tokens (4 windows an allele, a
    /// token a base for k-mer models), however many or long the ALTs; a
    /// VCF sorted as the genome is costs one pass over it whatever the
    /// chunking, an unsorted one a pass a chunk.
    pub const BOUNDED: Reading = Reading {
        records: 4096,
        bases: 12 << 20,
    };

    /// Everything in one chunk.
    pub const WHOLE: Reading = Reading {
        records: usize::MAX,
        bases: u64::MAX,
    };
}

/// The inputs (each read several times) and how to score.
pub struct Job<'a> {
    pub variants: &'a StreamedInput,
    pub genome: &'a StreamedInput,
    pub flank: usize,
    pub mismatch: Mismatch,
    pub tokenizer: &'a Tokenizer,
    /// The model's learned position table, if it has one.
    pub max_positions: Option<usize>,
    pub reading: Reading,
}

/// What [`check`] found.
pub struct Checked {
    pub records: usize,
    /// ALT alleles to score.
    pub alleles: usize,
    /// ALT alleles that are not sequences.
    pub symbolic: usize,
    /// Records left out for a REF that does not match the genome.
    pub mismatched: usize,
    /// Whether the VCF has a `#CHROM` line.
    pub has_header: bool,
    /// Reads of the genome (the index, then the chunks').
    pub genome_passes: usize,
    index: GenomeIndex,
}

/// One line of the VCF waiting to be written.
enum Item {
    Other(String),
    /// Index of the record in the chunk's [`Vcf`], and its line.
    Record(usize, String),
}

/// A reading chunk: its lines in order, its records, their windows.
struct Chunk {
    items: Vec<Item>,
    vcf: Vcf,
    plan: Plan,
}

/// The VCF read a chunk at a time, each chunk's windows fetched.
struct Chunks<'a> {
    lines: VcfStream<Box<dyn BufRead + 'a>>,
    cursor: Cursor<'a>,
    job: &'a Job<'a>,
}

impl<'a> Chunks<'a> {
    fn new(job: &'a Job<'a>, index: &'a GenomeIndex) -> Result<Self> {
        let genome = job.genome;
        Ok(Self {
            lines: VcfStream::new(job.variants.reader()?, job.variants.name()),
            cursor: Cursor::new(Box::new(move || genome.reader()), genome.name(), index),
            job,
        })
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let job = self.job;
        let mut items = Vec::new();
        let mut vcf = Vcf {
            origin: job.variants.name().to_owned(),
            text: String::new(),
            records: Vec::new(),
        };
        let mut bases = 0u64;
        while vcf.records.len() < job.reading.records && bases < job.reading.bases {
            match self.lines.next_item()? {
                None => break,
                Some(VcfItem::Other(text)) => items.push(Item::Other(text)),
                Some(VcfItem::Record(r, text)) => {
                    bases += record_bases(&r, job.flank);
                    items.push(Item::Record(vcf.records.len(), text));
                    vcf.records.push(r);
                }
            }
        }
        if items.is_empty() {
            return Ok(None);
        }
        let fetched = self.cursor.fetch(&regions(&vcf, job.flank))?;
        let plan = plan(&vcf, &fetched, job.genome.name(), job.flank, job.mismatch)?;
        Ok(Some(Chunk { items, vcf, plan }))
    }
}

/// Bases a record costs a chunk: its reference window, and a reference and
/// an alternate window for each ALT (each is planned and tokenized), so
/// that a record of many ALTs, or long ones, counts for what it holds.
fn record_bases(r: &crate::data::vcf::VcfRecord, flank: usize) -> u64 {
    let window = (2 * flank + r.reference.len()) as u64;
    r.alts.iter().fold(window, |sum, alt| {
        let alt_len = match alt {
            crate::data::vcf::Allele::Bases(b) => b.len(),
            crate::data::vcf::Allele::Other(_) => 0,
        };
        sum + 2 * window + alt_len as u64
    })
}

/// Every check before any work (see the module docs); nothing is kept
/// but counts, the VCF's chromosome names and the genome's lengths.
pub fn check(job: &Job<'_>) -> Result<Checked> {
    let mut lines = VcfStream::new(job.variants.reader()?, job.variants.name());
    // Each chromosome's first record, for a message naming it.
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut records = 0;
    while let Some(item) = lines.next_item()? {
        if let VcfItem::Record(r, _) = item {
            records += 1;
            first.entry(r.chrom).or_insert(r.line);
        }
    }
    let has_header = lines.has_header();
    let names: HashSet<String> = first.keys().cloned().collect();
    let genome = job.genome;
    let index = index(genome.reader()?, genome.name(), &names)?;
    if let Some((chrom, line)) = first
        .iter()
        .filter(|(c, _)| !index.has(c))
        .min_by_key(|(_, &line)| line)
    {
        return Err(Error::Invalid(format!(
            "{}: line {line}: chromosome `{chrom}` is not in {} (the genome's FASTA headers name its chromosomes)",
            job.variants.name(),
            genome.name()
        )));
    }
    let mut checked = Checked {
        records,
        alleles: 0,
        symbolic: 0,
        mismatched: 0,
        has_header,
        genome_passes: 1,
        index,
    };
    let passes = {
        let mut chunks = Chunks::new(job, &checked.index)?;
        while let Some(chunk) = chunks.next_chunk()? {
            super::check_tokens(
                &chunk.vcf,
                &chunk.plan,
                job.tokenizer,
                job.max_positions,
                job.flank,
            )?;
            checked.alleles += chunk.plan.alleles.len();
            checked.symbolic += chunk.plan.symbolic;
            checked.mismatched += chunk.plan.mismatched;
        }
        chunks.cursor.passes()
    };
    checked.genome_passes += passes;
    Ok(checked)
}

/// A record waiting for its scores: its line, the record, the ALT index
/// of each allele scored.
enum Pending {
    Other(String),
    Record(crate::data::vcf::VcfRecord, String, Vec<usize>),
}

/// Scores every allele [`check`] found, a chunk at a time, handing each
/// line of the VCF to `write` in order (with its scores). `progress`
/// hears windows run of [`runs`]`(checked.alleles, …)`.
pub async fn score<W: std::io::Write>(
    dev: &crate::Device,
    scorer: &Scorer<'_>,
    job: &Job<'_>,
    checked: &Checked,
    batching: Batching,
    out: &mut super::output::Writer<W>,
    mut progress: impl FnMut(Progress),
) -> Result<()> {
    let total = runs(checked.alleles, scorer.classifier.is_some());
    let mut chunks = Chunks::new(job, &checked.index)?;
    let mut queue: VecDeque<(AlleleTokens, usize)> = VecDeque::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut ready: VecDeque<Scores> = VecDeque::new();
    let mut done = Progress::default();
    let (mut records, mut written) = (0, 0);
    let mut at_end = false;
    while !at_end {
        match chunks.next_chunk()? {
            Some(chunk) => {
                let tokens = super::tokenize(
                    &chunk.vcf,
                    &chunk.plan.alleles,
                    job.tokenizer,
                    job.max_positions,
                    job.flank,
                )?;
                let mut alts: Vec<Vec<usize>> = vec![Vec::new(); chunk.vcf.records.len()];
                for (a, t) in chunk.plan.alleles.iter().zip(tokens) {
                    alts[a.record].push(a.alt);
                    queue.push_back((t, a.reference.seq.len() + a.alternate.seq.len()));
                }
                let mut recs: Vec<Option<_>> = chunk.vcf.records.into_iter().map(Some).collect();
                for item in chunk.items {
                    pending.push_back(match item {
                        Item::Other(t) => Pending::Other(t),
                        Item::Record(i, t) => {
                            records += 1;
                            let rec = recs[i].take().expect("each record once");
                            Pending::Record(rec, t, std::mem::take(&mut alts[i]))
                        }
                    });
                }
            }
            None => at_end = true,
        }
        // Full scoring chunks now; at the end, what is left.
        loop {
            let n = super::scoring_chunk(queue.iter().map(|(_, b)| *b));
            if n == 0 || (n == queue.len() && !at_end) {
                break;
            }
            let tokens: Vec<AlleleTokens> = queue.drain(..n).map(|(t, _)| t).collect();
            let mut last = done;
            let scores = super::score::score(dev, scorer, &tokens, batching, |p| {
                last = Progress {
                    sequences: done.sequences + p.sequences,
                    total_sequences: total,
                    tokens: done.tokens + p.tokens,
                    ..p
                };
                progress(last)
            })
            .await?;
            done = last;
            ready.extend(scores);
        }
        write_ready(&mut pending, &mut ready, out, &mut written)?;
    }
    if records != checked.records || written != checked.alleles || !pending.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: {records} records and {written} alleles read for the {} and {} found when it was first read (did it change meanwhile?)",
            job.variants.name(),
            checked.records,
            checked.alleles
        )));
    }
    Ok(())
}

/// Writes the pending lines whose scores are all ready, in order; a score
/// that is not finite is an error naming the allele.
fn write_ready<W: std::io::Write>(
    pending: &mut VecDeque<Pending>,
    ready: &mut VecDeque<Scores>,
    out: &mut super::output::Writer<W>,
    written: &mut usize,
) -> Result<()> {
    while let Some(front) = pending.front() {
        match front {
            Pending::Other(t) => out.other(t)?,
            Pending::Record(rec, text, alts) => {
                if ready.len() < alts.len() {
                    break;
                }
                let scores: Vec<Scores> = ready.drain(..alts.len()).collect();
                for (k, s) in alts.iter().zip(&scores) {
                    *written += 1;
                    let name = format!("{} ALT {}", describe(rec), k + 1);
                    crate::export::check_row(&name, *written, &s.values(), "scores", out.left())?;
                }
                let scored: Vec<(usize, &Scores)> = alts.iter().copied().zip(&scores).collect();
                out.record(rec, text, &scored)?;
            }
        }
        pending.pop_front();
    }
    Ok(())
}
