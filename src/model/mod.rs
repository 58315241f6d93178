//! DNABERT-2: configuration, checkpoint weights, the encoder and its heads.

pub mod adapter;
pub mod classifier;
pub mod config;
pub mod dropout;
pub mod encoder;
pub mod esm;
pub mod folder;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;
pub mod init;
pub mod layers;
pub mod layers_backward;
pub mod lora;
pub mod torch_bin;
pub mod weights;

pub use config::Config;
pub use dropout::Dropout;
pub use encoder::{Encoder, MlmHead};
pub use weights::{HostTensor, Weights};

use crate::error::Result;
use crate::Device;

pub use classifier::{Classifier, Pooler};

/// An encoder with the heads the checkpoint has: MLM, pooler, classifier.
pub struct Model {
    pub encoder: Encoder,
    pub mlm: Option<MlmHead>,
    pub pooler: Option<Pooler>,
    pub classifier: Option<Classifier>,
}

impl Model {
    /// Loads every tensor of `w` onto `dev`; a missing, mis-shaped or
    /// unexpected tensor is an error naming it.
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let encoder = Encoder::load(dev, cfg, w)?;
        let mlm = if w.contains("cls.predictions.transform.dense.weight") {
            Some(MlmHead::load(dev, cfg, w)?)
        } else if w.contains("lm_head.dense.weight") {
            Some(MlmHead::load_esm(dev, cfg, w)?)
        } else {
            None
        };
        if w.contains("cls.predictions.bias") {
            // BERT stores the decoder's bias under both names (tied).
            w.take("cls.predictions.bias", &[cfg.vocab_size])?;
        }
        if w.contains("cls.predictions.decoder.weight") {
            // Tied to the word embeddings: only its shape is checked.
            w.take(
                "cls.predictions.decoder.weight",
                &[cfg.vocab_size, cfg.hidden_size],
            )?;
        }
        // EsmForSequenceClassification: dense + tanh on the first token,
        // then out_proj: the pooler and classifier under other names.
        if w.contains("classifier.out_proj.weight") {
            let pooler = Pooler::load_from(dev, cfg, w, "classifier.dense")?;
            let classifier = Classifier::load_from(dev, cfg, w, "classifier.out_proj")?;
            w.check_all_taken()?;
            return Ok(Self {
                encoder,
                mlm,
                pooler: Some(pooler),
                classifier: Some(classifier),
            });
        }
        let pooler = if w.contains("bert.pooler.dense.weight") {
            Some(Pooler::load(dev, cfg, w)?)
        } else {
            None
        };
        let classifier = if w.contains("classifier.weight") {
            if pooler.is_none() {
                return Err(crate::Error::Invalid(format!(
                    "{}: classifier.weight without bert.pooler.dense.weight",
                    w.origin()
                )));
            }
            Some(Classifier::load(dev, cfg, w)?)
        } else {
            None
        };
        w.check_all_taken()?;
        Ok(Self {
            encoder,
            mlm,
            pooler,
            classifier,
        })
    }
}
