//! Fine-tuning a sequence classifier: one AdamW step per batch (clipped,
//! scheduled), and evaluation (class probabilities and the mean loss).

use super::classify::{cls_forward_backward, cls_logits, ClsBatch, ClsModel};
use super::distributed::{step_gradients, Distributed};
use super::labelled::LabelledSet;
use super::loss_scale::{judge, LossScale, ScaledStep};
use super::mixed::half_encoder;
use super::optimizer::{AdamW, AdamWConfig};
use super::schedule::Schedule;
use super::split::{accumulate, part_seed, step_error, Accumulated};
use crate::error::{Error, Result};
use crate::metrics::{argmax, Confusion, Metrics};
use crate::model::Dropout;
use crate::rng::derive_seed;
use crate::{ops, Device};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FineTuneOptions {
    pub schedule: Schedule,
    pub max_grad_norm: f64,
    pub dropout: f32,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FineTuneStep {
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Mixed precision: the step's gradients overflowed at this loss scale,
    /// so it was skipped (the model unchanged, `step` not advanced) and the
    /// scale halved.
    pub skipped_at_scale: Option<f32>,
}

/// The peak learning rate is a positive number.
pub fn check_peak_lr(peak: f64) -> Result<()> {
    if !(peak.is_finite() && peak > 0.0) {
        return Err(Error::Invalid(format!(
            "learning rate (--lr) {peak}: it must be a positive number"
        )));
    }
    Ok(())
}

pub struct FineTuner {
    /// The model (full training in mixed precision: the f32 masters).
    pub model: ClsModel,
    pub optimizer: AdamW,
    pub options: FineTuneOptions,
    /// Mixed precision ([`FineTuner::mixed_precision`]): the loss scale.
    pub loss_scale: Option<LossScale>,
    /// Mixed precision: the model the steps compute with, made by the first
    /// step after each update — full training: f16 copies of the layer
    /// weights; LoRA beside f16 weights with half-precision activations: f16
    /// copies of the adapters.
    half: Option<ClsModel>,
    /// Data-parallel training: this rank's link to the others.
    dist: Option<Arc<Distributed>>,
}

impl FineTuner {
    pub fn new(
        dev: &Device,
        mut model: ClsModel,
        adamw: AdamWConfig,
        options: FineTuneOptions,
    ) -> Result<Self> {
        check_peak_lr(options.schedule.peak)?;
        model.drop_trainable_panels();
        let names = model.trainable_names();
        let optimizer = AdamW::new(dev, &names, &model.trainable_params(), adamw)?;
        Ok(Self {
            model,
            optimizer,
            options,
            loss_scale: None,
            half: None,
            dist: None,
        })
    }

    /// Trains as one rank of several: each step's batch is the global one,
    /// of which this rank computes its sequences' gradients.
    pub fn distributed(mut self, dist: Arc<Distributed>) -> Self {
        self.dist = Some(dist);
        self
    }

    /// Trains in mixed precision (`--precision f16`): loss scaling, and
    /// each step computing with f16 copies — in full training of the f32
    /// layer weights; with LoRA (the encoder as loaded: f16 and frozen) of
    /// the adapters, where the device keeps activations in f16.
    pub fn mixed_precision(mut self) -> Self {
        self.loss_scale = Some(LossScale::default());
        self
    }

    /// The model a step computes with.
    fn compute_model(&mut self, dev: &Device) -> Result<&ClsModel> {
        if self.loss_scale.is_none() {
            return Ok(&self.model);
        }
        let m = &self.model;
        if m.lora.is_some() && !m.encoder.half_activations(dev) {
            return Ok(&self.model);
        }
        if self.half.is_none() {
            let (encoder, lora) = match &m.lora {
                Some(l) => (m.encoder.clone(), Some(l.half(dev)?)),
                None => (half_encoder(dev, &m.encoder)?, None),
            };
            self.half = Some(ClsModel {
                config: m.config.clone(),
                encoder,
                pooler: m.pooler.clone(),
                classifier: m.classifier.clone(),
                lora,
            });
        }
        Ok(self.half.as_ref().unwrap_or(&self.model))
    }

    pub fn step(&self) -> u64 {
        self.optimizer.step as u64
    }

    /// One step on one batch: the mean cross-entropy over its sequences.
    pub async fn train_step(
        &mut self,
        dev: &Device,
        seqs: &[Vec<u32>],
        labels: &[u32],
    ) -> Result<FineTuneStep> {
        let step = self.step() + 1;
        let seed = derive_seed(self.options.seed, 5, step);
        let loss_scale = self.loss_scale.map_or(1.0, |s| s.scale);
        let scale = loss_scale / seqs.len() as f32;
        let mut acc = Accumulated::default();
        let dropout_p = self.options.dropout;
        let (mine, shard, width) = match &self.dist {
            None => (0..seqs.len(), None, 0),
            Some(d) => {
                let width = seqs.iter().map(Vec::len).max().unwrap_or(0);
                (d.shard(seqs.len()), Some(seqs.len()), width)
            }
        };
        let model = self.compute_model(dev).map_err(|e| step_error(e, step))?;
        // One process: the whole batch; a rank: its sequences, with the
        // dropout masks they have in the whole batch.
        let (seqs_here, labels_here) = (&seqs[mine.clone()], &labels[mine.clone()]);
        // Out of GPU memory, the batch runs as smaller micro-batches.
        accumulate(dev, step, seqs_here.len(), &mut acc, |r, part| {
            if r.is_empty() {
                return Ok(None);
            }
            let vocab = model.config.vocab_size;
            let (s, l) = (&seqs_here[r.clone()], &labels_here[r.clone()]);
            let batch = ClsBatch::padded(dev, s, l, vocab, width)?;
            let dropout = Dropout {
                p: dropout_p,
                seed: part_seed(seed, part),
                window: None,
            }
            .rows_of(shard, mine.start + r.start, r.len());
            Ok(Some(cls_forward_backward(
                dev, model, &batch, scale, &dropout,
            )?))
        })?;
        let params = self.model.trainable_params();
        let dist = self.dist.as_deref();
        let nothing = "a fine-tuning step with no sequence";
        let (grads, loss_sum) = step_gradients(dist, dev, &params, acc, step, nothing).await?;
        let lr = self.options.schedule.lr(step);
        // Recorded through the update; the loss and norm are read after it.
        let (new, update) = self
            .optimizer
            .scaled_update(
                dev,
                params,
                &grads,
                lr as f32,
                self.options.max_grad_norm,
                &loss_sum,
                loss_scale,
            )
            .await
            .map_err(|e| step_error(e, step))?;
        let mut st = FineTuneStep {
            step,
            loss: update.loss_sum / seqs.len() as f64,
            lr,
            grad_norm: update.grad_norm,
            skipped_at_scale: None,
        };
        let outcome = judge(self.loss_scale.as_mut(), &update, st.loss);
        if outcome.map_err(|e| step_error(e, step))? == ScaledStep::Skipped {
            st.step = step - 1;
            st.skipped_at_scale = Some(loss_scale);
            return Ok(st);
        }
        self.model.set_trainable(new)?;
        self.half = None;
        Ok(st)
    }
}

/// Class probabilities of every sequence, in order, `batch_size` at a time
/// (dropout off); `progress(done, total)` after each batch. A batch that
/// runs out of GPU memory runs as two halves, down to one sequence (the
/// same probabilities: only padding differs).
pub async fn predict(
    dev: &Device,
    model: &ClsModel,
    seqs: &[Vec<u32>],
    batch_size: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>> {
    let c = model.classes();
    let mut out = Vec::with_capacity(seqs.len());
    // A stack, next batch on top; a failed batch discards only its commands.
    let mut pending: Vec<&[Vec<u32>]> = seqs.chunks(batch_size.max(1)).rev().collect();
    dev.flush()?;
    while let Some(chunk) = pending.pop() {
        match probabilities(dev, model, chunk).await {
            Ok(host) => out.extend(host.chunks_exact(c).map(<[f32]>::to_vec)),
            Err(e) if e.is_out_of_memory() && chunk.len() > 1 => {
                dev.recover();
                let (first, second) = chunk.split_at(chunk.len() / 2);
                pending.extend([second, first]);
                continue;
            }
            Err(e) if e.is_out_of_memory() => {
                dev.recover();
                return Err(Error::SequenceTooLarge {
                    sequence: out.len() + 1,
                    tokens: chunk[0].len(),
                    cause: Box::new(e),
                    fix: "cut it, or run on the CPU backend (--backend cpu)".into(),
                });
            }
            Err(e) => return Err(e),
        }
        progress(out.len(), seqs.len());
    }
    Ok(out)
}

/// Class probabilities of one batch, read back: `[B * classes]`.
async fn probabilities(dev: &Device, model: &ClsModel, chunk: &[Vec<u32>]) -> Result<Vec<f32>> {
    let labels = vec![0; chunk.len()];
    let batch = ClsBatch::new(dev, chunk, &labels, model.config.vocab_size)?;
    let probs = ops::softmax(dev, &cls_logits(dev, model, &batch)?)?;
    dev.read_f32(&probs).await
}

/// A classifier's scores on a labelled set.
pub struct Evaluation {
    /// Class probabilities per sequence, in order.
    pub probs: Vec<Vec<f32>>,
    pub metrics: Metrics,
    /// Mean cross-entropy.
    pub loss: f64,
    pub confusion: Confusion,
}

/// Predicts every sequence of `set` and scores the predictions (the most
/// probable class, ties to the lower class).
pub async fn evaluate(
    dev: &Device,
    model: &ClsModel,
    set: &LabelledSet,
    batch_size: usize,
    progress: impl FnMut(usize, usize),
) -> Result<Evaluation> {
    set.check_classes(model.classes())?;
    let probs = predict(dev, model, &set.tokens, batch_size, progress).await?;
    let truth: Vec<usize> = set.labels.iter().map(|&l| l as usize).collect();
    let confusion = confusion_of(&probs, &truth, model.classes())?;
    Ok(Evaluation {
        loss: mean_loss(&probs, &set.labels),
        metrics: Metrics::of(&confusion),
        probs,
        confusion,
    })
}

/// The confusion matrix of the most probable class of each row of `probs`
/// (ties to the lower class) against `truth`.
pub fn confusion_of(probs: &[Vec<f32>], truth: &[usize], classes: usize) -> Result<Confusion> {
    let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    Confusion::from_pairs(classes, truth, &pred)
}

/// Mean cross-entropy of `probs` against `labels`.
pub fn mean_loss(probs: &[Vec<f32>], labels: &[u32]) -> f64 {
    let n = probs.len().max(1) as f64;
    probs
        .iter()
        .zip(labels)
        .map(|(p, &l)| -(p[l as usize].max(1e-30) as f64).ln())
        .sum::<f64>()
        / n
}
