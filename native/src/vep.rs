//! `dnagpu vep`: variant-effect scores of a VCF's alleles against a
//! genome, from the masked-LM head (the definition: `dnagpu::vep`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::data::regions::fetch_path;
use dnagpu::data::vcf::Vcf;
use dnagpu::embed::Batching;
use dnagpu::fs::check_output;
use dnagpu::model::Encoder;
use dnagpu::vep::{self, output::Format, Mismatch, Scorer};

use crate::input::at_least_one;
use crate::model_arg::ModelArgs;
use crate::progress::Bar;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct VepArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The genome: FASTA, plain or gzipped (read in one streaming pass; only the windows are kept).
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

pub fn run(dev_args: &DeviceArgs, args: &VepArgs) -> Result<()> {
    let format = match &args.output {
        Some(p) => {
            let f = Format::of_path(p)?;
            check_output(p, &[&args.reference, &args.variants])?;
            f
        }
        None => Format::Csv,
    };
    let vcf = Vcf::read_path(&args.variants)?;
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
    let regions = vep::regions(&vcf, args.flank);
    let fetched = fetch_path(&args.reference, &regions)?;
    let mismatch = if args.skip_mismatch {
        Mismatch::Skip
    } else {
        Mismatch::Error
    };
    let genome = args.reference.display().to_string();
    let plan = vep::plan(&vcf, &fetched, &genome, args.flank, mismatch)?;
    drop(fetched);
    let max_positions = Encoder::max_positions_of(&src.config, &src.weights);
    vep::check_tokens(&vcf, &plan, &src.tokenizer, max_positions, args.flank)?;
    let alleles = plan.alleles.len();
    eprintln!(
        "read {} records, {alleles} alleles to score, in {:.2} s",
        vcf.records.len(),
        t0.elapsed().as_secs_f64()
    );
    if alleles == 0 {
        bail!(
            "{}: no allele to score ({} symbolic, {} records with a mismatched REF)",
            vcf.origin,
            plan.symbolic,
            plan.mismatched
        );
    }

    let dev = dev_args.device()?;
    let model = src.load(&dev)?;
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
    let total = vep::runs(alleles, classifier.is_some());
    let bar = Bar::new(total as u64, "scoring");
    let t1 = std::time::Instant::now();
    let scores = pollster::block_on(vep::score_plan(
        &dev,
        &scorer,
        &vcf,
        &plan,
        &src.tokenizer,
        max_positions,
        args.flank,
        batching,
        |p| bar.show(&p, t1),
    ))?;
    bar.finish();
    vep::check_finite(&vcf, &plan, &scores)?;
    eprintln!(
        "scored {} alleles with {} on {} in {:.2} s; skipped {} symbolic ALT alleles and {} records whose REF does not match the genome",
        scores.len(),
        src.source,
        dev.name(),
        t1.elapsed().as_secs_f64(),
        plan.symbolic,
        plan.mismatched
    );
    let text = vep::output::write(format, &vcf, &plan, &scores, classes)?;
    crate::output::write_or_print(args.output.as_deref(), &text)
}
