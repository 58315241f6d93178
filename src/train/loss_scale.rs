//! Dynamic loss scaling for mixed-precision training, as PyTorch's
//! `torch.amp.GradScaler` does it: the loss gradient is multiplied by a
//! scale S so that small gradients survive f16 products; the optimizer
//! divides it out; a step whose gradients overflow (not finite) is skipped
//! and S halves; after `interval` good steps in a row S doubles.

use serde::{Deserialize, Serialize};

/// Where the scaler stands (saved in checkpoints, so that a resumed run
/// scales as the uninterrupted one).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f32,
    /// Good steps since the scale last changed.
    pub good_steps: u32,
}

/// GradScaler's defaults: 2^16, x2 after 2,000 good steps, /2 on overflow.
pub const INIT: f32 = 65536.0;
pub const GROWTH_INTERVAL: u32 = 2000;
/// Below this a step that still overflows is not a scaling problem: the
/// run diverged.
pub const MIN: f32 = 1.0 / 65536.0;

impl Default for LossScale {
    fn default() -> Self {
        Self {
            scale: INIT,
            good_steps: 0,
        }
    }
}

/// What the scaler made of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaledStep {
    /// Finite: the update was applied.
    Applied,
    /// Overflowed: skipped, the scale halved.
    Skipped,
    /// Overflowed at the smallest scale: the loss itself is not finite.
    Diverged,
}

impl LossScale {
    /// Records a step whose gradients were finite (`ok`) or not.
    pub fn update(&mut self, ok: bool) -> ScaledStep {
        if ok {
            self.good_steps += 1;
            if self.good_steps >= GROWTH_INTERVAL {
                // Doubling past f32's range would overflow every step.
                if self.scale <= f32::MAX / 4.0 {
                    self.scale *= 2.0;
                }
                self.good_steps = 0;
            }
            ScaledStep::Applied
        } else if self.scale / 2.0 < MIN {
            ScaledStep::Diverged
        } else {
            self.scale /= 2.0;
            self.good_steps = 0;
            ScaledStep::Skipped
        }
    }
}

/// What a trainer does with an update ([`super::optimizer::Update`]) whose
/// loss averaged `mean_loss`: apply it, or skip it (its gradients
/// overflowed at this scale, now halved), or stop with the error: a loss
/// that is not finite in mixed precision (an activation past f16's range,
/// which no loss scale mends), gradients that overflow at the smallest
/// scale, or any non-finite step in f32.
pub fn judge(
    scale: Option<&mut LossScale>,
    update: &super::optimizer::Update,
    mean_loss: f64,
) -> crate::Result<ScaledStep> {
    match scale {
        None if update.finite => Ok(ScaledStep::Applied),
        None => Err(update.diverged(mean_loss)),
        Some(_) if !mean_loss.is_finite() => Err(crate::Error::Invalid(format!(
            "the loss is {mean_loss} in half precision: an activation went past f16's range (65504); train with --precision f32 (natively, DNAGPU_F16_ACTIVATIONS=off and DNAGPU_COOP=off keep f16 weights with f32 activations and arithmetic); the model was not updated"
        ))),
        Some(s) => match s.update(update.finite) {
            ScaledStep::Diverged => Err(update.diverged(mean_loss)),
            outcome => Ok(outcome),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_overflow_and_doubles_after_the_interval() {
        let mut s = LossScale::default();
        assert_eq!(s.update(false), ScaledStep::Skipped);
        assert_eq!(s.scale, INIT / 2.0);
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert_eq!(s.update(true), ScaledStep::Applied);
        }
        assert_eq!(s.scale, INIT / 2.0);
        s.update(true);
        assert_eq!((s.scale, s.good_steps), (INIT, 0));
        // An overflow resets the count of good steps.
        s.update(true);
        s.update(false);
        assert_eq!((s.scale, s.good_steps), (INIT / 2.0, 0));
    }

    #[test]
    fn an_overflow_at_the_smallest_scale_is_divergence() {
        let mut s = LossScale {
            scale: MIN,
            good_steps: 5,
        };
        assert_eq!(s.update(false), ScaledStep::Diverged);
        assert_eq!(s.scale, MIN);
    }
}
