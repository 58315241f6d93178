//! `dnagpu vep`: variant-effect scores of a VCF's alleles against a
//! genome, from the masked-LM head (the definition: `dnagpu::vep`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::data::StreamedInput;
use dnagpu::embed::Batching;
use dnagpu::fs::{check_output, AtomicFile};
use dnagpu::model::Encoder;
use dnagpu::vep::output::{Format, Writer};
use dnagpu::vep::stream::{Job, Reading};
use dnagpu::vep::{self, Mismatch, Scorer};

use crate::input::at_least_one;
use crate::model_arg::ModelArgs;
use crate::progress::Bar;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct VepArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The genome: FASTA, plain or gzipped (streamed: indexed in one pass, then read along with the VCF; only windows are kept).
    #[arg(long, value_name = "GENOME.fa[.gz]")]
    reference: PathBuf,
    /// The variants: VCF, plain or gzipped (CHROM, POS, ID, REF, ALT are read).
    #[arg(long, value_name = "VARIANTS.vcf[.gz]")]
    variants: PathBuf,
    /// Bases of genome on each side of REF in each window.
    #[arg(long, default_value_t = 256, value_parser = flank)]
    flank: usize,
    /// A PEFT LoRA adapter with a classifier: adds p_ref_k, p_alt_k (the scores stay the base model's).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// .csv, .tsv, or .vcf (the input with INFO fields); CSV on stdout when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Most windows per batch.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    batch_size: usize,
    /// Leave out (and count) records whose REF does not match the genome, instead of stopping.
    #[arg(long)]
    skip_mismatch: bool,
}

fn flank(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= vep::MAX_FLANK => Ok(n),
        Ok(_) => Err(format!("at most {} bases", vep::MAX_FLANK)),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads the VCF and the genome a chunk at a time (every check first, in
/// a pass of its own), writing rows as they are scored: memory stays
/// bounded whatever the VCF's size.
pub fn run(dev_args: &DeviceArgs, args: &VepArgs) -> Result<()> {
    let format = match &args.output {
        Some(p) => {
            let f = Format::of_path(p)?;
            check_output(p, &[&args.reference, &args.variants])?;
            f
        }
        None => Format::Csv,
    };
    if args.reference.as_os_str() == "-" && args.variants.as_os_str() == "-" {
        bail!("--reference and --variants cannot both be stdin (`-`)");
    }
    let variants = StreamedInput::open(&args.variants.to_string_lossy())?;
    let genome = StreamedInput::open(&args.reference.to_string_lossy())?;
    let src = args.model.files()?;
    if !src.has_mlm_head() {
        bail!(
            "{}: this model has no masked-language-model head (cls.predictions or lm_head weights): vep scores variants with it",
            src.source
        );
    }
    let Some(mask_id) = src.tokenizer.mask_id() else {
        bail!("{}: the tokenizer has no mask token ([MASK])", src.source);
    };
    let adapted = match &args.adapter {
        Some(dir) => Some(args.model.files()?.with_adapter(dir)?),
        None => None,
    };

    let t0 = std::time::Instant::now();
    let job = Job {
        variants: &variants,
        genome: &genome,
        flank: args.flank,
        mismatch: if args.skip_mismatch {
            Mismatch::Skip
        } else {
            Mismatch::Error
        },
        tokenizer: &src.tokenizer,
        max_positions: Encoder::max_positions_of(&src.config, &src.weights),
        reading: Reading::BOUNDED,
    };
    let checked = vep::stream::check(&job)?;
    let alleles = checked.alleles;
    eprintln!(
        "read {} records, {alleles} alleles to score, in {:.2} s",
        checked.records,
        t0.elapsed().as_secs_f64()
    );
    if alleles == 0 {
        bail!(
            "{}: no allele to score ({} symbolic, {} records with a mismatched REF)",
            variants.name(),
            checked.symbolic,
            checked.mismatched
        );
    }

    let dev = dev_args.device()?;
    let model = src.load(&dev)?;
    crate::model_arg::precision_note(&model, &dev);
    let cls_model = match &adapted {
        Some(a) => {
            let m = a.load(&dev)?;
            if m.classifier.is_none() {
                bail!(
                    "{}: the adapter has no classification head (classifier weights under modules_to_save)",
                    a.source
                );
            }
            Some(m)
        }
        None => None,
    };
    let classifier = cls_model
        .as_ref()
        .or((model.classifier.is_some()).then_some(&model));
    let classes = classifier.and_then(|m| m.classifier.as_ref().map(|c| c.num_labels));
    let scorer = Scorer {
        model: &model,
        mask_id,
        classifier,
    };
    let batching = Batching {
        batch_size: args.batch_size,
        ..Batching::default()
    };
    let t1 = std::time::Instant::now();
    let total = vep::runs(alleles, classifier.is_some()) as u64;
    let scoring = Scoring {
        dev: &dev,
        scorer: &scorer,
        job: &job,
        checked: &checked,
        batching,
        total,
    };
    match &args.output {
        Some(p) => {
            // Renamed over `p` only once complete: an error leaves it as it was.
            let mut out = Writer::new(AtomicFile::create(p)?, format, classes, checked.has_header)?;
            scoring.run(&mut out)?;
            summary(&checked, &src.source, &dev.name(), t1);
            out.finish()?.commit()?;
            eprintln!("wrote {}", p.display());
        }
        None => {
            let stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let mut out =
                Writer::new(stdout, format, classes, checked.has_header)?.written_as_it_goes();
            scoring.run(&mut out)?;
            out.finish()?;
            summary(&checked, &src.source, &dev.name(), t1);
        }
    }
    Ok(())
}

/// What scoring needs, for either output.
struct Scoring<'a> {
    dev: &'a dnagpu::Device,
    scorer: &'a Scorer<'a>,
    job: &'a Job<'a>,
    checked: &'a vep::stream::Checked,
    batching: Batching,
    /// Windows to run.
    total: u64,
}

impl Scoring<'_> {
    fn run<W: std::io::Write>(&self, out: &mut Writer<W>) -> Result<()> {
        let bar = Bar::new(self.total, "scoring");
        let t = std::time::Instant::now();
        let ran = pollster::block_on(vep::stream::score(
            self.dev,
            self.scorer,
            self.job,
            self.checked,
            self.batching,
            out,
            |p| bar.show(&p, t),
        ));
        bar.finish();
        Ok(ran?)
    }
}

fn summary(checked: &vep::stream::Checked, source: &str, device: &str, t1: std::time::Instant) {
    eprintln!(
        "scored {} alleles with {source} on {device} in {:.2} s; skipped {} symbolic ALT alleles and {} records whose REF does not match the genome",
        checked.alleles,
        t1.elapsed().as_secs_f64(),
        checked.symbolic,
        checked.mismatched
    );
}
