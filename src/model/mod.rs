//! DNABERT-2: configuration, checkpoint weights, the encoder and its heads.

pub mod config;
pub mod encoder;
#[cfg(not(target_arch = "wasm32"))]
pub mod folder;
pub mod init;
pub mod layers;
pub mod weights;

pub use config::Config;
pub use encoder::{Encoder, MlmHead};
pub use weights::{HostTensor, Weights};

use crate::error::Result;
use crate::Device;

/// Heads whose weights may be present in a checkpoint but are not loaded yet.
const NOT_LOADED: &[&str] = &["bert.pooler.", "classifier."];

/// An encoder with the MLM head when the checkpoint has one.
pub struct Model {
    pub encoder: Encoder,
    pub mlm: Option<MlmHead>,
}

impl Model {
    /// Loads every tensor of `w` onto `dev`; a missing, mis-shaped or
    /// unexpected tensor is an error naming it.
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let encoder = Encoder::load(dev, cfg, w)?;
        let mlm = if w.contains("cls.predictions.transform.dense.weight") {
            Some(MlmHead::load(dev, cfg, w)?)
        } else {
            None
        };
        if w.contains("cls.predictions.decoder.weight") {
            // Tied to the word embeddings: only its shape is checked.
            w.take(
                "cls.predictions.decoder.weight",
                &[cfg.vocab_size, cfg.hidden_size],
            )?;
        }
        w.check_all_taken(NOT_LOADED)?;
        Ok(Self { encoder, mlm })
    }
}
