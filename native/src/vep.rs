//! `dnagpu vep`: variant-effect scores of a VCF's alleles against a
//! genome, from the masked-LM head (the definition: `dnagpu::vep`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::data::regions::fetch_path;
use dnagpu::data::vcf::Vcf;
use dnagpu::embed::Batching;
use dnagpu::export;
use dnagpu::fs::check_output;
use dnagpu::model::{Encoder, Model};
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

/// The largest `--flank`: windows of 100 kbp already cost minutes each.
const MAX_FLANK: usize = 50_000;

fn flank(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_FLANK => Ok(n),
        Ok(_) => Err(format!("at most {MAX_FLANK} bases")),
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
    let has_mlm = [
        "cls.predictions.transform.dense.weight",
        "lm_head.dense.weight",
    ]
    .iter()
    .any(|w| src.weights.contains(w));
    if !has_mlm {
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
    let model = Model::load_with(&dev, &src.config, &src.weights, src.precision)?;
    let cls_model = match &adapted {
        Some(a) => {
            let m = Model::load_with(&dev, &a.config, &a.weights, a.precision)?;
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
    // A chunk of alleles at a time: only its tokens are held.
    let mut scores = Vec::with_capacity(alleles);
    let mut done = dnagpu::embed::Progress::default();
    for chunk in plan.alleles.chunks(vep::CHUNK) {
        let tokens = vep::tokenize(&vcf, chunk, &src.tokenizer, max_positions, args.flank)?;
        let mut last = dnagpu::embed::Progress::default();
        let shown = |p: dnagpu::embed::Progress| dnagpu::embed::Progress {
            sequences: done.sequences + p.sequences,
            total_sequences: total,
            tokens: done.tokens + p.tokens,
            ..p
        };
        scores.extend(pollster::block_on(vep::score(
            &dev,
            &scorer,
            &tokens,
            batching,
            |p| {
                last = shown(p);
                bar.show(&last, t1)
            },
        ))?);
        done = last;
    }
    bar.finish();
    let names: Vec<String> = plan
        .alleles
        .iter()
        .map(|a| {
            let rec = &vcf.records[a.record];
            format!("{} ALT {}", vep::windows::describe(rec), a.alt + 1)
        })
        .collect();
    let values: Vec<Vec<f32>> = scores.iter().map(|s| s.values()).collect();
    export::check_finite(&names, values.iter().map(Vec::as_slice), "scores")?;
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
