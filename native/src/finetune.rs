//! `dnagpu finetune`: fine-tunes a sequence classifier on a GUE-style folder
//! (`train.csv`, `dev.csv`, `test.csv`, plain or .gz; `sequence,label`),
//! keeps the checkpoint with the lowest dev loss, and writes the model,
//! `metrics.json`, `predictions.csv` and plots into the output folder, which
//! must be absent or empty unless `--overwrite`. The run itself is the
//! library's (`dnagpu::train::finetune_run`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use dnagpu::train::distributed::Distributed;
use dnagpu::train::finetune_output::{check_output, clear_output};
use dnagpu::train::finetune_run::{fine_tune, FineTuneEnd};
use dnagpu::train::progress::{RunProgress, Silent};
use dnagpu::train::recipe::{FineTuneRecipe, TuneMode};
use std::sync::Arc;

use crate::interrupt::Interrupt;
use crate::model_arg::{ModelArgs, Source};
use crate::progress::BarProgress;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct FinetuneArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A folder with train.csv, dev.csv and test.csv (or .csv.gz), columns sequence,label.
    #[arg(long)]
    data: PathBuf,
    /// Where the fine-tuned model, metrics.json, predictions.csv and plots go: an absent or
    /// empty folder (or see --overwrite).
    #[arg(long)]
    output: PathBuf,
    /// Replace the earlier result in --output: its files are removed before training starts
    /// (other files are kept).
    #[arg(long)]
    overwrite: bool,
    /// Data-parallel over MPI: launch with `mpirun -np N` or `srun`; --batch-size is per
    /// rank, rank 0 writes the files (build with --features mpi).
    #[arg(long)]
    distributed: bool,
    #[command(flatten)]
    opts: TuneOptions,
}

/// The fine-tuning recipe (shared with `dnagpu gue`); every default is
/// `FineTuneRecipe::default()`'s, which the page starts from too.
#[derive(clap::Args, Clone)]
pub struct TuneOptions {
    /// lora: train LoRA adapters and the head, the encoder frozen (writes a PEFT adapter);
    /// full: train every parameter (the paper's recipe; writes a model folder).
    #[arg(long, value_enum, default_value = "lora")]
    mode: Mode,
    /// Peak learning rate; default 1e-3 for lora, 3e-5 (the paper's) for full.
    #[arg(long)]
    lr: Option<f64>,
    /// LoRA rank.
    #[arg(long, default_value_t = FineTuneRecipe::default().lora_r)]
    lora_r: usize,
    #[arg(long, default_value_t = FineTuneRecipe::default().lora_alpha)]
    lora_alpha: f64,
    #[arg(long, default_value_t = FineTuneRecipe::default().lora_dropout)]
    lora_dropout: f64,
    /// Linear layers to adapt, comma-separated: DNABERT-2 any of Wqkv, dense,
    /// gated_layers, wo (default Wqkv); DNABERT any of query, key, value
    /// (default all three).
    #[arg(long, value_delimiter = ',')]
    lora_targets: Vec<String>,
    /// With --mode lora, also write the model with the adapter folded in (a plain model folder).
    #[arg(long)]
    pub merge: bool,
    #[arg(long, default_value_t = FineTuneRecipe::default().weight_decay)]
    weight_decay: f32,
    #[arg(long, default_value_t = FineTuneRecipe::default().warmup)]
    warmup: u64,
    #[arg(long, default_value_t = FineTuneRecipe::default().batch_size)]
    batch_size: usize,
    /// Evaluate on dev every N steps (and at the end); the lowest dev loss is kept.
    #[arg(long, default_value_t = FineTuneRecipe::default().eval_every)]
    eval_every: u64,
    /// Passes over train.csv; default: the paper's for GUE task folders
    /// (GUE/<category>/<task>), else 3.
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after this many steps (whatever the epochs).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Longest input in tokens; default: the longest training sequence's.
    #[arg(long)]
    max_length: Option<usize>,
    #[arg(long, default_value_t = FineTuneRecipe::default().max_grad_norm)]
    max_grad_norm: f64,
    #[arg(long, default_value_t = FineTuneRecipe::default().seed)]
    train_seed: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Lora,
    Full,
}

impl TuneOptions {
    /// The recipe these options give, checked.
    pub fn recipe(&self) -> Result<FineTuneRecipe> {
        let recipe = FineTuneRecipe {
            mode: self.mode(),
            lr: self.lr,
            lora_r: self.lora_r,
            lora_alpha: self.lora_alpha,
            lora_dropout: self.lora_dropout,
            lora_targets: self.lora_targets.clone(),
            weight_decay: self.weight_decay,
            warmup: self.warmup,
            batch_size: self.batch_size,
            eval_every: self.eval_every,
            epochs: self.epochs,
            max_steps: self.max_steps,
            max_length: self.max_length,
            max_grad_norm: self.max_grad_norm,
            seed: self.train_seed,
        };
        recipe.validate()?;
        Ok(recipe)
    }

    fn mode(&self) -> TuneMode {
        match self.mode {
            Mode::Lora => TuneMode::Lora,
            Mode::Full => TuneMode::Full,
        }
    }

    pub fn mode_name(&self) -> &'static str {
        self.mode().name()
    }
}

pub fn run(device: &DeviceArgs, args: &FinetuneArgs) -> Result<()> {
    let dist = crate::join(args.distributed)?;
    let body = |dist: Option<Arc<Distributed>>| -> Result<Option<i32>> {
        let mut recipe = args.opts.recipe()?;
        recipe.batch_size *= dist.as_ref().map_or(1, |d| d.size());
        let root = dist.as_ref().is_none_or(|d| d.is_root());
        if root && args.overwrite {
            let removed = clear_output(&args.output)?;
            if !removed.is_empty() {
                eprintln!(
                    "--overwrite: removed the earlier result's {} from {}",
                    removed.join(", "),
                    args.output.display()
                );
            }
        } else if root {
            check_output(&args.output)?;
        }
        let dev = device.device_for(dist.as_deref())?;
        let src = args.model.files()?;
        let interrupt = Interrupt::install("saving the model kept so far")?;
        let (data, output, merge) = (&args.data, &args.output, args.opts.merge);
        let end = run_task(
            &dev,
            &src,
            data,
            output,
            &recipe,
            merge,
            &interrupt,
            dist.clone(),
        )?;
        if let (true, FineTuneEnd::Stopped { .. }) = (root, end) {
            eprintln!(
                "fine-tuning does not resume: to train in full, run the same command again with --overwrite (or another --output)"
            );
        }
        Ok(interrupt.exit_code())
    };
    crate::run_ranked(dist, body)
}

/// Fine-tunes `src` on the folder `data` into `output` with a progress bar
/// (with `merge`, also the merged model), stopping early when `interrupt`
/// asks; says what it wrote. `dist`: as one rank of a data-parallel job.
#[allow(clippy::too_many_arguments)]
pub fn run_task(
    dev: &dnagpu::Device,
    src: &Source,
    data: &Path,
    output: &Path,
    recipe: &FineTuneRecipe,
    merge: bool,
    interrupt: &Interrupt,
    dist: Option<Arc<Distributed>>,
) -> Result<FineTuneEnd> {
    let root = dist.as_ref().is_none_or(|d| d.is_root());
    let (mut bar, mut silent) = (BarProgress::new(), Silent);
    let progress: &mut dyn RunProgress = if root { &mut bar } else { &mut silent };
    let flag = interrupt.flag();
    let end = fine_tune(dev, src, data, output, recipe, merge, progress, flag, dist)?;
    if root {
        eprintln!("{}", end.summary(output));
    }
    Ok(end)
}
