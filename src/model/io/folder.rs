//! A Hugging Face model folder: `config.json`, the tokenizer
//! (`tokenizer.json` for DNABERT-2, `vocab.txt` for DNABERT's k-mers), and
//! `model.safetensors` (or else `pytorch_model.bin`, read without Python by
//! `super::torch_bin`), from disk or (in the browser) from the files' contents.

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::weights::Weights;
use crate::error::{Error, Result};
use crate::model::config::Config;
use crate::tokenize::{BpeTokenizer, KmerTokenizer, NtTokenizer, Tokenizer};

/// What a model folder holds, read and checked.
pub struct ModelFiles {
    pub config: Config,
    pub tokenizer: Tokenizer,
    pub weights: Weights,
    /// The files' text, kept for checkpoints that copy them: config.json and
    /// the tokenizer's file (`tokenizer.file_name()`).
    pub config_json: String,
    pub tokenizer_file: String,
}

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The tokenizer of a `vocab.txt`: DNABERT's k-mers or the Nucleotide
/// Transformer's 6-mers, else an error showing what the file starts with.
fn vocab_tokenizer(vocab: &str, origin: &str) -> Result<Tokenizer> {
    if let Ok(t) = KmerTokenizer::from_vocab_txt(vocab, origin) {
        return Ok(Tokenizer::Kmer(t));
    }
    if let Ok(t) = NtTokenizer::from_vocab_txt(vocab, origin) {
        return Ok(Tokenizer::Nt(t));
    }
    let first: Vec<&str> = vocab.lines().take(6).collect();
    Err(Error::Invalid(format!(
        "{origin} (starting {first:?}) is neither DNABERT's k-mer nor the Nucleotide Transformer's vocabulary, and the folder has no tokenizer.json: not a model dnagpu recognises"
    )))
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
        let tok_name = if !file("tokenizer.json").is_file() && file("vocab.txt").is_file() {
            "vocab.txt"
        } else {
            "tokenizer.json"
        };
        let tok_path = need(tok_name)?;
        let tok_text = read(&tok_path)?;
        // Recognise the family before reading weights (an error says which).
        if tok_name == "vocab.txt" {
            vocab_tokenizer(&tok_text, &tok_path.display().to_string())?;
        }
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
            tok_name,
            tok_text,
            weights,
            &dir.display().to_string(),
        )
    }

    /// A model from its files' contents (the browser's way in):
    /// `tokenizer_name` is `tokenizer.json` or `vocab.txt`; `origin` names
    /// the folder in messages.
    pub fn from_parts(
        config_json: String,
        tokenizer_name: &str,
        tokenizer_file: String,
        weights: Weights,
        origin: &str,
    ) -> Result<Self> {
        let config = Config::from_json(&config_json, &format!("{origin}/config.json"))?;
        let tok_origin = format!("{origin}/{tokenizer_name}");
        let tokenizer = match tokenizer_name {
            "tokenizer.json" => BpeTokenizer::from_json(&tokenizer_file, &tok_origin)?.into(),
            "vocab.txt" => vocab_tokenizer(&tokenizer_file, &tok_origin)?,
            other => {
                return Err(Error::Invalid(format!(
                    "{origin}: {other} is not a tokenizer file dnagpu reads (tokenizer.json or vocab.txt)"
                )))
            }
        };
        let fits = match &tokenizer {
            // NT v1 lists <eos>/<bos> past its table; they are never emitted.
            Tokenizer::Nt(_) => tokenizer.table_rows_needed() <= config.vocab_size,
            _ => tokenizer.vocab_size() == config.vocab_size,
        };
        if !fits {
            return Err(Error::Invalid(format!(
                "{origin}: {tokenizer_name} has {} tokens but config.json says vocab_size {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        Ok(Self {
            config,
            tokenizer,
            weights,
            config_json,
            tokenizer_file,
        })
    }
}
