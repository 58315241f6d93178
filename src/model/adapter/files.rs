//! Reading and writing an adapter's files: `adapter_config.json` with
//! `adapter_model.safetensors` (or an older `adapter_model.bin`, read
//! through `model::io::torch_bin`), from a folder or from bytes in memory,
//! with PEFT's exact key names.

use std::collections::BTreeMap;

use super::config::parse_config;
use super::{bad, Adapter, PEFT_PREFIX};
#[cfg(not(target_arch = "wasm32"))]
use crate::error::Error;
use crate::error::Result;
use crate::model::io::{HostTensor, Weights};

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
                crate::model::io::torch_bin::read_state_dict(&read("adapter_model.bin")?, &origin)?;
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
        Self::from_tensors(config_json, w.take_all()?, origin)
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
}
