//! The fine-tuning recipe: one set of defaults for the CLI (`dnagpu
//! finetune`, `dnagpu gue`) and the page, the checks on it, and the GUE
//! task table that gives each task the paper's epochs.

use std::path::Path;

use super::classify::ClsModel;
use super::finetune::{check_peak_lr, FineTuneOptions, FineTuner};
use super::optimizer::AdamWConfig;
use super::schedule::{Decay, Schedule};
use crate::error::{Error, Result};
use crate::model::adapter::LoraConfig;
use crate::model::encoder::Family;
use crate::Device;

/// What a fine-tuning run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TuneMode {
    /// LoRA adapters and the head; the encoder stays frozen (a PEFT adapter).
    #[default]
    Lora,
    /// Every parameter (the paper's recipe; a model folder).
    Full,
}

impl TuneMode {
    pub fn name(self) -> &'static str {
        match self {
            TuneMode::Lora => "lora",
            TuneMode::Full => "full",
        }
    }

    /// The peak learning rate when none is given: 1e-3 for LoRA, the
    /// paper's 3e-5 for full fine-tuning.
    pub fn default_lr(self) -> f64 {
        match self {
            TuneMode::Lora => 1e-3,
            TuneMode::Full => 3e-5,
        }
    }
}

/// Every setting of a fine-tuning run. `Default` is the recipe the CLI and
/// the page start from.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuneRecipe {
    pub mode: TuneMode,
    /// Peak learning rate; `None`: [`TuneMode::default_lr`].
    pub lr: Option<f64>,
    pub lora_r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    /// Linear layers to adapt; empty: the family's default targets.
    pub lora_targets: Vec<String>,
    pub weight_decay: f32,
    pub warmup: u64,
    pub batch_size: usize,
    /// Evaluate on dev every this many steps (and at the end).
    pub eval_every: u64,
    /// Passes over the training rows; `None`: [`task_epochs`] of the data folder.
    pub epochs: Option<usize>,
    /// Stop after this many steps, whatever the epochs.
    pub max_steps: Option<u64>,
    /// Longest input in tokens; `None`: the longest training sequence's.
    pub max_length: Option<usize>,
    pub max_grad_norm: f64,
    pub seed: u64,
}

impl Default for FineTuneRecipe {
    fn default() -> Self {
        Self {
            mode: TuneMode::Lora,
            lr: None,
            lora_r: 8,
            lora_alpha: 32.0,
            lora_dropout: 0.05,
            lora_targets: Vec::new(),
            weight_decay: 0.01,
            warmup: 50,
            batch_size: 32,
            eval_every: 200,
            epochs: None,
            max_steps: None,
            max_length: None,
            max_grad_norm: 1.0,
            seed: 0,
        }
    }
}

impl FineTuneRecipe {
    /// Every number finite and in range, before any work starts; the error
    /// names the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, why: &str| Err(Error::Invalid(format!("fine-tuning: {what} {why}")));
        check_peak_lr(self.peak_lr())?;
        if self.mode == TuneMode::Lora {
            // Any family: only rank, alpha and dropout are checked.
            self.lora_config(Family::Dnabert2).validate("fine-tuning")?;
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight decay (--weight-decay)",
                &format!("must be >= 0, got {}", self.weight_decay),
            );
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return bad(
                "max gradient norm (--max-grad-norm)",
                &format!("must be >= 0 (0: no clipping), got {}", self.max_grad_norm),
            );
        }
        for (what, zero) in [
            ("batch size (--batch-size)", self.batch_size == 0),
            ("eval every (--eval-every)", self.eval_every == 0),
            ("epochs (--epochs)", self.epochs == Some(0)),
            ("max steps (--max-steps)", self.max_steps == Some(0)),
            ("max length (--max-length)", self.max_length == Some(0)),
        ] {
            if zero {
                return bad(what, "must be at least 1");
            }
        }
        Ok(())
    }

    pub fn peak_lr(&self) -> f64 {
        self.lr.unwrap_or(self.mode.default_lr())
    }

    /// The LoRA settings for a model of `family`.
    pub fn lora_config(&self, family: Family) -> LoraConfig {
        let mut c = LoraConfig::for_family(family);
        c.r = self.lora_r;
        c.alpha = self.lora_alpha;
        c.dropout = self.lora_dropout;
        if !self.lora_targets.is_empty() {
            c.target_modules = self.lora_targets.clone();
        }
        c
    }

    /// Steps of a run over `rows` training rows for `epochs` passes, capped
    /// by `max_steps`; at least one.
    pub fn total_steps(&self, rows: usize, epochs: usize) -> u64 {
        let per_epoch = rows.div_ceil(self.batch_size.max(1)) as u64;
        self.max_steps
            .unwrap_or(u64::MAX)
            .min(per_epoch * epochs as u64)
            .max(1)
    }

    /// The optimiser and schedule of this recipe around `model`, for
    /// `total` steps with the model's hidden dropout.
    pub fn tuner(
        &self,
        dev: &Device,
        model: ClsModel,
        total: u64,
        dropout: f32,
    ) -> Result<FineTuner> {
        FineTuner::new(
            dev,
            model,
            AdamWConfig {
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
            FineTuneOptions {
                schedule: Schedule {
                    peak: self.peak_lr(),
                    warmup: self.warmup,
                    total,
                    decay: Decay::Linear,
                },
                max_grad_norm: self.max_grad_norm,
                dropout,
                seed: self.seed,
            },
        )
    }
}

/// Passes over the training rows of a task that is not in the GUE table.
pub const DEFAULT_EPOCHS: usize = 3;

/// The paper's epochs for a GUE task folder (GUE/<category>/<task>), from
/// the folder's own name and its parent's, never from the rest of the path:
/// prom_core_tata and prom_300_tata 10, other promoter tasks 4, splice and
/// mouse 5, covid 8; 3 for anything else, GUE or not.
pub fn task_epochs(data: &Path) -> usize {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let task = name(Some(data));
    let category = name(data.parent());
    match (category.as_str(), task.as_str()) {
        ("prom", "prom_core_tata" | "prom_300_tata") => 10,
        ("prom", _) => 4,
        ("splice", _) | ("mouse", _) => 5,
        ("virus", "covid") => 8,
        _ => DEFAULT_EPOCHS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_epochs_come_from_the_task_folders_not_the_path() {
        let e = |p: &str| task_epochs(Path::new(p));
        assert_eq!(e("/data/GUE/prom/prom_core_tata"), 10);
        assert_eq!(e("GUE/prom/prom_300_tata/"), 10);
        assert_eq!(e("/data/GUE/prom/prom_core_all"), 4);
        assert_eq!(e("/data/GUE/splice/reconstructed"), 5);
        assert_eq!(e("/data/GUE/mouse/0"), 5);
        assert_eq!(e("/data/GUE/virus/covid"), 8);
        assert_eq!(e("/data/GUE/tf/0"), 3);
        // A lab folder named after an organism or a task is not a GUE task.
        assert_eq!(e("/home/mouse-lab/my-task"), 3);
        assert_eq!(e("/home/prom-study/tf/0"), 3);
        assert_eq!(e("/srv/splice_data/x"), 3);
        assert_eq!(e("covid"), 3);
    }

    #[test]
    fn bad_settings_are_named_before_any_work() {
        let with = |f: fn(&mut FineTuneRecipe)| {
            let mut r = FineTuneRecipe::default();
            f(&mut r);
            r.validate().unwrap_err().to_string()
        };
        assert!(with(|r| r.lr = Some(f64::NAN)).contains("learning rate"));
        assert!(with(|r| r.lr = Some(-1.0)).contains("learning rate"));
        assert!(with(|r| r.batch_size = 0).contains("batch size"));
        assert!(with(|r| r.lora_dropout = 1.0).contains("lora_dropout"));
        assert!(with(|r| r.weight_decay = -1.0).contains("weight decay"));
        assert!(with(|r| r.epochs = Some(0)).contains("epochs"));
        assert!(with(|r| r.max_grad_norm = f64::INFINITY).contains("gradient norm"));
        FineTuneRecipe::default().validate().unwrap();
    }

    #[test]
    fn steps_are_epochs_of_batches_capped_by_max_steps() {
        let r = FineTuneRecipe::default();
        assert_eq!(r.total_steps(100, 3), 12);
        let capped = FineTuneRecipe {
            max_steps: Some(5),
            ..r.clone()
        };
        assert_eq!(capped.total_steps(100, 3), 5);
        assert_eq!(r.total_steps(0, 3), 1);
        assert_eq!(r.peak_lr(), 1e-3);
        let full = FineTuneRecipe {
            mode: TuneMode::Full,
            ..r
        };
        assert_eq!(full.peak_lr(), 3e-5);
    }
}
