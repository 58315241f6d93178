//! DNABERT-2: configuration, checkpoint weights, the encoder and its heads.

pub mod adapter;
pub mod classifier;
pub mod config;
pub mod dropout;
pub mod encoder;
pub mod esm;
pub mod init;
pub mod io;
pub mod layers;
pub mod layers_backward;
pub mod lora;
#[cfg(not(target_arch = "wasm32"))]
pub mod source;

pub use config::Config;
pub use dropout::Dropout;
pub use encoder::{Encoder, MlmHead};
pub use io::{HostTensor, Weights};

use crate::error::Result;
use crate::Device;

pub use classifier::{Classifier, HeadNames, Pooler};

/// How the encoder layers' weight matrices (every linear layer's weight,
/// ~97% of a model's parameters) are stored on the device; everything else
/// (embeddings, norms, biases, heads, activations) and all arithmetic stay
/// f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// Half the weight memory; each value rounded to f16 once at load.
    F16,
}

impl Precision {
    pub fn matrix_dtype(self) -> crate::DType {
        match self {
            Precision::F32 => crate::DType::F32,
            Precision::F16 => crate::DType::F16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            other => Err(crate::Error::Invalid(format!(
                "precision `{other}`: expected f32 or f16"
            ))),
        }
    }
}

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
        Self::load_with(dev, cfg, w, Precision::F32)
    }

    /// [`Model::load`] with the encoder's weight matrices stored in `precision`.
    pub fn load_with(
        dev: &Device,
        cfg: &Config,
        w: &Weights,
        precision: Precision,
    ) -> Result<Self> {
        let encoder = Encoder::load_with(dev, cfg, w, precision)?;
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
