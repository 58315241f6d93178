//! [`LoraConfig`]: the parts of PEFT's `adapter_config.json` that dnagpu
//! uses, its family defaults, parsing (with the options that change the
//! math refused) and writing it the way PEFT does.

use serde_json::{json, Value};

use super::bad;
use crate::error::Result;

/// The parts of PEFT's `LoraConfig` that dnagpu uses.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    /// Rank of A `[r, in]` and B `[out, r]`.
    pub r: usize,
    /// `lora_alpha`: the update is scaled by `alpha / r`.
    pub alpha: f64,
    /// `lora_dropout`, applied to the input of the LoRA branch in training.
    pub dropout: f64,
    /// Names (or dotted suffixes) of the adapted linear layers, e.g. `Wqkv`.
    /// PEFT's regex form (a single string) or `null` reads as an empty list,
    /// which [`Adapter`](super::Adapter) fills from the modules its tensors adapt.
    pub target_modules: Vec<String>,
    /// Modules trained in full and saved with the adapter (the task head).
    pub modules_to_save: Vec<String>,
    /// `base_model_name_or_path`.
    pub base_model: Option<String>,
}

impl LoraConfig {
    /// DNABERT-2's fine-tuning default: r 8, alpha 32, dropout 0.05 on the
    /// `Wqkv` layers, the pooler and classifier trained in full.
    pub fn dnabert2() -> Self {
        Self {
            r: 8,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: vec!["Wqkv".into()],
            modules_to_save: vec!["classifier".into(), "pooler".into()],
            base_model: None,
        }
    }

    /// The default for an encoder family: DNABERT-2's, or for BERT
    /// (DNABERT) and ESM (the Nucleotide Transformer) the same on their
    /// attention projections query, key, value (ESM's head is all under
    /// `classifier`).
    pub fn for_family(family: crate::model::encoder::Family) -> Self {
        use crate::model::encoder::Family;
        let mut c = Self::dnabert2();
        if matches!(family, Family::Bert | Family::Esm) {
            c.target_modules = ["query", "key", "value"].map(String::from).to_vec();
        }
        if family == Family::Esm {
            c.modules_to_save = vec!["classifier".into()];
        }
        c
    }

    /// The factor of the LoRA update, `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    /// Parses `adapter_config.json`; `origin` names the file in errors.
    /// Extra keys are ignored; a PEFT type other than LORA and the options
    /// that change the math (`use_dora`, `use_rslora`, `bias`, `lora_bias`,
    /// `fan_in_fan_out`, `rank_pattern`, `alpha_pattern`) are errors naming
    /// the key.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        parse_config(text, origin).map(|(cfg, _)| cfg)
    }

    /// `adapter_config.json` as PEFT writes it (keys sorted, two-space
    /// indent), limited to the keys PEFT has known since 0.9 so that older
    /// releases load it too. `task_type` is `SEQ_CLS` when `classifier` is
    /// among `modules_to_save`, else null.
    pub fn to_json(&self) -> String {
        let alpha = if self.alpha.fract() == 0.0 && self.alpha.abs() < 1e15 {
            json!(self.alpha as i64)
        } else {
            json!(self.alpha)
        };
        let task_type = self
            .modules_to_save
            .iter()
            .any(|m| m == "classifier")
            .then_some("SEQ_CLS");
        let v = json!({
            "alpha_pattern": {},
            "auto_mapping": null,
            "base_model_name_or_path": self.base_model,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layers_pattern": null,
            "layers_to_transform": null,
            "loftq_config": {},
            "lora_alpha": alpha,
            "lora_dropout": self.dropout,
            "megatron_config": null,
            "megatron_core": "megatron.core",
            "modules_to_save": if self.modules_to_save.is_empty() { Value::Null } else { json!(self.modules_to_save) },
            "peft_type": "LORA",
            "r": self.r,
            "rank_pattern": {},
            "revision": null,
            "target_modules": self.target_modules,
            "task_type": task_type,
            "use_dora": false,
            "use_rslora": false,
        });
        serde_json::to_string_pretty(&v).expect("a JSON value always serializes")
    }

    /// Rank, alpha and dropout in range; `origin` names the source in errors.
    pub fn validate(&self, origin: &str) -> Result<()> {
        if self.r == 0 {
            return Err(bad(origin, "`r` must be positive"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(bad(
                origin,
                format_args!("`lora_alpha` {} must be positive", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(bad(
                origin,
                format_args!("`lora_dropout` {} is not in [0, 1)", self.dropout),
            ));
        }
        Ok(())
    }
}

/// The config, and whether `target_modules` was given as a list (false for
/// PEFT's regex string or null).
pub(super) fn parse_config(text: &str, origin: &str) -> Result<(LoraConfig, bool)> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad(origin, format_args!("not readable JSON ({e})")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad(origin, "adapter_config.json must hold a JSON object"))?;
    let get = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let wrong =
        |k: &str, want: &str| bad(origin, format_args!("`{k}` must be {want}, got {}", obj[k]));

    match get("peft_type") {
        Some(Value::String(t)) if t == "LORA" => {}
        Some(other) => {
            return Err(bad(
                origin,
                format_args!("`peft_type` is {other}: dnagpu reads LORA adapters only"),
            ))
        }
        None => return Err(bad(origin, "missing `peft_type` (expected \"LORA\")")),
    }
    for flag in ["use_dora", "use_rslora", "fan_in_fan_out", "lora_bias"] {
        match get(flag) {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                return Err(bad(
                    origin,
                    format_args!("`{flag}` is true: dnagpu supports plain LoRA only"),
                ))
            }
            Some(_) => return Err(wrong(flag, "true or false")),
        }
    }
    match get("bias") {
        None => {}
        Some(Value::String(b)) if b == "none" => {}
        Some(other) => {
            return Err(bad(
                origin,
                format_args!(
                    "`bias` is {other}: dnagpu supports \"none\" only (no trained biases)"
                ),
            ))
        }
    }
    for pattern in ["rank_pattern", "alpha_pattern"] {
        match get(pattern) {
            None => {}
            Some(Value::Object(m)) if m.is_empty() => {}
            Some(_) => {
                return Err(bad(
                    origin,
                    format_args!(
                    "`{pattern}` is not empty: dnagpu supports one rank and alpha for every module"
                ),
                ))
            }
        }
    }

    let r = match get("r") {
        Some(v) => v.as_u64().ok_or_else(|| wrong("r", "a positive integer"))? as usize,
        None => return Err(bad(origin, "missing `r`")),
    };
    let alpha = match get("lora_alpha") {
        Some(v) => v.as_f64().ok_or_else(|| wrong("lora_alpha", "a number"))?,
        None => return Err(bad(origin, "missing `lora_alpha`")),
    };
    let dropout = match get("lora_dropout") {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| wrong("lora_dropout", "a number"))?,
        None => 0.0,
    };
    let strings = |k: &str| -> Result<Vec<String>> {
        match get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| wrong(k, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(wrong(k, "a list of strings")),
        }
    };
    let (target_modules, targets_listed) = match get("target_modules") {
        Some(Value::String(_)) | None => (Vec::new(), false),
        Some(_) => (strings("target_modules")?, true),
    };
    let modules_to_save = strings("modules_to_save")?;
    let base_model = match get("base_model_name_or_path") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(wrong("base_model_name_or_path", "a string")),
    };
    let cfg = LoraConfig {
        r,
        alpha,
        dropout,
        target_modules,
        modules_to_save,
        base_model,
    };
    cfg.validate(origin)?;
    Ok((cfg, targets_listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_json() {
        let mut c = LoraConfig::dnabert2();
        c.base_model = Some("zhihan1996/DNABERT-2-117M".into());
        let back = LoraConfig::from_json(&c.to_json(), "c.json").unwrap();
        assert_eq!(back, c);
        let text = c.to_json();
        assert!(text.contains("\"lora_alpha\": 32,"), "{text}");
        assert!(text.contains("\"task_type\": \"SEQ_CLS\""), "{text}");
        // Exactly, however many digits (found by fuzzing: one ulp off).
        c.alpha = 4.777777777777777e90;
        assert_eq!(LoraConfig::from_json(&c.to_json(), "c.json").unwrap(), c);
    }
}
