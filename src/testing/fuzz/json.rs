//! The JSON files of model, adapter and run folders: `config.json`, PEFT's
//! `adapter_config.json` (alone, and with its `adapter_model.safetensors`)
//! and a training checkpoint's `state.json`.

use super::ORIGIN;
use crate::model::adapter::{Adapter, LoraConfig};
use crate::model::Config;
use crate::train::checkpoint::{check_settings, TrainerState};

pub fn config_json(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let cfg = match Config::from_json(text, ORIGIN) {
        Ok(cfg) => cfg,
        Err(e) => return assert!(e.to_string().contains(ORIGIN), "{e}"),
    };
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    assert!(h > 0 && i > 0 && cfg.vocab_size > 0 && cfg.num_hidden_layers > 0);
    assert_eq!(h % cfg.num_attention_heads, 0);
    assert!(cfg.head_dim() <= crate::ops::attention::MAX_HEAD_DIM);
    // The weight shapes the model code derives from the config (packed QKV
    // [3H, H], gated MLP [2I, H], tables [rows, H]) have element counts.
    let packed = [h.checked_mul(3), i.checked_mul(2)];
    assert!(packed.iter().all(Option::is_some), "3 x {h} or 2 x {i}");
    let tables = [
        Some(cfg.vocab_size),
        Some(cfg.type_vocab_size),
        cfg.max_position_embeddings,
        cfg.labels(),
    ];
    for rows in tables.into_iter().chain(packed).flatten() {
        assert!(rows.checked_mul(h).is_some(), "[{rows}, {h}]");
    }
}

pub fn adapter_config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let cfg = match LoraConfig::from_json(text, ORIGIN) {
        Ok(cfg) => cfg,
        Err(e) => return assert!(e.to_string().contains(ORIGIN), "{e}"),
    };
    cfg.validate(ORIGIN).expect("a config that reads is valid");
    // What dnagpu writes for PEFT, it reads back the same.
    let back = LoraConfig::from_json(&cfg.to_json(), ORIGIN).expect("reading what was written");
    assert_eq!(back, cfg);
}

/// `adapter_config.json`, a NUL byte (no JSON text holds one), then
/// `adapter_model.safetensors`.
pub fn adapter(bytes: &[u8]) {
    let (config, weights) = match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[][..]),
    };
    let Ok(config) = std::str::from_utf8(config) else {
        return;
    };
    let adapter = match Adapter::from_bytes(config, weights, ORIGIN) {
        Ok(adapter) => adapter,
        Err(e) => return assert!(e.to_string().contains(ORIGIN), "{e}"),
    };
    // What dnagpu writes for PEFT, it reads back the same (compared as the
    // files: a NaN is not equal to itself).
    let files = adapter.to_files().expect("writing what was read");
    let back = Adapter::from_bytes(&files.0, &files.1, ORIGIN).expect("reading what was written");
    assert!(
        back.to_files().ok() == Some(files),
        "the adapter changed on the way back"
    );
}

pub fn checkpoint_state(bytes: &[u8]) {
    let Ok(state) = serde_json::from_slice::<TrainerState>(bytes) else {
        return;
    };
    check_settings(&state.settings, &state.settings).expect("settings match themselves");
    let text = serde_json::to_string_pretty(&state).expect("a state serializes");
    let back: TrainerState = serde_json::from_str(&text).expect("reading what was written");
    assert_eq!(
        (back.step, back.batches, back.epoch, back.tokens),
        (state.step, state.batches, state.epoch, state.tokens)
    );
}
