//! `--model` / `--random-init`: where the model comes from.

use std::path::PathBuf;

use anyhow::Result;
use dnagpu::model::{Config, Model, Precision};
use dnagpu::tokenize::Tokenizer;
use dnagpu::Device;

use crate::shipped;

#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// A Hugging Face model folder (config.json, tokenizer.json, model.safetensors), or a hub id
    /// (e.g. zhihan1996/DNABERT-2-117M) found in, or downloaded to, the Hugging Face cache.
    /// Default: the small model shipped with dnagpu (models/dnabert2-small-gue, built into the binary).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Build a randomly initialised model from this config.json instead (tests, benchmarks).
    #[arg(long, conflicts_with = "model")]
    pub random_init: Option<PathBuf>,
    /// Seed for --random-init.
    #[arg(long, default_value_t = 0, requires = "random_init")]
    pub seed: u64,
    /// f32, or f16: the encoder layers' weight matrices stored in half precision (half the
    /// memory; each weight rounded once); for inference (embed, classify, vep, bench embed) on a
    /// GPU with shader-f16 the activations between kernels too (f32 arithmetic and statistics;
    /// embed, classify and vep print a note saying which applies); with DNAGPU_COOP=on on a GPU
    /// with cooperative matrices the layers' products and attention computed in half precision
    /// (f16 operands, f32 sums). For `finetune` and `pretrain`: mixed-precision training (f16
    /// activations and weight copies, f32 masters and gradients, loss scaling) where the GPU
    /// computes in half precision, else f32.
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub precision: Precision,
}

/// The one-line note on what `--precision f16` computes with here.
pub fn precision_note(model: &Model, dev: &Device) {
    if let Some(summary) = model.encoder.half_precision_summary(dev) {
        eprintln!("note: --precision f16: {summary}");
    }
}

pub fn parse_precision(s: &str) -> std::result::Result<Precision, String> {
    s.parse().map_err(|e: dnagpu::Error| e.to_string())
}

pub use dnagpu::model::source::ModelSource as Source;

/// An adapter to fold into the model: a folder, or the demo adapter built
/// into the binary (`crate::shipped`).
#[derive(Clone, Copy)]
pub enum AdapterRef<'a> {
    Dir(&'a std::path::Path),
    Shipped,
}

/// The loaded model and its tokenizer.
pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub config: Config,
    /// Where it came from, for messages.
    pub source: String,
}

impl Loaded {
    fn of(dev: &Device, s: Source) -> Result<Self> {
        let model = s.load(dev)?;
        precision_note(&model, dev);
        Ok(Self {
            model,
            tokenizer: s.tokenizer,
            config: s.config,
            source: s.source,
        })
    }
}

impl ModelArgs {
    /// Whether the user named no model (the shipped one is used).
    pub fn is_default(&self) -> bool {
        self.model.is_none() && self.random_init.is_none()
    }

    pub fn load(&self, dev: &Device) -> Result<Loaded> {
        Loaded::of(dev, self.files()?)
    }

    /// Loads the model with a PEFT LoRA adapter folded in (W + s B A, and
    /// the adapter's pooler and classifier): the same numbers as running
    /// the adapters beside the frozen weights, at the base model's speed.
    pub fn load_with_adapter(&self, dev: &Device, adapter: AdapterRef<'_>) -> Result<Loaded> {
        let s = match adapter {
            AdapterRef::Dir(dir) => self.files()?.with_adapter(dir)?,
            AdapterRef::Shipped => self
                .files()?
                .with_loaded_adapter(&shipped::adapter()?, shipped::ADAPTER_NAME)?,
        };
        Loaded::of(dev, s)
    }

    /// Reads the model's files (or builds the random-init weights).
    pub fn files(&self) -> Result<Source> {
        if let Some(cfg_path) = &self.random_init {
            let mut src = Source::random_init(cfg_path, self.seed)?;
            src.precision = self.precision;
            return Ok(src);
        }
        match &self.model {
            None => Ok(Source::from_files(
                shipped::model()?,
                shipped::MODEL_NAME.to_string(),
                self.precision,
            )),
            Some(dir) => Ok(Source::open(dir, self.precision)?),
        }
    }
}
