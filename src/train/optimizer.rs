//! AdamW over the model's parameter list, as `torch.optim.AdamW` does it
//! (decoupled weight decay, bias correction), with global-norm gradient
//! clipping. State (m, v) lives on the device next to the parameters; only
//! the gradients' squared norms (one number per tensor) are read back.

use crate::error::Result;
use crate::ops::{self, AdamWStep};
use crate::{Device, Tensor};

/// Hyper-parameters other than the learning rate (the schedule gives it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Leave biases and LayerNorm parameters out of weight decay (the usual
    /// BERT recipe, and the default). Off, every parameter decays, as plain
    /// `torch.optim.AdamW(model.parameters())` does.
    pub no_decay_bias_norm: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            no_decay_bias_norm: true,
        }
    }
}

/// Biases and LayerNorm weights: the parameters BERT recipes do not decay.
pub fn is_bias_or_norm(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.ends_with(".bias") || lower.contains("layernorm") || lower.contains("layer_norm")
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Steps taken so far.
    pub step: u32,
    /// First and second moments, one per parameter.
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
    decays: Vec<bool>,
}

impl AdamW {
    /// Zero moments for `params` (named `names`, same order).
    pub fn new(
        dev: &Device,
        names: &[String],
        params: &[Tensor],
        config: AdamWConfig,
    ) -> Result<Self> {
        let zeros = |t: &Tensor| dev.tensor_f32(t.shape(), &vec![0.0; t.numel()]);
        Ok(Self {
            config,
            step: 0,
            m: params.iter().map(zeros).collect::<Result<_>>()?,
            v: params.iter().map(zeros).collect::<Result<_>>()?,
            decays: names
                .iter()
                .map(|n| !(config.no_decay_bias_norm && is_bias_or_norm(n)))
                .collect(),
        })
    }

    /// Restores moments saved by a checkpoint.
    pub fn with_state(mut self, step: u32, m: Vec<Tensor>, v: Vec<Tensor>) -> Self {
        self.step = step;
        self.m = m;
        self.v = v;
        self
    }

    /// One update at learning rate `lr`, gradients multiplied by
    /// `grad_scale` first (clipping). Returns the new parameters.
    pub fn update(
        &mut self,
        dev: &Device,
        params: Vec<Tensor>,
        grads: &[Tensor],
        lr: f32,
        grad_scale: f32,
    ) -> Result<Vec<Tensor>> {
        self.step += 1;
        let mut out = Vec::with_capacity(params.len());
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let s = AdamWStep {
                lr,
                beta1: self.config.beta1,
                beta2: self.config.beta2,
                eps: self.config.eps,
                weight_decay: if self.decays[i] {
                    self.config.weight_decay
                } else {
                    0.0
                },
                step: self.step,
                grad_scale,
            };
            let st = ops::adamw(dev, p, g, &self.m[i], &self.v[i], &s)?;
            self.m[i] = st.m;
            self.v[i] = st.v;
            out.push(st.param);
        }
        Ok(out)
    }
}

/// The L2 norm of all gradients together. The per-tensor sums are added on
/// the device so that one readback serves the whole model (one per tensor
/// cost a GPU round trip each: ~140 per DNABERT-2 step).
pub async fn global_norm(dev: &Device, grads: &[Tensor]) -> Result<f64> {
    let mut total: Option<Tensor> = None;
    for g in grads {
        let s = ops::sum_squares(dev, g)?;
        total = Some(match total {
            None => s,
            Some(t) => ops::add(dev, &t, &s)?,
        });
    }
    let Some(total) = total else { return Ok(0.0) };
    Ok((dev.read_f32(&total).await?[0] as f64).sqrt())
}

/// The factor that brings a gradient of norm `norm` down to `max_norm`
/// (PyTorch's `clip_grad_norm_`: max_norm / (norm + 1e-6), capped at 1).
pub fn clip_scale(norm: f64, max_norm: f64) -> f32 {
    if max_norm <= 0.0 || !norm.is_finite() {
        return 1.0;
    }
    (max_norm / (norm + 1e-6)).min(1.0) as f32
}

/// What one optimizer update did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

impl AdamW {
    /// Clips `grads` to `max_grad_norm` (0 = no clipping) and applies one
    /// update at `lr`. A non-finite gradient norm is an error and changes
    /// nothing.
    pub async fn clip_and_update(
        &mut self,
        dev: &Device,
        params: Vec<Tensor>,
        grads: &[Tensor],
        lr: f32,
        max_grad_norm: f64,
    ) -> Result<(Vec<Tensor>, Update)> {
        let grad_norm = global_norm(dev, grads).await?;
        if !grad_norm.is_finite() {
            return Err(crate::Error::Invalid(format!(
                "the gradient norm is {grad_norm}: training diverged (try a lower learning rate); the model was not updated"
            )));
        }
        let new = self.update(dev, params, grads, lr, clip_scale(grad_norm, max_grad_norm))?;
        Ok((new, Update { grad_norm }))
    }
}
