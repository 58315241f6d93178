//! `Model`: a Hugging Face model folder's files loaded onto the runtime's
//! device, with an optional PEFT adapter; embeds, classifies and evaluates.
//! One encoder on the device serves all three (and fine-tuning).

use std::collections::BTreeMap;

use dnagpu::embed::{Batching, EmbedOptions, Pooling};
use dnagpu::model::adapter::Adapter;
use dnagpu::model::io::ModelFiles;
use dnagpu::model::{Config, HostTensor, Precision, Weights};
use dnagpu::tokenize::Tokenizer;
use dnagpu::train::classify::{ClsModel, CLASSIFIER_PREFIXES};
use dnagpu::train::finetune::{self, predict};
use dnagpu::train::labelled::LabelledSet;
use dnagpu::Device;
use wasm_bindgen::prelude::*;

use crate::results::{Classified, Embeddings, Evaluation, Rows};
use crate::runtime::Runtime;
use crate::{js, read_input, report};

#[wasm_bindgen]
pub struct Model {
    pub(crate) device: Device,
    pub(crate) config: Config,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) model: dnagpu::model::Model,
    /// The base's pooler and classifier tensors (host copies: small), for
    /// building classifiers on the shared encoder.
    pub(crate) base_head: BTreeMap<String, HostTensor>,
    /// Every base tensor's shape, to check adapters against.
    base_shapes: BTreeMap<String, Vec<usize>>,
    parameters: usize,
    precision: Precision,
    /// The classifier: the adapter's, else the base model's own head.
    cls: Option<ClsModel>,
}

pub(crate) fn batching(batch_size: usize) -> Batching {
    Batching {
        batch_size: batch_size.max(1),
        ..Batching::default()
    }
}

#[wasm_bindgen]
impl Model {
    /// Loads `config.json` and the tokenizer's file (text, named by
    /// `tokenizerName`: `tokenizer.json` for DNABERT-2, `vocab.txt` for
    /// DNABERT and the Nucleotide Transformer) and the weights (bytes of
    /// `model.safetensors` or `pytorch_model.bin`, named by `weightsName`)
    /// onto `runtime`'s device; `precision` ("f32", the default, or "f16":
    /// the layers' weight matrices at half the memory) is how they are kept.
    pub fn load(
        runtime: &Runtime,
        config_json: String,
        tokenizer_name: &str,
        tokenizer_text: String,
        weights: &[u8],
        weights_name: &str,
        precision: Option<String>,
    ) -> Result<Model, JsError> {
        let precision: Precision = precision.as_deref().unwrap_or("f32").parse().map_err(js)?;
        let w = Weights::from_bytes(weights, weights_name, weights_name).map_err(js)?;
        let files = ModelFiles::from_parts(config_json, tokenizer_name, tokenizer_text, w, "model")
            .map_err(js)?;
        let dev = runtime.device.clone();
        let model = dnagpu::model::Model::load_with(&dev, &files.config, &files.weights, precision)
            .map_err(js)?;
        let w = &files.weights;
        let mut base_head = BTreeMap::new();
        let mut base_shapes = BTreeMap::new();
        let mut parameters = 0;
        for name in w.names() {
            let shape = w.shape_of(name).unwrap_or(&[]).to_vec();
            // The MLM decoder is tied to the word embeddings: counted once.
            if name != "cls.predictions.decoder.weight" {
                parameters += shape.iter().product::<usize>();
            }
            if CLASSIFIER_PREFIXES.iter().any(|p| name.starts_with(p)) {
                base_head.insert(name.to_string(), w.take(name, &shape).map_err(js)?.clone());
            }
            base_shapes.insert(name.to_string(), shape);
        }
        let mut m = Model {
            device: dev,
            config: files.config,
            tokenizer: files.tokenizer,
            model,
            base_head,
            base_shapes,
            parameters,
            precision,
            cls: None,
        };
        m.clear_adapter()?;
        Ok(m)
    }

    #[wasm_bindgen(getter, js_name = hiddenSize)]
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    #[wasm_bindgen(getter)]
    pub fn layers(&self) -> usize {
        self.config.num_hidden_layers
    }

    /// The architecture, in words: DNABERT-2, DNABERT (k-mer BERT) or the
    /// Nucleotide Transformer (v1, learned positions; v2, rotary).
    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> String {
        use dnagpu::model::encoder::Family;
        let enc = &self.model.encoder;
        match enc.family {
            Family::Dnabert2 => "DNABERT-2 (BPE, ALiBi)".into(),
            Family::Bert => "DNABERT (k-mer BERT)".into(),
            Family::Esm if enc.rotary => "Nucleotide Transformer v2 (rotary)".into(),
            Family::Esm => "Nucleotide Transformer v1".into(),
        }
    }

    /// How the layers' weight matrices are kept: "f32" or "f16".
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        self.precision.name().into()
    }

    /// What the model computes with, in words: "f32", or with f16 weights
    /// whether the activations are f16 too (a WebGPU adapter with
    /// shader-f16) and why not where they are not.
    #[wasm_bindgen(getter, js_name = precisionSummary)]
    pub fn precision_summary(&self) -> String {
        self.model
            .encoder
            .half_precision_summary(&self.device)
            .unwrap_or_else(|| "f32".into())
    }

    /// Number of weights in the checkpoint.
    #[wasm_bindgen(getter)]
    pub fn parameters(&self) -> usize {
        self.parameters
    }

    #[wasm_bindgen(getter, js_name = hasClassifier)]
    pub fn has_classifier(&self) -> bool {
        self.cls.is_some()
    }

    /// Classes of the classifier (0 without one).
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> usize {
        self.cls.as_ref().map_or(0, ClsModel::classes)
    }

    /// Classifies with a PEFT LoRA adapter (`adapter_config.json` text and
    /// `adapter_model.safetensors` bytes) from now on.
    #[wasm_bindgen(js_name = setAdapter)]
    pub fn set_adapter(&mut self, config_json: &str, weights: &[u8]) -> Result<(), JsError> {
        let adapter = Adapter::from_bytes(config_json, weights, "adapter").map_err(js)?;
        adapter
            .check_against(&self.config, &self.base_shapes)
            .map_err(js)?;
        self.cls = Some(
            ClsModel::on_encoder_with_adapter(
                &self.device,
                &self.config,
                self.model.encoder.clone(),
                &self.head_weights(),
                &adapter,
            )
            .map_err(js)?,
        );
        Ok(())
    }

    /// Back to the base model's own classifier (none if it has no head).
    #[wasm_bindgen(js_name = clearAdapter)]
    pub fn clear_adapter(&mut self) -> Result<(), JsError> {
        let names = dnagpu::model::HeadNames::of(self.model.encoder.family);
        let pooler = format!("{}.weight", names.pooler);
        self.cls = match self.base_head.get(&names.classifier_weight()) {
            Some(c) if self.base_head.contains_key(&pooler) => Some(
                ClsModel::on_encoder(
                    &self.device,
                    &self.config,
                    self.model.encoder.clone(),
                    &self.head_weights(),
                    c.shape[0],
                    0,
                )
                .map_err(js)?,
            ),
            _ => None,
        };
        Ok(())
    }

    /// Embeds `text` (FASTA, GUE CSV or one sequence per line) with
    /// `pooling` ("mean", "mean-nospecial", "cls", "max", "pooler") from
    /// hidden state `layer` (`undefined` = last; negative counts from the
    /// end), `batchSize` sequences at a time; `onProgress(done, total)`.
    pub async fn embed(
        &self,
        text: &str,
        pooling: &str,
        layer: Option<i32>,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
    ) -> Result<Embeddings, JsError> {
        let pooling: Pooling = pooling.parse().map_err(js)?;
        if pooling == Pooling::None {
            return Err(JsError::new(
                "per-token output is not offered here: choose a pooling",
            ));
        }
        let (rows, out) = self
            .embed_rows(text, pooling, layer, batch_size, on_progress, "embedding")
            .await?;
        Ok(Embeddings {
            rows,
            hidden: self.config.hidden_size,
            values: out.into_iter().flat_map(|e| e.values).collect(),
        })
    }

    /// Class probabilities of every sequence in `text`.
    pub async fn classify(
        &self,
        text: &str,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
    ) -> Result<Classified, JsError> {
        let cls = self.classifier()?;
        let input = read_input(text, "input")?;
        let tokens = self.token_ids(&input)?;
        let probs = predict(&self.device, cls, &tokens, batch_size, |d, t| {
            report(on_progress.as_ref(), d, t)
        })
        .await
        .map_err(js)?;
        let rows = Rows::of(&input);
        dnagpu::export::check_finite(
            &rows.ids,
            probs.iter().map(Vec::as_slice),
            "class probabilities",
        )
        .map_err(js)?;
        Ok(Classified {
            rows,
            classes: cls.classes(),
            probs: probs.concat(),
        })
    }

    /// MCC, macro F1, accuracy and the confusion matrix on a labelled CSV
    /// (`sequence,label`, labels 0..classes-1).
    pub async fn evaluate(
        &self,
        csv: &str,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
    ) -> Result<Evaluation, JsError> {
        let cls = self.classifier()?;
        let input = read_input(csv, "evaluation file")?;
        let set =
            LabelledSet::from_records(input.records, &self.tokenizer, None, "evaluation file")
                .map_err(js)?;
        let inner = finetune::evaluate(&self.device, cls, &set, batch_size, |d, t| {
            report(on_progress.as_ref(), d, t)
        })
        .await
        .map_err(js)?;
        Ok(Evaluation { inner })
    }
}

impl Model {
    /// Embeds every sequence of `text` with `pooling`, checked finite (a
    /// non-finite value is an error naming the record and `what`); the rows'
    /// warnings include batches split for GPU memory.
    pub(crate) async fn embed_rows(
        &self,
        text: &str,
        pooling: Pooling,
        layer: Option<i32>,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
        what: &str,
    ) -> Result<(Rows, Vec<dnagpu::embed::Embedding>), JsError> {
        let input = read_input(text, "input")?;
        let seqs: Vec<&str> = input.records.iter().map(|r| r.seq.as_str()).collect();
        let opts = EmbedOptions {
            pooling,
            layer: layer.map(|l| l as isize),
            batching: batching(batch_size),
            window: None,
        };
        // Batches split for GPU memory: said with the result, as input warnings are.
        let mut split = None;
        let out = dnagpu::embed::embed(
            &self.device,
            &self.model,
            &self.tokenizer,
            &seqs,
            &opts,
            |p| {
                split = p.split_notice();
                report(on_progress.as_ref(), p.sequences, p.total_sequences)
            },
        )
        .await
        .map_err(js)?;
        let mut rows = Rows::of(&input);
        rows.warnings.extend(split);
        dnagpu::export::check_finite(&rows.ids, out.iter().map(|e| e.values.as_slice()), what)
            .map_err(js)?;
        Ok((rows, out))
    }

    /// The token ids of every sequence of `input`.
    pub(crate) fn token_ids(
        &self,
        input: &dnagpu::data::ReadOutput,
    ) -> Result<Vec<Vec<u32>>, JsError> {
        input
            .records
            .iter()
            .map(|r| self.tokenizer.encode(&r.seq).map(|e| e.ids))
            .collect::<dnagpu::Result<Vec<_>>>()
            .map_err(js)
    }

    pub(crate) fn classifier(&self) -> Result<&ClsModel, JsError> {
        self.cls.as_ref().ok_or_else(|| {
            JsError::new(
                "this model has no classification head: load a fine-tuned model or a LoRA adapter (adapter_config.json + adapter_model.safetensors), or fine-tune one below",
            )
        })
    }

    pub(crate) fn head_weights(&self) -> Weights {
        Weights::new(self.base_head.clone(), "model")
    }
}

impl Model {
    /// The precision the model was loaded in.
    pub(crate) fn precision_value(&self) -> Precision {
        self.precision
    }
}
