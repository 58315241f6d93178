//! `--model` / `--random-init`: where the model comes from.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use dnagpu::model::io::hub;
use dnagpu::model::io::ModelFiles;
use dnagpu::model::{init, Config, HeadNames, Model, Precision, Weights};
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::Device;

#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// A Hugging Face model folder (config.json, tokenizer.json, model.safetensors), or a hub id
    /// (e.g. zhihan1996/DNABERT-2-117M) found in, or downloaded to, the Hugging Face cache.
    /// Default: the small model shipped in the repository (models/dnabert2-small-gue).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Build a randomly initialised model from this config.json instead (tests, benchmarks).
    #[arg(long, conflicts_with = "model")]
    pub random_init: Option<PathBuf>,
    /// Seed for --random-init.
    #[arg(long, default_value_t = 0, requires = "random_init")]
    pub seed: u64,
    /// How the encoder layers' weight matrices are stored on the device: f32, or f16 (half the
    /// memory; each weight rounded once; arithmetic stays f32). f16 suits inference and LoRA,
    /// not training the weights themselves.
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    pub precision: Precision,
}

pub fn parse_precision(s: &str) -> std::result::Result<Precision, String> {
    s.parse().map_err(|e: dnagpu::Error| e.to_string())
}

/// The small model pretrained by dnagpu and shipped in the repository
/// (models/README.md): what commands use without `--model`.
pub const SHIPPED_MODEL: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/dnabert2-small-gue");

/// The demo LoRA adapter shipped with it (is this a promoter? GUE
/// prom_core_all): what `classify` uses without `--model` or `--adapter`.
pub const SHIPPED_ADAPTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/dnabert2-small-gue-promoter-lora"
);

/// A model's files, read and checked, not yet on a device.
pub struct Source {
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    /// The text of config.json and of the tokenizer's file
    /// (`tokenizer.file_name()`), for checkpoints.
    pub config_json: String,
    pub tokenizer_file: String,
    /// Where it came from, for messages.
    pub source: String,
    /// How the encoder's weight matrices are to be stored on the device.
    pub precision: Precision,
}

/// The loaded model and its tokenizer.
pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub config: Config,
    /// Where it came from, for messages.
    pub source: String,
}

impl ModelArgs {
    /// Whether the user named no model (the shipped one is used).
    pub fn is_default(&self) -> bool {
        self.model.is_none() && self.random_init.is_none()
    }

    pub fn load(&self, dev: &Device) -> Result<Loaded> {
        let s = self.files()?;
        let model = Model::load_with(dev, &s.config, &s.weights, s.precision)?;
        Ok(Loaded {
            model,
            tokenizer: s.tokenizer,
            config: s.config,
            source: s.source,
        })
    }

    /// Loads the model with a PEFT LoRA adapter folded in (W + s B A, and
    /// the adapter's pooler and classifier): the same numbers as running
    /// the adapters beside the frozen weights, at the base model's speed.
    pub fn load_with_adapter(&self, dev: &Device, adapter_dir: &std::path::Path) -> Result<Loaded> {
        let s = self.files()?;
        let adapter = dnagpu::model::adapter::Adapter::load(adapter_dir)?;
        adapter
            .check_against(&s.config, &s.weights)
            .with_context(|| format!("{} does not fit {}", adapter_dir.display(), s.source))?;
        let mut map = s.weights.take_all();
        adapter.merge(&mut map)?;
        let mut config = s.config.clone();
        if let Some(c) = HeadNames::classes_in(|w| map.get(w).map(|t| t.shape.clone())) {
            config.num_labels = Some(c);
            config.id2label = None;
        }
        let merged = Weights::new(map, s.source.clone());
        let model = Model::load_with(dev, &config, &merged, s.precision)?;
        Ok(Loaded {
            model,
            tokenizer: s.tokenizer,
            config,
            source: format!("{} + adapter {}", s.source, adapter_dir.display()),
        })
    }

    /// Reads the model's files (or builds the random-init weights).
    pub fn files(&self) -> Result<Source> {
        if let Some(cfg_path) = &self.random_init {
            let mut src = random_init(cfg_path, self.seed)?;
            src.precision = self.precision;
            return Ok(src);
        }
        let dir = match &self.model {
            Some(d) => d.clone(),
            None => {
                let shipped = PathBuf::from(SHIPPED_MODEL);
                if !shipped.join("model.safetensors").is_file() {
                    bail!(
                        "no --model given and the shipped model is missing from {} (a partial clone?): \
                         pass --model DIR (a Hugging Face model folder with config.json, tokenizer.json and model.safetensors)",
                        shipped.display()
                    );
                }
                shipped.canonicalize().unwrap_or(shipped)
            }
        };
        let dir = &dir;
        let text = dir.to_string_lossy();
        let dir = if !dir.exists() && hub::is_hub_id(&text) {
            hub::resolve(&text)?
        } else {
            dir.clone()
        };
        let files = ModelFiles::open(&dir)?;
        Ok(Source {
            config: files.config,
            weights: files.weights,
            tokenizer: files.tokenizer,
            config_json: files.config_json,
            tokenizer_file: files.tokenizer_file,
            source: if self.is_default() {
                "models/dnabert2-small-gue (shipped)".to_string()
            } else {
                dir.display().to_string()
            },
            precision: self.precision,
        })
    }
}

/// A new model of the architecture in `cfg_path`, DNABERT-2's tokenizer,
/// weights initialised as the model doc says.
pub fn random_init(cfg_path: &std::path::Path, seed: u64) -> Result<Source> {
    let config_json = std::fs::read_to_string(cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let config = Config::from_json(&config_json, &cfg_path.display().to_string())?;
    let tokenizer = BpeTokenizer::dnabert2();
    if tokenizer.vocab_size() != config.vocab_size {
        bail!(
            "{}: vocab_size {} does not match the DNABERT-2 tokenizer's {}",
            cfg_path.display(),
            config.vocab_size,
            tokenizer.vocab_size()
        );
    }
    Ok(Source {
        weights: init::random_weights(&config, seed),
        config,
        tokenizer: tokenizer.into(),
        config_json,
        tokenizer_file: BpeTokenizer::DNABERT2_JSON.to_string(),
        source: format!("random init of {} (seed {seed})", cfg_path.display()),
        precision: Precision::F32,
    })
}
