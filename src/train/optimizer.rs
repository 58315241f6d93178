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
    /// `grad_scale` first. Returns the new parameters.
    pub fn update(
        &mut self,
        dev: &Device,
        params: Vec<Tensor>,
        grads: &[Tensor],
        lr: f32,
        grad_scale: f32,
    ) -> Result<Vec<Tensor>> {
        // One neutral clip tensor for every parameter of the step.
        let clip = ops::clip::no_clip(dev)?;
        self.update_clipped(dev, params, grads, lr, grad_scale, &clip)
    }

    /// [`AdamW::update`] reading a clipping factor from the device
    /// (`ops::clip_scale`); a step it marks not ok changes nothing.
    fn update_clipped(
        &mut self,
        dev: &Device,
        params: Vec<Tensor>,
        grads: &[Tensor],
        lr: f32,
        grad_scale: f32,
        clip: &Tensor,
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
            let st = ops::adamw(dev, p, g, &self.m[i], &self.v[i], &s, Some(clip))?;
            self.m[i] = st.m;
            self.v[i] = st.v;
            out.push(st.param);
        }
        Ok(out)
    }
}

/// The sum over `tensors` of `each(t)` (a [1] tensor), added on the
/// device so that nothing is read back per tensor; [0] when there are none.
fn total(
    dev: &Device,
    tensors: &[Tensor],
    each: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for t in tensors {
        let s = each(t)?;
        total = Some(match total {
            None => s,
            Some(acc) => ops::add(dev, &acc, &s)?,
        });
    }
    total.map_or_else(|| dev.tensor_f32(&[1], &[0.0]), Ok)
}

/// The sum of every gradient's squares ([1], on the device).
pub fn squared_norm(dev: &Device, grads: &[Tensor]) -> Result<Tensor> {
    total(dev, grads, |g| ops::sum_squares(dev, g))
}

/// The summed loss ([1], on the device) of per-row losses (each [n]), for
/// [`AdamW::scaled_update`].
pub fn loss_sum(dev: &Device, rows: &[Tensor]) -> Result<Tensor> {
    total(dev, rows, |r| {
        ops::sum_rows(dev, &r.reshape(&[r.numel(), 1])?)?.reshape(&[1])
    })
}

/// What one optimizer update did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    /// Global gradient norm before clipping (of the unscaled gradients).
    pub grad_norm: f64,
    /// The step's summed loss (as given to [`AdamW::scaled_update`]).
    pub loss_sum: f64,
    /// Whether the loss and the gradients were finite; if not, the update
    /// changed nothing.
    pub finite: bool,
}

impl Update {
    /// The error of a step that was not finite; `loss` is its mean loss.
    pub fn diverged(&self, loss: f64) -> crate::Error {
        crate::Error::Invalid(format!(
            "the loss is {loss} and the gradient norm {}: training diverged (try a lower learning rate or --max-grad-norm); the model was not updated",
            self.grad_norm
        ))
    }
}

impl AdamW {
    /// Clips `grads` to `max_grad_norm` (0 = no clipping) and applies one
    /// update at `lr`, all recorded on the device before anything is read
    /// back: the factor comes from `ops::clip_scale` and AdamW reads it
    /// there. Then one readback gives the norm and `loss_sum` ([1], the
    /// step's summed loss). The gradients may be those of a loss multiplied
    /// by `loss_scale` (mixed precision; 1 otherwise): they are clipped and
    /// applied as the unscaled ones (the norm limit scaled with them, the
    /// update dividing the scale out). A step whose loss or gradients are
    /// not finite changes nothing (the kernels copy the state, the step
    /// count is restored) and says so (`Update::finite`): the caller lowers
    /// the scale, or gives up ([`Update::diverged`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn scaled_update(
        &mut self,
        dev: &Device,
        params: Vec<Tensor>,
        grads: &[Tensor],
        lr: f32,
        max_grad_norm: f64,
        loss_sum: &Tensor,
        loss_scale: f32,
    ) -> Result<(Vec<Tensor>, Update)> {
        let total = squared_norm(dev, grads)?;
        let limit = (max_grad_norm * loss_scale as f64) as f32;
        let clip = ops::clip_scale(dev, &total, loss_sum, limit)?;
        let new = self.update_clipped(dev, params, grads, lr, 1.0 / loss_scale, &clip)?;
        let c = dev.read_f32(&clip).await?;
        let finite = c[1] == 1.0;
        if !finite {
            self.step -= 1;
        }
        Ok((
            new,
            Update {
                grad_norm: (c[3] as f64).sqrt() / loss_scale as f64,
                loss_sum: c[2] as f64,
                finite,
            },
        ))
    }
}
