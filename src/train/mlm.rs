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
        if !encoder.is_dnabert2() {
            return Err(Error::Invalid(format!(
                "{}: pretraining runs DNABERT-2-architecture models; DNABERT and Nucleotide Transformer checkpoints fine-tune (finetune --mode lora or full)",
                w.origin()
            )));
        }
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

    /// Drops the CPU backend's packed panels of every parameter (they are
    /// all trained): a step computes the same way whether its weights were
    /// loaded (a start, a `--resume`) or updated, so a resumed run repeats
    /// the uninterrupted one exactly.
    pub(crate) fn drop_panels(&mut self) {
        self.visit(&mut |t| t.packed = None);
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

/// Visits the encoder's parameters in the order of [`encoder_param_names`]
/// (for DNABERT-2, `parameter_shapes`'s): the embeddings' (word, position,
/// token type, LayerNorm, as the family has them), each layer's, a final
/// norm's.
pub(super) fn visit_encoder(enc: &mut Encoder, f: &mut dyn FnMut(&mut Tensor)) {
    let e = &mut enc.embeddings;
    f(&mut e.word);
    if let Some(t) = &mut e.position {
        f(t);
    }
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
    if let Some(n) = &mut enc.final_norm {
        f(&mut n.weight);
        f(&mut n.bias);
    }
}

/// The encoder's parameter names in [`visit_encoder`]'s order, as the
/// family's checkpoints name them, except that BERT's and ESM's query, key
/// and value are the one fused `attention.self.Wqkv` they are on the device
/// (`model::encoder::split_fused_qkv` names them back when saving).
pub fn encoder_param_names(enc: &Encoder) -> Vec<String> {
    use crate::model::encoder::Family;
    let family = enc.family;
    let root = if family == Family::Esm { "esm" } else { "bert" };
    let layers = crate::model::lora::layers_root(family);
    let e = &enc.embeddings;
    let mut n = vec![format!("{root}.embeddings.word_embeddings.weight")];
    if e.position.is_some() {
        n.push(format!("{root}.embeddings.position_embeddings.weight"));
    }
    if e.token_type.is_some() {
        n.push("bert.embeddings.token_type_embeddings.weight".into());
    }
    if e.norm.is_some() {
        n.push("bert.embeddings.LayerNorm.weight".into());
        n.push("bert.embeddings.LayerNorm.bias".into());
    }
    // (attention output norm, first linear, second linear, feed-forward norm)
    let [n1, gated, wo, n2] = match family {
        Family::Dnabert2 => [
            "attention.output.LayerNorm",
            "mlp.gated_layers",
            "mlp.wo",
            "mlp.layernorm",
        ],
        Family::Bert => [
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ],
        Family::Esm => [
            "attention.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "LayerNorm",
        ],
    };
    for (l, layer) in enc.layers.iter().enumerate() {
        let p = format!("{layers}.{l}");
        let linear = |n: &mut Vec<String>, name: &str, lin: &crate::model::layers::Linear| {
            n.push(format!("{p}.{name}.weight"));
            if lin.bias.is_some() {
                n.push(format!("{p}.{name}.bias"));
            }
        };
        let norm = |n: &mut Vec<String>, name: &str| {
            n.push(format!("{p}.{name}.weight"));
            n.push(format!("{p}.{name}.bias"));
        };
        linear(&mut n, "attention.self.Wqkv", &layer.wqkv);
        linear(&mut n, "attention.output.dense", &layer.attn_out);
        norm(&mut n, n1);
        linear(&mut n, gated, &layer.gated);
        linear(&mut n, wo, &layer.wo);
        norm(&mut n, n2);
    }
    if enc.final_norm.is_some() {
        n.push("esm.encoder.emb_layer_norm_after.weight".into());
        n.push("esm.encoder.emb_layer_norm_after.bias".into());
    }
    n
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
