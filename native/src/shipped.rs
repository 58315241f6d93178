//! The shipped model and its demo adapter (models/README.md), embedded in
//! the binary: what commands use without `--model`, from any folder, with
//! nothing to unpack. The bytes are those of `models/` when the binary was
//! built; `serve` answers the page's requests for them from here too.

use dnagpu::model::adapter::Adapter;
use dnagpu::model::io::{ModelFiles, Weights};

/// How messages name the shipped model.
pub const MODEL_NAME: &str = "models/dnabert2-small-gue (shipped)";
/// How messages name the demo adapter.
pub const ADAPTER_NAME: &str = "models/dnabert2-small-gue-promoter-lora (shipped)";

macro_rules! model_file {
    ($name:literal) => {
        concat!("../../models/dnabert2-small-gue/", $name)
    };
}
macro_rules! adapter_file {
    ($name:literal) => {
        concat!("../../models/dnabert2-small-gue-promoter-lora/", $name)
    };
}

const CONFIG: &str = include_str!(model_file!("config.json"));
const TOKENIZER: &str = include_str!(model_file!("tokenizer.json"));
const WEIGHTS: &[u8] = include_bytes!(model_file!("model.safetensors"));
const ADAPTER_CONFIG: &str = include_str!(adapter_file!("adapter_config.json"));
const ADAPTER_WEIGHTS: &[u8] = include_bytes!(adapter_file!("adapter_model.safetensors"));

/// The shipped model's files, read and checked.
pub fn model() -> dnagpu::Result<ModelFiles> {
    let weights = Weights::from_safetensors(WEIGHTS, &format!("{MODEL_NAME}/model.safetensors"))?;
    ModelFiles::from_parts(
        CONFIG.to_owned(),
        "tokenizer.json",
        TOKENIZER.to_owned(),
        weights,
        MODEL_NAME,
    )
}

/// The demo adapter (promoter or not, GUE prom_core_all).
pub fn adapter() -> dnagpu::Result<Adapter> {
    Adapter::from_bytes(ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTER_NAME)
}

/// The files the page fetches for the shipped model and adapter (as
/// scripts/build-web.sh lays them out in web/dist), by path under the page.
pub fn page_file(path: &str) -> Option<&'static [u8]> {
    Some(match path {
        "models/dnabert2-small-gue/config.json" => CONFIG.as_bytes(),
        "models/dnabert2-small-gue/tokenizer.json" => TOKENIZER.as_bytes(),
        "models/dnabert2-small-gue/model.safetensors" => WEIGHTS,
        "models/dnabert2-small-gue-promoter-lora/adapter_config.json" => ADAPTER_CONFIG.as_bytes(),
        "models/dnabert2-small-gue-promoter-lora/adapter_model.safetensors" => ADAPTER_WEIGHTS,
        _ => return None,
    })
}
