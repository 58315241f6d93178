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
//!
//! The work is split by job: `config` reads and writes
//! `adapter_config.json` ([`LoraConfig`]), `files` reads and writes the
//! adapter's files, and `merge` checks an adapter against a base model and
//! merges it in ([`BaseShapes`]). This file holds the [`Adapter`] type and
//! its self-consistency check.

use std::collections::BTreeMap;

use super::io::HostTensor;
use crate::error::{Error, Result};

mod config;
mod files;
mod merge;

pub use config::LoraConfig;
pub use merge::BaseShapes;

/// Prefix of every key PEFT writes into `adapter_model.safetensors`.
pub const PEFT_PREFIX: &str = "base_model.model.";

fn bad(origin: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{origin}: {msg}"))
}

/// Whether the module path `path` is named by `entry` the way PEFT matches
/// names: the whole path or a dotted suffix of it.
fn names_module(entry: &str, path: &str) -> bool {
    path == entry
        || path
            .strip_suffix(entry)
            .is_some_and(|rest| rest.ends_with('.'))
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
    /// The factor of the LoRA update, `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.config.scale()
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
}
