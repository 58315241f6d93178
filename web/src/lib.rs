//! dnagpu in the browser: a thin wasm-bindgen layer over the library. Every
//! call returns `Result<_, JsError>`; nothing on this path panics on input.
//! The page, its worker and the model API arrive with the browser issue;
//! today this exposes device selection, so a page can show what runs.

#![cfg(target_arch = "wasm32")]

use dnagpu::{BackendChoice, Device};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The device dnagpu runs on in this browser.
#[wasm_bindgen]
pub struct Runtime {
    device: Device,
    notice: String,
}

#[wasm_bindgen]
impl Runtime {
    /// Picks a device: `backend` is "auto" (WebGPU on a hardware adapter,
    /// else the WASM CPU backend), "gpu" (WebGPU, software adapters
    /// included) or "cpu".
    pub async fn create(backend: &str) -> Result<Runtime, JsError> {
        let choice: BackendChoice = backend
            .parse()
            .map_err(|e: dnagpu::Error| JsError::new(&e.to_string()))?;
        let (device, notice) = Device::select(choice, None)
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Runtime { device, notice })
    }

    /// "WebGPU: <adapter>" or "CPU (WASM)".
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        match &self.device {
            Device::Cpu => "CPU (WASM)".into(),
            Device::Gpu(_) => format!("WebGPU: {}", self.device.name()),
        }
    }

    /// Why this device was chosen.
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> String {
        self.notice.clone()
    }
}

/// A model loaded from a Hugging Face folder's files, held on the runtime's
/// device.
#[wasm_bindgen]
pub struct Model {
    device: Device,
    model: dnagpu::model::Model,
    tokenizer: dnagpu::tokenize::BpeTokenizer,
    hidden: usize,
}

fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl Model {
    /// Loads `config.json` and `tokenizer.json` (text) and `model.safetensors`
    /// (bytes) onto `runtime`'s device.
    pub fn load(
        runtime: &Runtime,
        config_json: &str,
        tokenizer_json: &str,
        safetensors: &[u8],
    ) -> Result<Model, JsError> {
        let config = dnagpu::model::Config::from_json(config_json, "config.json").map_err(js)?;
        let tokenizer = dnagpu::tokenize::BpeTokenizer::from_json(tokenizer_json, "tokenizer.json")
            .map_err(js)?;
        let weights = dnagpu::model::Weights::from_safetensors(safetensors, "model.safetensors")
            .map_err(js)?;
        let model = dnagpu::model::Model::load(&runtime.device, &config, &weights).map_err(js)?;
        Ok(Model {
            device: runtime.device.clone(),
            model,
            tokenizer,
            hidden: config.hidden_size,
        })
    }

    #[wasm_bindgen(getter, js_name = hiddenSize)]
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Embeds `text` (FASTA, GUE CSV or one sequence per line, validated
    /// as the CLI does) with `pooling` ("mean", "mean-nospecial", "cls",
    /// "max", "pooler"): row-major [N, hiddenSize] floats in input order.
    pub async fn embed(&self, text: &str, pooling: &str) -> Result<Vec<f32>, JsError> {
        let pooling: dnagpu::embed::Pooling = pooling.parse().map_err(js)?;
        if pooling == dnagpu::embed::Pooling::None {
            return Err(JsError::new(
                "per-token output is not offered here: choose a pooling",
            ));
        }
        let (format, gzip) = dnagpu::data::sniff(text.as_bytes());
        let input = dnagpu::data::read_records(
            text.as_bytes(),
            "input",
            format,
            gzip,
            dnagpu::data::InvalidPolicy::Error,
        )
        .map_err(js)?;
        let seqs: Vec<&str> = input.records.iter().map(|r| r.seq.as_str()).collect();
        let opts = dnagpu::embed::EmbedOptions {
            pooling,
            ..Default::default()
        };
        let out = dnagpu::embed::embed(
            &self.device,
            &self.model,
            &self.tokenizer,
            &seqs,
            &opts,
            |_| {},
        )
        .await
        .map_err(js)?;
        Ok(out.into_iter().flat_map(|e| e.values).collect())
    }
}
