//! `FineTune`: LoRA fine-tuning of a classifier in the browser, one step per
//! call so the worker can report each loss and stop between steps.

use dnagpu::model::lora::Lora;
use dnagpu::train::classify::ClsModel;
use dnagpu::train::finetune::FineTuner;
use dnagpu::train::labelled::{EpochBatches, LabelledSet};
use dnagpu::train::recipe::{FineTuneRecipe, TuneMode, DEFAULT_EPOCHS};
use dnagpu::Device;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::model::Model;
use crate::{js, read_input};

/// The page's options; the defaults are the library's recipe (the CLI's
/// too), with a smaller batch and a row cap for a browser tab.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    r: usize,
    alpha: f64,
    dropout: f64,
    lr: f64,
    warmup: u64,
    weight_decay: f32,
    /// Steps; `None` = `epochs` passes over the rows.
    steps: Option<u64>,
    epochs: usize,
    batch_size: usize,
    max_rows: usize,
    seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        let recipe = FineTuneRecipe::default();
        Self {
            r: recipe.lora_r,
            alpha: recipe.lora_alpha,
            dropout: recipe.lora_dropout,
            lr: recipe.peak_lr(),
            warmup: recipe.warmup,
            weight_decay: recipe.weight_decay,
            steps: None,
            epochs: DEFAULT_EPOCHS,
            batch_size: 16,
            max_rows: 2000,
            seed: recipe.seed,
        }
    }
}

impl Options {
    /// The recipe these options give (LoRA), checked.
    fn recipe(&self) -> dnagpu::Result<FineTuneRecipe> {
        let recipe = FineTuneRecipe {
            mode: TuneMode::Lora,
            lr: Some(self.lr),
            lora_r: self.r,
            lora_alpha: self.alpha,
            lora_dropout: self.dropout,
            weight_decay: self.weight_decay,
            warmup: self.warmup,
            batch_size: self.batch_size,
            epochs: Some(self.epochs),
            max_steps: self.steps,
            seed: self.seed,
            ..FineTuneRecipe::default()
        };
        recipe.validate()?;
        Ok(recipe)
    }
}

#[wasm_bindgen]
pub struct FineTune {
    device: Device,
    tuner: FineTuner,
    set: LabelledSet,
    rows_in_file: usize,
    max_rows: usize,
    total: u64,
    batches: EpochBatches,
}

#[wasm_bindgen]
impl FineTune {
    /// LoRA adapters (on the family's default targets) and a fresh head on `model`'s encoder,
    /// trained on the first `maxRows` rows of `csv` (`sequence,label`).
    /// `optionsJson`: {r, alpha, dropout, lr, warmup, weightDecay, steps,
    /// epochs, batchSize, maxRows, seed}, all optional.
    pub fn create(model: &Model, csv: &str, options_json: &str) -> Result<FineTune, JsError> {
        let o: Options = if options_json.trim().is_empty() {
            Options::default()
        } else {
            serde_json::from_str(options_json)
                .map_err(|e| JsError::new(&format!("fine-tuning options: {e}")))?
        };
        if o.max_rows == 0 {
            return Err(JsError::new(
                "fine-tuning options: maxRows must be at least 1",
            ));
        }
        let recipe = o.recipe().map_err(js)?;
        let input = read_input(csv, "training file")?;
        let mut set =
            LabelledSet::from_records(input.records, &model.tokenizer, None, "training file")
                .map_err(js)?;
        let rows_in_file = set.len();
        set.truncate(o.max_rows);
        let classes = set.training_classes().map_err(js)?;
        let dev = model.device.clone();
        let mut cls = ClsModel::on_encoder(
            &dev,
            &model.config,
            model.model.encoder.clone(),
            &model.head_weights(),
            classes,
            o.seed,
        )
        .map_err(js)?;
        let lora = recipe.lora_config(cls.encoder.family);
        cls.lora = Some(Lora::fresh(&dev, &cls.encoder, lora, o.seed).map_err(js)?);
        // Steps, when given, are not capped at the epochs (unlike the CLI's --max-steps).
        let per_epoch = set.len().div_ceil(o.batch_size) as u64;
        let total = o.steps.unwrap_or(per_epoch * o.epochs as u64);
        let dropout = model.config.hidden_dropout_prob as f32;
        // A model loaded in f16 on a GPU that computes in half precision:
        // mixed precision (f16 copies of the adapters, f16 activations,
        // loss scaling), as `dnagpu finetune --precision f16`.
        let half = dnagpu::train::mixed::applies(&dev, model.precision_value());
        let mut tuner = recipe.tuner(&dev, cls, total, dropout).map_err(js)?;
        if half {
            tuner = tuner.mixed_precision();
        }
        Ok(FineTune {
            device: dev,
            tuner,
            batches: EpochBatches::new(set.len(), o.batch_size, o.seed),
            rows_in_file,
            max_rows: o.max_rows,
            total,
            set,
        })
    }

    #[wasm_bindgen(getter, js_name = totalSteps)]
    pub fn total_steps(&self) -> f64 {
        self.total as f64
    }

    /// Steps done.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> f64 {
        self.tuner.step() as f64
    }

    /// Rows trained on (the file's, up to `maxRows`).
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.set.len()
    }

    #[wasm_bindgen(getter, js_name = rowsInFile)]
    pub fn rows_in_file(&self) -> usize {
        self.rows_in_file
    }

    #[wasm_bindgen(getter, js_name = maxRows)]
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> usize {
        self.tuner.model.classes()
    }

    /// One optimizer step on the next batch (in `dnagpu finetune`'s order
    /// for the same seed); returns its mean loss.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&mut self) -> Result<f64, JsError> {
        if self.tuner.step() >= self.total {
            return Err(JsError::new(&format!(
                "fine-tuning is finished ({} steps)",
                self.total
            )));
        }
        let rows = self.batches.next_batch();
        let seqs: Vec<Vec<u32>> = rows.iter().map(|&i| self.set.tokens[i].clone()).collect();
        let labels: Vec<u32> = rows.iter().map(|&i| self.set.labels[i]).collect();
        let st = self
            .tuner
            .train_step(&self.device, &seqs, &labels)
            .await
            .map_err(js)?;
        Ok(st.loss)
    }

    /// `adapter_config.json` of the adapter being trained (PEFT's format).
    #[wasm_bindgen(js_name = adapterConfig)]
    pub fn adapter_config(&self) -> Result<String, JsError> {
        let lora = self
            .tuner
            .model
            .lora
            .as_ref()
            .ok_or_else(|| js("no adapter"))?;
        Ok(lora.config.to_json())
    }

    /// `adapter_model.safetensors` of the adapter as trained so far (the
    /// LoRA weights and the head, PEFT's key names).
    #[wasm_bindgen(js_name = adapterWeights)]
    pub async fn adapter_weights(&mut self) -> Result<Vec<u8>, JsError> {
        let adapter = self
            .tuner
            .model
            .to_adapter(&self.device)
            .await
            .map_err(js)?;
        Ok(adapter.to_files().map_err(js)?.1)
    }
}
