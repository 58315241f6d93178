//! Learning-rate schedules: linear warmup, then linear or cosine decay to
//! zero at the last step (Hugging Face's `get_linear_schedule_with_warmup`
//! and `get_cosine_schedule_with_warmup`, which set the rate of step k
//! (counted from 1) from k - 1 completed steps).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decay {
    Linear,
    Cosine,
    Constant,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: u64,
    pub total: u64,
    pub decay: Decay,
}

impl Schedule {
    /// The rate of step `step` (1-based).
    pub fn lr(&self, step: u64) -> f64 {
        let done = step.saturating_sub(1);
        if done < self.warmup {
            return self.peak * done as f64 / self.warmup.max(1) as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((done - self.warmup) as f64 / span).min(1.0);
        match self.decay {
            Decay::Constant => self.peak,
            Decay::Linear => self.peak * (1.0 - progress).max(0.0),
            Decay::Cosine => self.peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay_like_hugging_face() {
        let s = Schedule {
            peak: 1.0,
            warmup: 4,
            total: 12,
            decay: Decay::Linear,
        };
        let lrs: Vec<f64> = (1..=13).map(|k| s.lr(k)).collect();
        assert_eq!(&lrs[..6], &[0.0, 0.25, 0.5, 0.75, 1.0, 0.875]);
        assert_eq!(lrs[11], 0.125);
        assert_eq!(lrs[12], 0.0);
        let c = Schedule {
            decay: Decay::Cosine,
            ..s
        };
        assert!((c.lr(9) - 0.5).abs() < 1e-12, "{}", c.lr(9));
        assert_eq!(c.lr(13), 0.0);
    }
}
