//! Benchmark entries on `Model`: the input tokenized and batched as `embed`
//! does it, and the encoder run on such a pre-tokenized batch, so
//! web/e2e/bench_onnx.mjs can time dnagpu's forward and onnxruntime-web's on
//! the same ids (tokenizing apart).

use dnagpu::embed::{padded_batch, plan_batches};
use dnagpu::ops::{self, PoolMode};
use wasm_bindgen::prelude::*;

use crate::model::Model;
use crate::{js, read_input};

#[wasm_bindgen]
impl Model {
    /// The sequences of `text` tokenized and grouped as `embed` groups them
    /// (longest first, at most `batchSize` a batch, padded with [PAD]): an
    /// array of `{ rows, tokens, ids, mask }`, ids and mask `Uint32Array`s
    /// of rows x tokens (mask 1 = real token).
    #[wasm_bindgen(js_name = tokenBatches)]
    pub fn token_batches(&self, text: &str, batch_size: usize) -> Result<js_sys::Array, JsError> {
        let encoded = self.token_ids(&read_input(text, "input")?)?;
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let max_tokens = crate::model::batching(batch_size).max_tokens;
        let out = js_sys::Array::new();
        for members in plan_batches(&lengths, batch_size.max(1), max_tokens) {
            let b = members.len();
            let (ids, mask, t) = padded_batch(&encoded, &lengths, &members);
            let batch = js_sys::Object::new();
            let set = |k: &str, v: JsValue| js_sys::Reflect::set(&batch, &k.into(), &v);
            set("rows", b.into())
                .and(set("tokens", t.into()))
                .and(set("ids", js_sys::Uint32Array::from(&ids[..]).into()))
                .and(set("mask", js_sys::Uint32Array::from(&mask[..]).into()))
                .map_err(|_| JsError::new("could not build a batch object"))?;
            out.push(&batch);
        }
        Ok(out)
    }

    /// Mean-pooled last hidden states [rows, hidden] of one pre-tokenized
    /// batch (`ids` and `mask`: rows x tokens, as `tokenBatches` gives).
    #[wasm_bindgen(js_name = embedTokens)]
    pub async fn embed_tokens(
        &self,
        ids: &[u32],
        mask: &[u32],
        rows: usize,
    ) -> Result<Vec<f32>, JsError> {
        let enc = &self.model.encoder;
        let last = enc.config.num_hidden_layers;
        let states = enc
            .forward_host(&self.device, ids, mask, rows, |l| l == last)
            .map_err(js)?;
        let x = &states.last().expect("the last layer is always kept").1;
        let mask = self.device.tensor_u32(&x.shape()[..2], mask).map_err(js)?;
        let pooled = ops::pool(&self.device, x, &mask, PoolMode::Mean).map_err(js)?;
        self.device.read_f32(&pooled).await.map_err(js)
    }
}

#[wasm_bindgen]
impl Model {
    /// [`Model::embed_tokens`] timed per op (the library's `cpu_profile`;
    /// CPU backend only): JSON `[[op, outputs, seconds], ...]`, slowest first.
    #[wasm_bindgen(js_name = profileTokens)]
    pub async fn profile_tokens(
        &self,
        ids: &[u32],
        mask: &[u32],
        rows: usize,
    ) -> Result<String, JsError> {
        dnagpu::cpu_profile::set_enabled(true);
        let out = self.embed_tokens(ids, mask, rows).await;
        let profile = dnagpu::cpu_profile::rows();
        dnagpu::cpu_profile::set_enabled(false);
        out?;
        serde_json::to_string(&profile).map_err(js)
    }
}
