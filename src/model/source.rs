//! A model's files, read and checked but not yet on a device: what every
//! run starts from, with a PEFT adapter folded in where one is given.

use std::path::Path;

use super::io::ModelFiles;

use super::adapter::Adapter;
use super::{init, Config, HeadNames, Model, Precision, Weights};
use crate::error::{Error, Result};
use crate::tokenize::{BpeTokenizer, Tokenizer};
use crate::Device;

pub struct ModelSource {
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    /// The text of config.json and of the tokenizer's file
    /// (`tokenizer.file_name()`), for checkpoints and written models.
    pub config_json: String,
    pub tokenizer_file: String,
    /// Where it came from, for messages.
    pub source: String,
    /// How the encoder's weight matrices are to be stored on the device.
    pub precision: Precision,
}

impl ModelSource {
    /// A model's files read elsewhere; `source` names them in messages.
    pub fn from_files(files: ModelFiles, source: String, precision: Precision) -> Self {
        Self {
            config: files.config,
            weights: files.weights,
            tokenizer: files.tokenizer,
            config_json: files.config_json,
            tokenizer_file: files.tokenizer_file,
            source,
            precision,
        }
    }

    /// The model folder `path` or, where no such folder exists and `path`
    /// reads as a hub id (`owner/name`), the hub's copy in the Hugging Face
    /// cache (downloaded when absent).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &Path, precision: Precision) -> Result<Self> {
        use super::io::hub;
        let text = path.to_string_lossy();
        let dir = if !path.exists() && hub::is_hub_id(&text) {
            hub::resolve(&text)?
        } else {
            path.to_path_buf()
        };
        let files = ModelFiles::open(&dir)?;
        Ok(Self::from_files(
            files,
            dir.display().to_string(),
            precision,
        ))
    }

    /// Whether the weights hold a masked-language-model head (BERT's
    /// `cls.predictions` or ESM's `lm_head`).
    pub fn has_mlm_head(&self) -> bool {
        [
            "cls.predictions.transform.dense.weight",
            "lm_head.dense.weight",
        ]
        .iter()
        .any(|w| self.weights.contains(w))
    }

    /// The model on `dev`, its weight matrices stored in `self.precision`.
    pub fn load(&self, dev: &Device) -> Result<Model> {
        Model::load_with(dev, &self.config, &self.weights, self.precision)
    }

    /// A new model of the architecture in `cfg_path`, DNABERT-2's tokenizer,
    /// weights initialised as docs/models/dnabert2.md says.
    pub fn random_init(cfg_path: &Path, seed: u64) -> Result<Self> {
        let config_json = std::fs::read_to_string(cfg_path)
            .map_err(|e| Error::Invalid(format!("reading {}: {e}", cfg_path.display())))?;
        let config = Config::from_json(&config_json, &cfg_path.display().to_string())?;
        let tokenizer = BpeTokenizer::dnabert2();
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::Invalid(format!(
                "{}: vocab_size {} does not match the DNABERT-2 tokenizer's {}",
                cfg_path.display(),
                config.vocab_size,
                tokenizer.vocab_size()
            )));
        }
        Ok(Self {
            weights: init::random_weights(&config, seed),
            config,
            tokenizer: tokenizer.into(),
            config_json,
            tokenizer_file: BpeTokenizer::DNABERT2_JSON.to_string(),
            source: format!("random init of {} (seed {seed})", cfg_path.display()),
            precision: Precision::F32,
        })
    }

    /// The model with the PEFT LoRA adapter in `adapter_dir` folded in
    /// (W + s B A, and the adapter's pooler and classifier): the numbers of
    /// running the adapters beside the frozen weights, at the base model's
    /// speed. The adapter is checked against the model first.
    pub fn with_adapter(self, adapter_dir: &Path) -> Result<Self> {
        let adapter = Adapter::load(adapter_dir)?;
        self.with_loaded_adapter(&adapter, &adapter_dir.display().to_string())
    }

    /// [`Self::with_adapter`] for an adapter already read (from bytes, or
    /// built into a binary); `name` names it in messages.
    pub fn with_loaded_adapter(self, adapter: &Adapter, name: &str) -> Result<Self> {
        adapter
            .check_against(&self.config, &self.weights)
            .map_err(|e| Error::Invalid(format!("{name} does not fit {}: {e}", self.source)))?;
        let mut map = self.weights.take_all()?;
        adapter.merge(&mut map)?;
        let mut config = self.config;
        if let Some(c) = HeadNames::classes_in(|w| map.get(w).map(|t| t.shape.clone())) {
            config.num_labels = Some(c);
            config.id2label = None;
        }
        Ok(Self {
            weights: Weights::new(map, self.source.clone()),
            config,
            source: format!("{} + adapter {name}", self.source),
            ..self
        })
    }
}
