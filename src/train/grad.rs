//! `dnagpu grad`'s run: the MLM loss and every parameter's gradient for one
//! given batch, dropout off; then, if asked, steps of plain PyTorch AdamW
//! on it (every parameter decays, no clipping, constant learning rate).
//! The bridge for comparing the backward pass and the optimizer with other
//! frameworks (contract in the README).

use super::checkpoint::{write_model_folder, ModelFolder};
use super::optimizer::{AdamW, AdamWConfig};
use super::{forward_backward, HostBatch, MlmBatch, MlmModel};
use crate::export::{safetensors_named, Precision};
use crate::model::source::ModelSource;
use crate::model::Dropout;
use crate::{Device, Result, Tensor};

/// A model and the one batch its gradients are taken on.
pub struct GradRun {
    model: MlmModel,
    batch: MlmBatch,
    names: Vec<String>,
}

impl GradRun {
    pub fn new(dev: &Device, src: &ModelSource, host: &HostBatch) -> Result<Self> {
        let batch = host.to_device(dev, src.config.vocab_size)?;
        let model = MlmModel::load(dev, &src.config, &src.weights)?;
        let names = model.names();
        Ok(Self {
            model,
            batch,
            names,
        })
    }

    /// The mean loss over the labelled tokens and every parameter's
    /// gradient of it, in [`MlmModel::names`] order.
    pub fn loss_and_grads(&self, dev: &Device) -> Result<(f64, Vec<Tensor>)> {
        let labelled = self.batch.labelled();
        let scale = 1.0 / labelled as f32;
        let (loss, grads) = forward_backward(dev, &self.model, &self.batch, scale, &Dropout::OFF)?;
        let rows = dev.read_f32_blocking(&loss.rows)?;
        let loss = rows.iter().map(|&v| v as f64).sum::<f64>() / labelled as f64;
        Ok((loss, grads))
    }

    /// `grads` as safetensors, one f32 tensor per parameter, by name.
    pub fn grads_safetensors(&self, dev: &Device, grads: &[Tensor]) -> Result<Vec<u8>> {
        let mut host = Vec::with_capacity(grads.len());
        for g in grads {
            host.push(dev.read_f32_blocking(g)?);
        }
        let named = self
            .names
            .iter()
            .zip(grads)
            .zip(&host)
            .map(|((n, g), d)| (n.as_str(), g.shape(), d.as_slice()));
        safetensors_named(named, Precision::F32, None)
    }

    /// `steps` AdamW steps at learning rate `lr`, the first on `grads`
    /// (the batch's gradients now); `step_loss` hears the loss before each
    /// later step. Returns the loss after the last.
    pub fn adamw_steps(
        &mut self,
        dev: &Device,
        cfg: AdamWConfig,
        lr: f32,
        steps: u32,
        grads: Vec<Tensor>,
        mut step_loss: impl FnMut(u32, f64),
    ) -> Result<f64> {
        let mut opt = AdamW::new(dev, &self.names, &self.model.params(), cfg)?;
        let mut grads = grads;
        for step in 1..=steps {
            if step > 1 {
                let (loss, g) = self.loss_and_grads(dev)?;
                step_loss(step, loss);
                grads = g;
            }
            let params = opt.update(dev, self.model.params(), &grads, lr, 1.0)?;
            self.model.set_params(params)?;
        }
        Ok(self.loss_and_grads(dev)?.0)
    }

    /// Writes the model as it is now to `dir` (a model folder with `src`'s
    /// config and tokenizer).
    pub fn write_model(
        &mut self,
        dev: &Device,
        src: &ModelSource,
        dir: &std::path::Path,
    ) -> Result<()> {
        let tensors = pollster::block_on(self.model.to_host(dev))?;
        write_model_folder(
            dir,
            &ModelFolder {
                config_json: &src.config_json,
                tokenizer: (src.tokenizer.file_name(), &src.tokenizer_file),
                tensors: &tensors,
                precision: Precision::F32,
            },
        )
    }
}

/// `%.9g`: 9 significant digits, as the contract prints the loss.
pub fn sig9(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..9).contains(&exp) {
        let decimals = (8 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let e = format!("{v:.8e}");
        let (mantissa, exp) = e.split_once('e').expect("exponent form");
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        let exp: i32 = exp.parse().expect("integer exponent");
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::sig9;

    #[test]
    fn nine_significant_digits_like_printf_g() {
        assert_eq!(sig9(13.7371666123), "13.7371666");
        assert_eq!(sig9(0.000123456789012), "0.000123456789");
        assert_eq!(sig9(8.0), "8");
        assert_eq!(sig9(1.5e-7), "1.5e-07");
        assert_eq!(sig9(-2.0e12), "-2e+12");
        assert_eq!(sig9(123456789.4), "123456789");
    }
}
