//! A Hugging Face model folder on disk: `config.json`, `tokenizer.json`,
//! and `model.safetensors` (or else `pytorch_model.bin`, read without Python
//! by `torch_bin`).

use std::path::{Path, PathBuf};

use super::config::Config;
use super::weights::Weights;
use crate::error::{Error, Result};
use crate::tokenize::BpeTokenizer;

/// What a model folder holds, read and checked.
pub struct ModelFiles {
    pub config: Config,
    pub tokenizer: BpeTokenizer,
    pub weights: Weights,
    /// The files' text, kept for checkpoints that copy them.
    pub config_json: String,
    pub tokenizer_json: String,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

impl ModelFiles {
    /// Reads the folder `dir`; each missing file is an error naming it.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not a model folder (expected config.json, tokenizer.json, model.safetensors)",
                dir.display()
            )));
        }
        let file = |name: &str| -> PathBuf { dir.join(name) };
        let need = |name: &str| -> Result<PathBuf> {
            let p = file(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Error::Invalid(format!(
                    "{}: the model folder has no {name}",
                    dir.display()
                )))
            }
        };
        let cfg_path = need("config.json")?;
        let config_json = read(&cfg_path)?;
        let config = Config::from_json(&config_json, &cfg_path.display().to_string())?;
        let tok_path = need("tokenizer.json")?;
        let tokenizer_json = read(&tok_path)?;
        let tokenizer = BpeTokenizer::from_json(&tokenizer_json, &tok_path.display().to_string())?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::Invalid(format!(
                "{}: tokenizer.json has {} tokens but config.json says vocab_size {}",
                dir.display(),
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let weights = if file("model.safetensors").is_file() {
            Weights::from_safetensors_file(&file("model.safetensors"))?
        } else if file("pytorch_model.bin").is_file() {
            let path = file("pytorch_model.bin");
            let origin = path.display().to_string();
            let bytes =
                std::fs::read(&path).map_err(|e| Error::Invalid(format!("{origin}: {e}")))?;
            Weights::new(super::torch_bin::read_state_dict(&bytes, &origin)?, origin)
        } else {
            return Err(Error::Invalid(format!(
                "{}: the model folder has no model.safetensors or pytorch_model.bin",
                dir.display()
            )));
        };
        Ok(Self {
            config,
            tokenizer,
            weights,
            config_json,
            tokenizer_json,
        })
    }
}
