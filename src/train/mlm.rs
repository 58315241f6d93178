//! The model being pretrained (encoder + MLM head) seen as one ordered list
//! of parameters: the order and names of `model::init::parameter_shapes`,
//! the tied decoder weight counted once (as the word embeddings). Gradients,
//! optimizer state and checkpoints all use this order.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::init::parameter_shapes;
use crate::model::{Config, Encoder, HostTensor, MlmHead, Weights};
use crate::{Device, Tensor};

pub struct MlmModel {
    pub config: Config,
    pub encoder: Encoder,
    pub head: MlmHead,
}

impl MlmModel {
    /// Loads an MLM model; a pooler or classifier in `w` is accepted and left
    /// out (pretraining does not train them).
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let encoder = Encoder::load(dev, cfg, w)?;
        super::encoder_pass::trainable(&encoder)?;
        if !w.contains("cls.predictions.transform.dense.weight") {
            return Err(Error::Invalid(format!(
                "{}: no MLM head (cls.predictions.*): pretraining needs a masked-language model",
                w.origin()
            )));
        }
        let head = MlmHead::load(dev, cfg, w)?;
        if w.contains("cls.predictions.decoder.weight") {
            w.take(
                "cls.predictions.decoder.weight",
                &[cfg.vocab_size, cfg.hidden_size],
            )?;
        }
        Ok(Self {
            config: cfg.clone(),
            encoder,
            head,
        })
    }

    /// Parameter names, in the order of [`MlmModel::params`].
    pub fn names(&self) -> Vec<String> {
        parameter_shapes(&self.config)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Every parameter tensor (cheap clones), in the order of [`MlmModel::names`].
    pub fn params(&mut self) -> Vec<Tensor> {
        let mut out = Vec::new();
        self.visit(&mut |t| out.push(t.clone()));
        out
    }

    /// Replaces every parameter, in the order of [`MlmModel::names`].
    pub fn set_params(&mut self, params: Vec<Tensor>) -> Result<()> {
        replace_all(|f| self.visit(f), params)
    }

    /// Reads every parameter back, by name, plus the tied decoder weight
    /// under its own name (as Hugging Face checkpoints hold it).
    pub async fn to_host(&mut self, dev: &Device) -> Result<BTreeMap<String, HostTensor>> {
        let params = self.params();
        let mut map = super::read_named(dev, &self.names(), &params).await?;
        let word = map["bert.embeddings.word_embeddings.weight"].clone();
        map.insert("cls.predictions.decoder.weight".into(), word);
        Ok(map)
    }

    /// Visits every parameter in the order of `parameter_shapes`.
    fn visit(&mut self, f: &mut dyn FnMut(&mut Tensor)) {
        visit_encoder(&mut self.encoder, f);
        let h = &mut self.head;
        f(&mut h.transform.weight);
        if let Some(b) = &mut h.transform.bias {
            f(b);
        }
        f(&mut h.norm.weight);
        f(&mut h.norm.bias);
        f(&mut h.decoder_bias);
    }
}

/// Visits the encoder's parameters (`bert.embeddings.*`, `bert.encoder.*`)
/// in the order of `parameter_shapes`.
fn visit_encoder(enc: &mut Encoder, f: &mut dyn FnMut(&mut Tensor)) {
    let e = &mut enc.embeddings;
    f(&mut e.word);
    // DNABERT-2 layouts (the trained ones) have both.
    if let Some(t) = &mut e.token_type {
        f(t);
    }
    if let Some(n) = &mut e.norm {
        f(&mut n.weight);
        f(&mut n.bias);
    }
    for l in &mut enc.layers {
        for lin in [&mut l.wqkv, &mut l.attn_out] {
            f(&mut lin.weight);
            if let Some(b) = &mut lin.bias {
                f(b);
            }
        }
        f(&mut l.attn_norm.weight);
        f(&mut l.attn_norm.bias);
        for lin in [&mut l.gated, &mut l.wo] {
            f(&mut lin.weight);
            if let Some(b) = &mut lin.bias {
                f(b);
            }
        }
        f(&mut l.mlp_norm.weight);
        f(&mut l.mlp_norm.bias);
    }
}

/// The encoder's parameters (cheap clones), in `parameter_shapes` order.
pub(crate) fn encoder_params(enc: &mut Encoder) -> Vec<Tensor> {
    let mut out = Vec::new();
    visit_encoder(enc, &mut |t| out.push(t.clone()));
    out
}

/// Replaces the encoder's parameters, in `parameter_shapes` order.
pub(crate) fn set_encoder_params(enc: &mut Encoder, params: Vec<Tensor>) -> Result<()> {
    replace_all(|f| visit_encoder(enc, f), params)
}

/// Feeds `params` to the slots `visit` walks, checking count and shapes.
fn replace_all(visit: impl FnOnce(&mut dyn FnMut(&mut Tensor)), params: Vec<Tensor>) -> Result<()> {
    let mut it = params.into_iter();
    let mut err = None;
    visit(&mut |t| match it.next() {
        Some(p) if p.shape() == t.shape() => *t = p,
        Some(p) => {
            err.get_or_insert(format!(
                "parameter {:?} replaced by {:?}",
                t.shape(),
                p.shape()
            ));
        }
        None => {
            err.get_or_insert("too few parameters".to_string());
        }
    });
    match (err, it.next()) {
        (None, None) => Ok(()),
        (Some(e), _) => Err(Error::Invalid(e)),
        (None, Some(_)) => Err(Error::Invalid("too many parameters".into())),
    }
}
