//! LoRA adapters in Hugging Face PEFT's format: `adapter_config.json` plus
//! `adapter_model.safetensors` (or an older `adapter_model.bin`). Reading,
//! writing with PEFT's exact key names, checking against a base model, and
//! merging into the base weights.
//!
//! PEFT stores the matrices of an adapted linear layer `M` as
//! `base_model.model.M.lora_A.weight` `[r, in]` and
//! `base_model.model.M.lora_B.weight` `[out, r]`, and the trained copies of
//! the `modules_to_save` (the task head: `bert.pooler.dense`, `classifier`)
//! under their plain names behind the same prefix, e.g.
//! `base_model.model.classifier.weight` (PEFT removes the
//! `modules_to_save.default.` it holds them under in memory). The adapted
//! layer computes `y = x W^T + b + (alpha / r) (x A^T) B^T`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::classifier::HeadNames;
use super::config::Config;
use super::io::{HostTensor, Weights};
use crate::error::{shape_err, Error, Result};

/// Prefix of every key PEFT writes into `adapter_model.safetensors`.
pub const PEFT_PREFIX: &str = "base_model.model.";

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
    /// which [`Adapter`] fills from the modules its tensors adapt.
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
    pub fn for_family(family: super::encoder::Family) -> Self {
        use super::encoder::Family;
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

fn bad(origin: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{origin}: {msg}"))
}

/// The config, and whether `target_modules` was given as a list (false for
/// PEFT's regex string or null).
fn parse_config(text: &str, origin: &str) -> Result<(LoraConfig, bool)> {
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

/// Whether the module path `path` is named by `entry` the way PEFT matches
/// names: the whole path or a dotted suffix of it.
fn names_module(entry: &str, path: &str) -> bool {
    path == entry
        || path
            .strip_suffix(entry)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Shapes of a base model's tensors by Hugging Face name.
pub trait BaseShapes {
    fn base_shape(&self, name: &str) -> Option<&[usize]>;
}

impl BaseShapes for Weights {
    fn base_shape(&self, name: &str) -> Option<&[usize]> {
        self.shape_of(name)
    }
}

/// Shapes alone, for a base whose host tensors are gone (the browser keeps
/// only its device copy).
impl BaseShapes for BTreeMap<String, Vec<usize>> {
    fn base_shape(&self, name: &str) -> Option<&[usize]> {
        self.get(name).map(Vec::as_slice)
    }
}

impl BaseShapes for BTreeMap<String, HostTensor> {
    fn base_shape(&self, name: &str) -> Option<&[usize]> {
        self.get(name).map(|t| t.shape.as_slice())
    }
}

/// A LoRA adapter: its config, the A/B pair of every adapted linear layer
/// and the task-head tensors saved in full.
#[derive(Clone, Debug, PartialEq)]
pub struct Adapter {
    pub config: LoraConfig,
    /// By module path (e.g. `bert.encoder.layer.0.attention.self.Wqkv`):
    /// (A `[r, in]`, B `[out, r]`).
    pub lora: BTreeMap<String, (HostTensor, HostTensor)>,
    /// By plain Hugging Face name (e.g. `classifier.weight`).
    pub head: BTreeMap<String, HostTensor>,
}

impl Adapter {
    /// Reads an adapter folder: `adapter_config.json` and
    /// `adapter_model.safetensors` (or else `adapter_model.bin`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not an adapter folder (expected adapter_config.json, adapter_model.safetensors)",
                dir.display()
            )));
        }
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| bad(&path.display().to_string(), e))
        };
        let cfg_path = dir.join("adapter_config.json");
        if !cfg_path.is_file() {
            return Err(bad(
                &dir.display().to_string(),
                "the adapter folder has no adapter_config.json",
            ));
        }
        let config_json = String::from_utf8(read("adapter_config.json")?)
            .map_err(|e| bad(&cfg_path.display().to_string(), e))?;
        let st = dir.join("adapter_model.safetensors");
        let bin = dir.join("adapter_model.bin");
        if st.is_file() {
            Self::from_bytes(
                &config_json,
                &read("adapter_model.safetensors")?,
                &dir.display().to_string(),
            )
        } else if bin.is_file() {
            let origin = bin.display().to_string();
            let tensors =
                super::io::torch_bin::read_state_dict(&read("adapter_model.bin")?, &origin)?;
            Self::from_tensors(&config_json, tensors, &dir.display().to_string())
        } else {
            Err(bad(
                &dir.display().to_string(),
                "the adapter folder has no adapter_model.safetensors or adapter_model.bin",
            ))
        }
    }

    /// Parses the two files held in memory (the browser's path); `origin`
    /// names the adapter in errors.
    pub fn from_bytes(config_json: &str, safetensors: &[u8], origin: &str) -> Result<Self> {
        let st_origin = format!("{origin}/adapter_model.safetensors");
        let w = Weights::from_safetensors(safetensors, &st_origin)?;
        Self::from_tensors(config_json, w.take_all(), origin)
    }

    /// Builds an adapter from the config text and PEFT's key → tensor map.
    pub fn from_tensors(
        config_json: &str,
        tensors: BTreeMap<String, HostTensor>,
        origin: &str,
    ) -> Result<Self> {
        let cfg_origin = format!("{origin}/adapter_config.json");
        let (mut config, targets_listed) = parse_config(config_json, &cfg_origin)?;
        let mut a_of = BTreeMap::new();
        let mut b_of = BTreeMap::new();
        let mut head = BTreeMap::new();
        for (key, t) in tensors {
            let name = key.strip_prefix(PEFT_PREFIX).ok_or_else(|| {
                bad(origin, format_args!("tensor `{key}` does not start with `{PEFT_PREFIX}`: is this a PEFT adapter?"))
            })?;
            if let Some(m) = name.strip_suffix(".lora_A.weight") {
                a_of.insert(m.to_string(), t);
            } else if let Some(m) = name.strip_suffix(".lora_B.weight") {
                b_of.insert(m.to_string(), t);
            } else if name.contains("lora_") {
                return Err(bad(
                    origin,
                    format_args!("tensor `{key}` is a LoRA variant dnagpu does not read (only lora_A.weight / lora_B.weight of linear layers)"),
                ));
            } else {
                // Written by hand from a live PeftModel's state dict, the
                // head keeps its in-memory `modules_to_save.default.` part.
                let plain = name.replace("modules_to_save.default.", "");
                head.insert(plain, t);
            }
        }
        let mut lora = BTreeMap::new();
        for (m, a) in a_of {
            let b = b_of.remove(&m).ok_or_else(|| {
                bad(
                    origin,
                    format_args!("`{PEFT_PREFIX}{m}.lora_A.weight` has no `lora_B.weight`"),
                )
            })?;
            lora.insert(m, (a, b));
        }
        if let Some(m) = b_of.keys().next() {
            return Err(bad(
                origin,
                format_args!("`{PEFT_PREFIX}{m}.lora_B.weight` has no `lora_A.weight`"),
            ));
        }
        if !targets_listed {
            // PEFT's regex / null form: name the modules the tensors adapt.
            let mut leaves: Vec<String> = lora
                .keys()
                .map(|m| m.rsplit('.').next().unwrap_or(m).to_string())
                .collect();
            leaves.sort();
            leaves.dedup();
            config.target_modules = leaves;
        }
        let adapter = Self { config, lora, head };
        adapter.validate(origin)?;
        Ok(adapter)
    }

    /// The factor of the LoRA update, `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.config.scale()
    }

    /// The two files PEFT writes: `adapter_config.json` text and
    /// `adapter_model.safetensors` bytes (f32, PEFT's key names, metadata
    /// `{"format": "pt"}`).
    pub fn to_files(&self) -> Result<(String, Vec<u8>)> {
        self.validate("adapter")?;
        let mut named: Vec<(String, &HostTensor)> = Vec::new();
        for (m, (a, b)) in &self.lora {
            named.push((format!("{PEFT_PREFIX}{m}.lora_A.weight"), a));
            named.push((format!("{PEFT_PREFIX}{m}.lora_B.weight"), b));
        }
        for (name, t) in &self.head {
            named.push((format!("{PEFT_PREFIX}{name}"), t));
        }
        let metadata = Some(
            [("format".to_string(), "pt".to_string())]
                .into_iter()
                .collect(),
        );
        let bytes = crate::export::safetensors_named(
            named
                .iter()
                .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice())),
            crate::export::Precision::F32,
            metadata,
        )?;
        Ok((self.config.to_json(), bytes))
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into
    /// `dir` (created if needed).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, dir: &std::path::Path) -> Result<()> {
        let (config_json, bytes) = self.to_files()?;
        let io = |e: std::io::Error| bad(&dir.display().to_string(), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(dir.join("adapter_config.json"), config_json).map_err(io)?;
        std::fs::write(dir.join("adapter_model.safetensors"), bytes).map_err(io)
    }

    /// Self-consistency: A `[r, in]` and B `[out, r]` with the config's r,
    /// each adapted module named by `target_modules`, each head tensor
    /// inside a module of `modules_to_save`.
    fn validate(&self, origin: &str) -> Result<()> {
        self.config.validate(origin)?;
        let r = self.config.r;
        for (m, (a, b)) in &self.lora {
            let ka = format!("{PEFT_PREFIX}{m}.lora_A.weight");
            let kb = format!("{PEFT_PREFIX}{m}.lora_B.weight");
            if a.shape.len() != 2 || a.shape[0] != r {
                return Err(bad(
                    origin,
                    format_args!("`{ka}` has shape {:?}, expected [r = {r}, in]", a.shape),
                ));
            }
            if b.shape.len() != 2 || b.shape[1] != r {
                return Err(bad(
                    origin,
                    format_args!("`{kb}` has shape {:?}, expected [out, r = {r}]", b.shape),
                ));
            }
            for (k, t) in [(&ka, a), (&kb, b)] {
                if t.data.len() != t.shape.iter().product::<usize>() {
                    return Err(bad(
                        origin,
                        format_args!(
                            "`{k}` holds {} values for shape {:?}",
                            t.data.len(),
                            t.shape
                        ),
                    ));
                }
            }
            if !self
                .config
                .target_modules
                .iter()
                .any(|t| names_module(t, m))
            {
                return Err(bad(
                    origin,
                    format_args!(
                        "module `{m}` has LoRA matrices but target_modules {:?} does not name it",
                        self.config.target_modules
                    ),
                ));
            }
        }
        for (name, t) in &self.head {
            if t.data.len() != t.shape.iter().product::<usize>() {
                return Err(bad(
                    origin,
                    format_args!(
                        "`{name}` holds {} values for shape {:?}",
                        t.data.len(),
                        t.shape
                    ),
                ));
            }
            let module = name.rsplit_once('.').map_or("", |(m, _)| m);
            let covered = module_prefixes(module).any(|p| {
                self.config
                    .modules_to_save
                    .iter()
                    .any(|e| names_module(e, p))
            });
            if !covered {
                return Err(bad(
                    origin,
                    format_args!("tensor `{name}` is saved but modules_to_save {:?} names none of its modules", self.config.modules_to_save),
                ));
            }
        }
        Ok(())
    }

    /// Checks the adapter against a base model: every adapted module is a
    /// linear layer of the base whose `[out, in]` fits A `[r, in]` and B
    /// `[out, r]`, and every head tensor has the base's shape (or, where
    /// the base has no head, the one `cfg` gives: pooler `[H, H]`, `[H]`,
    /// classifier `[labels, H]`, `[labels]`). Errors name the tensors and
    /// both shapes.
    pub fn check_against<S: BaseShapes + ?Sized>(&self, cfg: &Config, base: &S) -> Result<()> {
        let op = "adapter check";
        let r = self.config.r;
        for (m, (a, b)) in &self.lora {
            let wname = format!("{m}.weight");
            let w = base.base_shape(&wname).ok_or_else(|| {
                shape_err(
                    op,
                    format!("adapted module `{m}` is not in the base model (no tensor `{wname}`)"),
                )
            })?;
            if w.len() != 2 {
                return Err(shape_err(op, format!("adapted module `{m}`: base tensor `{wname}` has shape {w:?}, not a linear layer's [out, in]")));
            }
            let (out, inp) = (w[0], w[1]);
            if a.shape != [r, inp] {
                return Err(shape_err(op, format!(
                    "`{PEFT_PREFIX}{m}.lora_A.weight` has shape {:?} but the base's `{wname}` is {w:?}: A must be [{r}, {inp}]",
                    a.shape
                )));
            }
            if b.shape != [out, r] {
                return Err(shape_err(op, format!(
                    "`{PEFT_PREFIX}{m}.lora_B.weight` has shape {:?} but the base's `{wname}` is {w:?}: B must be [{out}, {r}]",
                    b.shape
                )));
            }
        }
        let h = cfg.hidden_size;
        // The adapter's classifier replaces the base's: its class count is
        // the adapter's own (a base may carry another task's head). Heads
        // as BERT (`bert.pooler.dense`, `classifier`) or ESM
        // (`classifier.dense`, `classifier.out_proj`) name them.
        let classes = HeadNames::classes_in(|w| self.head.get(w).map(|t| t.shape.clone()))
            .or_else(|| cfg.labels())
            .or_else(|| HeadNames::classes_in(|w| base.base_shape(w).map(<[usize]>::to_vec)));
        for (name, t) in &self.head {
            let is_classifier = name.starts_with("classifier.");
            let want: Vec<usize> = match base.base_shape(name) {
                Some(s) if !is_classifier => s.to_vec(),
                _ => HeadNames::shape_in_any(name, h, classes).ok_or_else(|| {
                    shape_err(op, format!(
                        "saved tensor `{name}` (shape {:?}) is neither in the base model nor part of the pooler / classifier head",
                        t.shape
                    ))
                })?,
            };
            if t.shape != want {
                return Err(shape_err(
                    op,
                    format!(
                        "saved tensor `{name}` has shape {:?}, the base model needs {want:?}",
                        t.shape
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Merges into the base weights (the `--merge` export): `W += (alpha /
    /// r) B A` for every adapted module, summed in f64, and the head
    /// tensors copied in. Nothing is changed when a shape does not fit.
    pub fn merge(&self, base: &mut BTreeMap<String, HostTensor>) -> Result<()> {
        let r = self.config.r;
        for (m, (a, b)) in &self.lora {
            let wname = format!("{m}.weight");
            let w = base.get(&wname).ok_or_else(|| {
                shape_err(
                    "adapter merge",
                    format!("adapted module `{m}` is not in the base model (no tensor `{wname}`)"),
                )
            })?;
            if w.shape.len() != 2 || a.shape != [r, w.shape[1]] || b.shape != [w.shape[0], r] {
                return Err(shape_err("adapter merge", format!(
                    "`{m}`: base weight {:?}, lora_A {:?}, lora_B {:?} do not fit W [out, in] += B [out, r] A [r, in] with r = {r}",
                    w.shape, a.shape, b.shape
                )));
            }
        }
        let scale = self.scale();
        for (m, (a, b)) in &self.lora {
            let w = base.get_mut(&format!("{m}.weight")).expect("checked above");
            let inp = w.shape[1];
            use rayon::prelude::*;
            w.data
                .par_chunks_mut(inp)
                .zip(b.data.par_chunks(r))
                .for_each(|(row, b_row)| {
                    for (i, wv) in row.iter_mut().enumerate() {
                        let delta: f64 = b_row
                            .iter()
                            .enumerate()
                            .map(|(k, &bk)| bk as f64 * a.data[k * inp + i] as f64)
                            .sum();
                        *wv = (*wv as f64 + scale * delta) as f32;
                    }
                });
        }
        for (name, t) in &self.head {
            base.insert(name.clone(), t.clone());
        }
        Ok(())
    }
}

/// `a.b.c`, `a.b`, `a`: the module path and every module above it.
fn module_prefixes(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = cur.rsplit_once('.').map(|(p, _)| p);
        Some(cur)
    })
    .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_match_on_dotted_suffixes() {
        assert!(names_module(
            "Wqkv",
            "bert.encoder.layer.0.attention.self.Wqkv"
        ));
        assert!(names_module(
            "self.Wqkv",
            "bert.encoder.layer.0.attention.self.Wqkv"
        ));
        assert!(!names_module(
            "qkv",
            "bert.encoder.layer.0.attention.self.Wqkv"
        ));
        assert!(names_module("pooler", "bert.pooler"));
        let p: Vec<&str> = module_prefixes("bert.pooler.dense").collect();
        assert_eq!(p, ["bert.pooler.dense", "bert.pooler", "bert"]);
    }

    #[test]
    fn config_round_trips_through_json() {
        let mut c = LoraConfig::dnabert2();
        c.base_model = Some("zhihan1996/DNABERT-2-117M".into());
        let back = LoraConfig::from_json(&c.to_json(), "c.json").unwrap();
        assert_eq!(back, c);
        let text = c.to_json();
        assert!(text.contains("\"lora_alpha\": 32,"), "{text}");
        assert!(text.contains("\"task_type\": \"SEQ_CLS\""), "{text}");
    }
}
