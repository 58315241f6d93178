//! One optimisation step over one or more micro-batches (gradient
//! accumulation), and evaluation. The loss is one mean over every labelled
//! token of the whole step, as one big batch would give: each micro-batch's
//! gradient is scaled by 1 / (labelled tokens of the step) and summed. In
//! mixed precision (`Trainer::loss_scale`) the step computes with f16 layer
//! weights made from the f32 masters (`mixed`), times the loss scale.

use super::backward::{forward_backward, forward_loss};
use super::batch::HostBatch;
use super::distributed::{step_gradients, Distributed};
use super::loss_scale::{judge, LossScale, ScaledStep};
use super::mixed::half_mlm;
use super::mlm::MlmModel;
use super::optimizer::AdamW;
use super::schedule::Schedule;
use super::split::{accumulate, part_seed, step_error, Accumulated};
use crate::error::{Error, Result};
use crate::model::Dropout;
use crate::rng::derive_seed;
use crate::Device;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    pub schedule: Schedule,
    /// Global gradient-norm limit; 0 = no clipping.
    pub max_grad_norm: f64,
    /// Dropout probability (the config's hidden_dropout_prob by default).
    pub dropout: f32,
    pub seed: u64,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// The step just taken (1-based).
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    /// Before clipping.
    pub grad_norm: f64,
    /// Real (unpadded) tokens and labelled tokens of the step.
    pub tokens: u64,
    pub labelled: u64,
    /// Mixed precision: the step's gradients overflowed at this loss scale,
    /// so it was skipped (the model unchanged, `step` not advanced) and the
    /// scale halved.
    pub skipped_at_scale: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalStats {
    pub loss: f64,
    /// Fraction of labelled tokens whose highest logit is the label.
    pub accuracy: f64,
    pub labelled: u64,
}

pub struct Trainer {
    /// The model (in mixed precision: the f32 master weights).
    pub model: MlmModel,
    pub optimizer: AdamW,
    pub options: TrainOptions,
    /// Mixed precision (`--precision f16`): the loss scale; `None`: f32.
    pub loss_scale: Option<LossScale>,
    /// Mixed precision: the f16 copy of `model` the steps compute with,
    /// made by the first step after each update.
    half: Option<MlmModel>,
    /// Data-parallel training: this rank's link to the others.
    dist: Option<Arc<Distributed>>,
}

impl Trainer {
    /// A trainer in f32, or in mixed precision from `loss_scale` on.
    pub fn new(
        mut model: MlmModel,
        optimizer: AdamW,
        options: TrainOptions,
        loss_scale: Option<LossScale>,
    ) -> Self {
        model.drop_panels();
        Self {
            model,
            optimizer,
            options,
            loss_scale,
            half: None,
            dist: None,
        }
    }

    /// Trains as one rank of several (`distributed`): each step's batches
    /// are the global ones, of which this rank computes its rows' gradients.
    pub fn distributed(mut self, dist: Arc<Distributed>) -> Self {
        self.dist = Some(dist);
        self
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.optimizer.step as u64
    }

    /// One step on `micro` (together one batch). A non-finite loss or
    /// gradient leaves the model as it was: in mixed precision an
    /// overflowed gradient skips the step (`StepStats::skipped_at_scale`),
    /// anything else is an error (`loss_scale::judge`).
    pub async fn train_step(&mut self, dev: &Device, micro: &[HostBatch]) -> Result<StepStats> {
        let vocab = self.model.config.vocab_size;
        let labelled: usize = micro
            .iter()
            .map(|b| b.labels.iter().filter(|&&l| l > 0).count())
            .sum();
        if labelled == 0 {
            return Err(Error::Invalid(
                "a training step with no labelled token".into(),
            ));
        }
        let step = self.step() + 1;
        let loss_scale = self.loss_scale.map_or(1.0, |s| s.scale);
        let scale = loss_scale / labelled as f32;
        let model = match self.loss_scale {
            None => &self.model,
            Some(_) => {
                if self.half.is_none() {
                    self.half = Some(half_mlm(dev, &self.model).map_err(|e| step_error(e, step))?);
                }
                self.half.as_ref().expect("made above")
            }
        };
        let mut acc = Accumulated::default();
        let mut tokens = 0u64;
        for (j, b) in micro.iter().enumerate() {
            tokens += b.mask.iter().filter(|&&m| m != 0).count() as u64;
            let seed = derive_seed(self.options.seed, 3, step * 1024 + j as u64);
            // One process: the whole batch; a rank: its rows, with the
            // dropout masks those rows have in the whole batch.
            let (mine, shard) = match &self.dist {
                None => (0..b.batch, None),
                Some(d) => (d.shard(b.batch), Some(b.batch)),
            };
            let local = b.rows(mine.clone());
            // Out of GPU memory, the micro-batch runs as smaller ones.
            accumulate(dev, step, local.batch, &mut acc, |rows, part| {
                let piece = local.rows(rows.clone());
                if !piece.labels.iter().any(|&l| l > 0) {
                    return Ok(None);
                }
                let batch = piece.to_device(dev, vocab)?;
                let dropout = Dropout {
                    p: self.options.dropout,
                    seed: part_seed(seed, part),
                    window: None,
                }
                .rows_of(shard, mine.start + rows.start, rows.len());
                let (loss, grads) = forward_backward(dev, model, &batch, scale, &dropout)?;
                Ok(Some((loss.rows, grads)))
            })?;
        }
        let params = self.model.params();
        let dist = self.dist.as_deref();
        let nothing = "a training step with no labelled token";
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
        let mut stats = StepStats {
            step,
            loss: update.loss_sum / labelled as f64,
            lr,
            grad_norm: update.grad_norm,
            tokens,
            labelled: labelled as u64,
            skipped_at_scale: None,
        };
        let outcome = judge(self.loss_scale.as_mut(), &update, stats.loss);
        if outcome.map_err(|e| step_error(e, step))? == ScaledStep::Skipped {
            stats.step = step - 1;
            stats.skipped_at_scale = Some(loss_scale);
            return Ok(stats);
        }
        self.model.set_params(new)?;
        // The next step makes its f16 copy of the new weights.
        self.half = None;
        Ok(stats)
    }
}

/// Masked-token loss and accuracy of `model` on `batches`, dropout off.
pub async fn evaluate(dev: &Device, model: &MlmModel, batches: &[HostBatch]) -> Result<EvalStats> {
    let vocab = model.config.vocab_size;
    let (mut loss, mut correct, mut n) = (0f64, 0u64, 0u64);
    for b in batches {
        let batch = b.to_device(dev, vocab)?;
        let out = forward_loss(dev, model, &batch)?;
        loss += dev
            .read_f32(&out.rows)
            .await?
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>();
        let logits = dev.read_f32(&out.logits).await?;
        for (row, &label) in logits.chunks_exact(vocab).zip(&batch.labels_host) {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |m, (i, &v)| if v > m.1 { (i, v) } else { m },
                )
                .0;
            correct += u64::from(best == label as usize);
        }
        n += batch.labelled() as u64;
    }
    Ok(EvalStats {
        loss: loss / n.max(1) as f64,
        accuracy: correct as f64 / n.max(1) as f64,
        labelled: n,
    })
}
