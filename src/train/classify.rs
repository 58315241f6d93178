//! Sequence classification training (BertForSequenceClassification, as GUE
//! fine-tuning uses): `logits = drop(tanh(x[CLS] Wp^T + bp)) Wc^T + bc`,
//! cross-entropy over the classes, and its backward into the encoder. A
//! model saved from MLM pretraining has no pooler or classifier: they start
//! fresh (N(0, 0.02²) weights, zero biases), as docs/models/dnabert2.md says.

use crate::error::{Error, Result};
use crate::model::adapter::Adapter;
use crate::model::encoder::{Encoder, Family};
use crate::model::layers::Linear;
use crate::model::lora::Lora;
use crate::model::HostTensor;
use crate::model::{Classifier, Config, Dropout, HeadNames, Pooler, Precision, Weights};
use crate::ops::{self, Epilogue, RowIndex};
use crate::rng::Rng;
use crate::{Device, Tensor};
use std::collections::BTreeMap;

use super::encoder_pass::{encoder_backward, encoder_backward_lora, encoder_forward_lora};

pub struct ClsModel {
    pub config: Config,
    pub encoder: Encoder,
    pub pooler: Pooler,
    pub classifier: Classifier,
    /// With adapters, only they and the head are trained (the encoder is
    /// frozen); without, every parameter is.
    pub lora: Option<Lora>,
}

/// The classification head's tensors: the pooler and the classifier.
pub const CLASSIFIER_PREFIXES: [&str; 2] = ["bert.pooler.", "classifier."];
/// Tensors outside the encoder: the classification head and the MLM head
/// (BERT's `cls.`, ESM's `lm_head.`).
const HEAD_PREFIXES: [&str; 4] = ["bert.pooler.", "classifier.", "cls.", "lm_head."];

/// Accepts the head tensors the classifier did not use (the MLM head, a
/// classifier of another size); any other tensor left in `w` is an error.
fn check_only_heads_left(w: &Weights) -> Result<()> {
    for name in w.names().map(String::from).collect::<Vec<_>>() {
        if HEAD_PREFIXES.iter().any(|p| name.starts_with(p)) {
            let shape = w.shape_of(&name).unwrap_or(&[]).to_vec();
            w.take(&name, &shape)?;
        }
    }
    w.check_all_taken()
}

/// A linear layer initialised for training from scratch.
fn fresh_linear(dev: &Device, out: usize, inp: usize, rng: &mut Rng) -> Result<Linear> {
    let w: Vec<f32> = (0..out * inp)
        .map(|_| (rng.normal() * 0.02) as f32)
        .collect();
    Ok(Linear {
        weight: dev.tensor_f32(&[out, inp], &w)?,
        bias: Some(dev.tensor_f32(&[out], &vec![0.0; out])?),
    })
}

impl ClsModel {
    /// The encoder of `w` with its pooler and a `classes`-way classifier,
    /// both loaded when `w` has them with the right shapes, else fresh
    /// (`seed`). MLM head tensors in `w` are accepted and left out.
    pub fn load(
        dev: &Device,
        cfg: &Config,
        w: &Weights,
        classes: usize,
        seed: u64,
    ) -> Result<Self> {
        Self::load_with(dev, cfg, w, classes, seed, Precision::F32)
    }

    /// [`ClsModel::load`] with the encoder's weight matrices stored in
    /// `precision` (f16: for LoRA, which leaves them frozen; the head stays
    /// f32).
    pub fn load_with(
        dev: &Device,
        cfg: &Config,
        w: &Weights,
        classes: usize,
        seed: u64,
        precision: Precision,
    ) -> Result<Self> {
        let encoder = Encoder::load_with(dev, cfg, w, precision)?;
        let model = Self::on_encoder(dev, cfg, encoder, w, classes, seed)?;
        // The MLM head and a classifier of another size are not used.
        check_only_heads_left(w)?;
        Ok(model)
    }

    /// A classifier on an encoder already on the device (shared, not
    /// copied: the browser keeps one encoder for embedding, classifying
    /// and fine-tuning). The pooler and classifier come from `head` when it
    /// has them with the right shapes, else start fresh (`seed`).
    pub fn on_encoder(
        dev: &Device,
        cfg: &Config,
        encoder: Encoder,
        head: &Weights,
        classes: usize,
        seed: u64,
    ) -> Result<Self> {
        if classes < 2 {
            return Err(Error::Invalid(format!(
                "a classifier needs at least 2 classes, the data has {classes}"
            )));
        }
        let h = cfg.hidden_size;
        let mut rng = Rng::new(seed ^ 0xC1A5_51F1);
        let names = HeadNames::of(encoder.family);
        let pooler = if head.contains(&format!("{}.weight", names.pooler)) {
            Pooler::load_from(dev, cfg, head, names.pooler)?
        } else {
            Pooler {
                dense: fresh_linear(dev, h, h, &mut rng)?,
            }
        };
        let keep_head = head.shape_of(&names.classifier_weight()) == Some(&[classes, h][..]);
        let classifier = if keep_head {
            let mut c = cfg.clone();
            c.num_labels = Some(classes);
            c.id2label = None;
            Classifier::load_from(dev, &c, head, names.classifier)?
        } else {
            Classifier {
                linear: fresh_linear(dev, classes, h, &mut rng)?,
                num_labels: classes,
            }
        };
        Ok(Self {
            config: cfg.clone(),
            encoder,
            pooler,
            classifier,
            lora: None,
        })
    }

    /// The base model `w` with a PEFT adapter: its LoRA weights, and its
    /// pooler and classifier in place of the base's.
    pub fn load_with_adapter(
        dev: &Device,
        cfg: &Config,
        w: &Weights,
        adapter: &Adapter,
    ) -> Result<Self> {
        adapter.check_against(cfg, w)?;
        let encoder = Encoder::load(dev, cfg, w)?;
        let model = Self::on_encoder_with_adapter(dev, cfg, encoder, w, adapter)?;
        check_only_heads_left(w)?;
        Ok(model)
    }

    /// `encoder` (already on the device; see [`Self::on_encoder`]) with a
    /// PEFT adapter (checked against the base by the caller): its LoRA
    /// weights, and its pooler and classifier in place of those in
    /// `base_head`, the base model's head tensors (if any).
    pub fn on_encoder_with_adapter(
        dev: &Device,
        cfg: &Config,
        encoder: Encoder,
        base_head: &Weights,
        adapter: &Adapter,
    ) -> Result<Self> {
        let mut map = std::collections::BTreeMap::new();
        for name in base_head.names() {
            if CLASSIFIER_PREFIXES.iter().any(|p| name.starts_with(p)) {
                let shape = base_head.shape_of(name).unwrap_or(&[]).to_vec();
                map.insert(name.to_string(), base_head.take(name, &shape)?.clone());
            }
        }
        for (n, t) in &adapter.head {
            map.insert(n.clone(), t.clone());
        }
        let classes = map
            .get(&HeadNames::of(encoder.family).classifier_weight())
            .map(|t| t.shape[0])
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: neither the adapter nor the model has a classifier",
                    base_head.origin()
                ))
            })?;
        let head = Weights::new(map, base_head.origin());
        let mut m = Self::on_encoder(dev, cfg, encoder, &head, classes, 0)?;
        m.lora = Some(Lora::from_adapter(dev, &m.encoder, adapter)?);
        Ok(m)
    }

    /// The trained adapter in PEFT's form (LoRA weights + the head under
    /// `modules_to_save`).
    pub async fn to_adapter(&mut self, dev: &Device) -> Result<Adapter> {
        let Some(lora) = &self.lora else {
            return Err(Error::Invalid("the model has no LoRA adapters".into()));
        };
        let config = lora.config.clone();
        let lora_host = lora.to_host(dev).await?;
        let head_params: Vec<Tensor> = self.head_mut().into_iter().map(|t| t.clone()).collect();
        let head = super::read_named(dev, &self.head_names(), &head_params).await?;
        Ok(Adapter {
            config,
            lora: lora_host,
            head,
        })
    }

    pub fn classes(&self) -> usize {
        self.classifier.num_labels
    }

    /// Parameter names: the encoder's (`mlm::encoder_param_names`: BERT's
    /// and ESM's query/key/value as one fused Wqkv), then the pooler's and
    /// classifier's.
    pub fn names(&self) -> Vec<String> {
        let mut n = super::mlm::encoder_param_names(&self.encoder);
        n.extend(self.head_names());
        n
    }

    /// Every parameter read back under its checkpoint name (fused Wqkv split
    /// back into query, key and value where the family stores them so).
    pub async fn to_host(&mut self, dev: &Device) -> Result<BTreeMap<String, HostTensor>> {
        let params = self.params();
        let mut map = super::read_named(dev, &self.names(), &params).await?;
        if self.encoder.family != Family::Dnabert2 {
            let root = crate::model::lora::layers_root(self.encoder.family);
            for l in 0..self.encoder.layers.len() {
                let p = format!("{root}.{l}.attention.self");
                let parts = ["query", "key", "value"].map(|n| format!("{p}.{n}"));
                Linear::split_concat(&mut map, &format!("{p}.Wqkv"), &parts)?;
            }
        }
        Ok(map)
    }

    /// The head's four tensors under the family's names.
    fn head_names(&self) -> [String; 4] {
        HeadNames::of(self.encoder.family).tensors()
    }

    /// What training updates: every parameter, or with LoRA the adapters
    /// (PEFT names without `base_model.model.`) and the head.
    pub fn trainable_names(&self) -> Vec<String> {
        match &self.lora {
            None => self.names(),
            Some(l) => l
                .named()
                .into_iter()
                .map(|(n, _)| n)
                .chain(self.head_names())
                .collect(),
        }
    }

    pub fn trainable_params(&mut self) -> Vec<Tensor> {
        match &self.lora {
            None => self.params(),
            Some(l) => {
                let mut out: Vec<Tensor> = l.named().into_iter().map(|(_, t)| t).collect();
                out.extend(self.head_mut().into_iter().map(|t| t.clone()));
                out
            }
        }
    }

    pub fn set_trainable(&mut self, params: Vec<Tensor>) -> Result<()> {
        if self.lora.is_none() {
            return self.set_params(params);
        }
        let mut params = params;
        if params.len() < 4 {
            return Err(Error::Invalid("too few parameters".into()));
        }
        let head = params.split_off(params.len() - 4);
        self.lora.as_mut().expect("checked").set(params)?;
        self.set_head(head)
    }

    fn set_head(&mut self, head: Vec<Tensor>) -> Result<()> {
        for (slot, t) in self.head_mut().into_iter().zip(head) {
            if slot.shape() != t.shape() {
                return Err(Error::Invalid(format!(
                    "head parameter {:?} replaced by {:?}",
                    slot.shape(),
                    t.shape()
                )));
            }
            *slot = t;
        }
        Ok(())
    }

    /// Drops the CPU backend's packed panels of what training updates (as
    /// [`super::mlm::MlmModel::drop_panels`]); LoRA's frozen base weights
    /// keep theirs.
    pub(crate) fn drop_trainable_panels(&mut self) {
        if self.lora.is_none() {
            super::mlm::visit_encoder(&mut self.encoder, &mut |t| t.packed = None);
        }
        for t in self.head_mut() {
            t.packed = None;
        }
    }

    /// The head's four parameters (pooler, classifier).
    fn head_mut(&mut self) -> [&mut Tensor; 4] {
        let p = &mut self.pooler.dense;
        let c = &mut self.classifier.linear;
        [
            &mut p.weight,
            p.bias.as_mut().expect("pooler bias"),
            &mut c.weight,
            c.bias.as_mut().expect("classifier bias"),
        ]
    }

    /// Every parameter, in [`ClsModel::names`] order.
    pub fn params(&mut self) -> Vec<Tensor> {
        let mut out = super::mlm::encoder_params(&mut self.encoder);
        out.extend(self.head_mut().into_iter().map(|t| t.clone()));
        out
    }

    pub fn set_params(&mut self, params: Vec<Tensor>) -> Result<()> {
        let n_head = 4;
        if params.len() < n_head {
            return Err(Error::Invalid("too few parameters".into()));
        }
        let split = params.len() - n_head;
        let mut params = params;
        let head = params.split_off(split);
        super::mlm::set_encoder_params(&mut self.encoder, params)?;
        self.set_head(head)
    }
}

/// One classification batch on the device.
pub struct ClsBatch {
    pub batch: usize,
    pub seq: usize,
    pub ids: Tensor,
    pub mask: Tensor,
    pub ids_index: RowIndex,
    /// Row b * T of each sequence ([CLS]) in the flattened [B * T, H] states.
    pub cls_rows: Tensor,
    pub cls_index: RowIndex,
    /// [B] u32
    pub labels: Tensor,
    pub labels_host: Vec<u32>,
}

impl ClsBatch {
    /// Pads `seqs` (token ids with [CLS]/[SEP]) into [B, longest].
    pub fn new(dev: &Device, seqs: &[Vec<u32>], labels: &[u32], vocab: usize) -> Result<Self> {
        Self::padded(dev, seqs, labels, vocab, 0)
    }

    /// [`ClsBatch::new`] padded to at least `width` tokens (a data-parallel
    /// rank's share, as wide as the whole batch, so that its dropout masks
    /// are the whole batch's).
    pub fn padded(
        dev: &Device,
        seqs: &[Vec<u32>],
        labels: &[u32],
        vocab: usize,
        width: usize,
    ) -> Result<Self> {
        let b = seqs.len();
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0).max(width);
        if b == 0 || t == 0 || labels.len() != b {
            return Err(Error::Invalid(format!(
                "a classification batch of {b} sequences (longest {t} tokens) and {} labels",
                labels.len()
            )));
        }
        let mut ids = vec![super::masking::PAD; b * t];
        let mut mask = vec![0u32; b * t];
        for (i, s) in seqs.iter().enumerate() {
            ids[i * t..i * t + s.len()].copy_from_slice(s);
            mask[i * t..i * t + s.len()].iter_mut().for_each(|m| *m = 1);
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::Invalid(format!(
                "token id {bad} is past the vocabulary ({vocab})"
            )));
        }
        let cls: Vec<u32> = (0..b).map(|i| (i * t) as u32).collect();
        Ok(Self {
            batch: b,
            seq: t,
            ids: dev.tensor_u32(&[b, t], &ids)?,
            mask: dev.tensor_u32(&[b, t], &mask)?,
            ids_index: RowIndex::new(dev, &ids, vocab)?,
            cls_rows: dev.tensor_u32(&[b], &cls)?,
            cls_index: RowIndex::new(dev, &cls, b * t)?,
            labels: dev.tensor_u32(&[b], labels)?,
            labels_host: labels.to_vec(),
        })
    }
}

/// The classifier's logits [B, C] (dropout off).
pub fn cls_logits(dev: &Device, model: &ClsModel, batch: &ClsBatch) -> Result<Tensor> {
    let states = model.encoder.forward_with(
        dev,
        &batch.ids,
        &batch.mask,
        |_| false,
        crate::model::encoder::Extras {
            lora: model.lora.as_ref(),
            token_dropout: None,
        },
    )?;
    let x = &states.last().expect("last layer").1;
    let h = model.config.hidden_size;
    let cls = ops::embedding(
        dev,
        &batch.cls_rows,
        &x.reshape(&[batch.batch * batch.seq, h])?,
    )?;
    let pooled = ops::tanh(dev, &model.pooler.dense.forward(dev, &cls, Epilogue::None)?)?;
    model
        .classifier
        .linear
        .forward(dev, &pooled, Epilogue::None)
}

/// Loss rows [B] and the gradient of every trainable parameter
/// ([`ClsModel::trainable_names`] order) of the summed cross-entropy times
/// `grad_scale`.
pub fn cls_forward_backward(
    dev: &Device,
    model: &ClsModel,
    batch: &ClsBatch,
    grad_scale: f32,
    dropout: &Dropout,
) -> Result<(Tensor, Vec<Tensor>)> {
    let (b, t, h) = (batch.batch, batch.seq, model.config.hidden_size);
    // LoRA's masks: their own seed, the batch's window.
    let lora_seed = Dropout {
        seed: dropout.seed ^ 0x4C4F_5241,
        ..*dropout
    };
    let lora = model.lora.as_ref().map(|l| (l, lora_seed));
    let acts = encoder_forward_lora(dev, &model.encoder, &batch.ids, &batch.mask, dropout, lora)?;
    let cls = ops::embedding(dev, &batch.cls_rows, &acts.output.reshape(&[b * t, h])?)?;
    // EsmClassificationHead drops out its input; BERT's pooler does not.
    let head_drop = match model.encoder.family {
        Family::Esm => dropout,
        Family::Dnabert2 | Family::Bert => &Dropout::OFF,
    };
    let cls = head_drop.apply(dev, &cls, Dropout::HEAD_INPUT)?;
    let z = model.pooler.dense.forward(dev, &cls, Epilogue::None)?;
    let pooled = ops::tanh(dev, &z)?;
    let dropped = dropout.apply(dev, &pooled, Dropout::POOLER)?;
    let logits = model
        .classifier
        .linear
        .forward(dev, &dropped, Epilogue::None)?;
    let ce = ops::cross_entropy(dev, &logits, &batch.labels, grad_scale)?;

    let g_c = model
        .classifier
        .linear
        .backward(dev, &dropped, &ce.dlogits)?;
    let dpooled = dropout.apply(dev, &g_c.dx, Dropout::POOLER)?;
    let dz = ops::tanh_backward(dev, &pooled, &dpooled)?;
    let g_p = model.pooler.dense.backward(dev, &cls, &dz)?;
    let dcls = head_drop.apply(dev, &g_p.dx, Dropout::HEAD_INPUT)?;
    let dx = ops::embedding_backward(dev, &batch.cls_index, &dcls)?.reshape(&[b, t, h])?;
    let mut grads = match &model.lora {
        None => encoder_backward(
            dev,
            &model.encoder,
            &acts,
            &batch.ids_index,
            &batch.mask,
            dx,
            dropout,
        )?,
        Some(l) => encoder_backward_lora(
            dev,
            &model.encoder,
            &acts,
            &batch.mask,
            dx,
            dropout,
            l,
            lora_seed,
        )?,
    };
    grads.extend([
        g_p.dweight,
        g_p.dbias.expect("pooler bias"),
        g_c.dweight,
        g_c.dbias.expect("classifier bias"),
    ]);
    Ok((ce.loss, grads))
}
