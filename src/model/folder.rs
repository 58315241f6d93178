//! A Hugging Face model folder: `config.json`, `tokenizer.json`, and
//! `model.safetensors` (or else `pytorch_model.bin`, read without Python by
//! `torch_bin`), from disk or (in the browser) from the files' contents.

#[cfg(not(target_arch = "wasm32"))]
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

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The error for a folder of another model family (a `vocab.txt`, no
/// `tokenizer.json`): which family it is, and that only its tokenizer is
/// read so far.
#[cfg(not(target_arch = "wasm32"))]
fn other_family(dir: &Path, vocab: &str) -> Error {
    use crate::tokenize::{KmerTokenizer, NtTokenizer};
    let origin = dir.join("vocab.txt").display().to_string();
    let family = if let Ok(t) = KmerTokenizer::from_vocab_txt(vocab, &origin) {
        format!("a DNABERT-{} (overlapping {}-mer) model", t.k(), t.k())
    } else if NtTokenizer::from_vocab_txt(vocab, &origin).is_ok() {
        "a Nucleotide Transformer model".to_string()
    } else {
        let first: Vec<&str> = vocab.lines().take(6).collect();
        return Error::Invalid(format!(
            "{}: no tokenizer.json, and vocab.txt (starting {first:?}) is neither DNABERT's k-mer nor the Nucleotide Transformer's vocabulary: not a model dnagpu recognises",
            dir.display()
        ));
    };
    Error::Invalid(format!(
        "{}: {family} (vocab.txt, no tokenizer.json): dnagpu reads its tokenizer but does not run this architecture yet; it runs DNABERT-2-architecture folders (config.json, tokenizer.json, model.safetensors or pytorch_model.bin)",
        dir.display()
    ))
}

impl ModelFiles {
    /// Reads the folder `dir`; each missing file is an error naming it.
    #[cfg(not(target_arch = "wasm32"))]
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
        if !file("tokenizer.json").is_file() && file("vocab.txt").is_file() {
            return Err(other_family(dir, &read(&file("vocab.txt"))?));
        }
        let tok_path = need("tokenizer.json")?;
        let weights = if file("model.safetensors").is_file() {
            Weights::from_safetensors_file(&file("model.safetensors"))?
        } else if file("pytorch_model.bin").is_file() {
            let path = file("pytorch_model.bin");
            let origin = path.display().to_string();
            let bytes =
                std::fs::read(&path).map_err(|e| Error::Invalid(format!("{origin}: {e}")))?;
            Weights::from_bytes(&bytes, "pytorch_model.bin", &origin)?
        } else {
            return Err(Error::Invalid(format!(
                "{}: the model folder has no model.safetensors or pytorch_model.bin",
                dir.display()
            )));
        };
        Self::from_parts(
            read(&cfg_path)?,
            read(&tok_path)?,
            weights,
            &dir.display().to_string(),
        )
    }

    /// A model from its files' contents (the browser's way in); `origin`
    /// names the folder in messages.
    pub fn from_parts(
        config_json: String,
        tokenizer_json: String,
        weights: Weights,
        origin: &str,
    ) -> Result<Self> {
        let config = Config::from_json(&config_json, &format!("{origin}/config.json"))?;
        let tokenizer =
            BpeTokenizer::from_json(&tokenizer_json, &format!("{origin}/tokenizer.json"))?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::Invalid(format!(
                "{origin}: tokenizer.json has {} tokens but config.json says vocab_size {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        Ok(Self {
            config,
            tokenizer,
            weights,
            config_json,
            tokenizer_json,
        })
    }
}
