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

pub use classifier::{Classifier, HeadNames, Pooler};

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
        // BertForSequenceClassification's pooler and classifier, or
        // EsmForSequenceClassification's dense + tanh on the first token and
        // out_proj: the same math under the family's names.
        let head = HeadNames::of(encoder.family);
        let pooler = if w.contains(&format!("{}.weight", head.pooler)) {
            Some(Pooler::load_from(dev, cfg, w, head.pooler)?)
        } else {
            None
        };
        let classifier = if w.contains(&head.classifier_weight()) {
            if pooler.is_none() {
                return Err(crate::Error::Invalid(format!(
                    "{}: {} without {}.weight",
                    w.origin(),
                    head.classifier_weight(),
                    head.pooler
                )));
            }
            Some(Classifier::load_from(dev, cfg, w, head.classifier)?)
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
