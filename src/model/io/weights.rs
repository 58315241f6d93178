//! Named weights read from a checkpoint, converted to f32 on the host, then
//! taken one by one by the model code with their expected shapes. Errors
//! name the tensor, the file and both shapes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

/// One tensor on the host, f32, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors of one checkpoint, by Hugging Face name.
pub struct Weights {
    tensors: BTreeMap<String, HostTensor>,
    origin: String,
    taken: RefCell<BTreeSet<String>>,
}

pub(super) fn bad(origin: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{origin}: {msg}"))
}

impl Weights {
    pub fn new(tensors: BTreeMap<String, HostTensor>, origin: impl Into<String>) -> Self {
        Self {
            tensors,
            origin: origin.into(),
            taken: RefCell::default(),
        }
    }

    /// A checkpoint's bytes, read by its file name: `*.safetensors` or a
    /// PyTorch `*.bin` / `*.pt` / `*.pth` (zip `torch.save` format).
    pub fn from_bytes(bytes: &[u8], file_name: &str, origin: &str) -> Result<Self> {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".safetensors") {
            Self::from_safetensors(bytes, origin)
        } else if [".bin", ".pt", ".pth"].iter().any(|e| lower.ends_with(e)) {
            Ok(Self::new(
                super::torch_bin::read_state_dict(bytes, origin)?,
                origin,
            ))
        } else {
            Err(bad(
                origin,
                format_args!(
                    "`{file_name}` is not a checkpoint file: expected model.safetensors or pytorch_model.bin"
                ),
            ))
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The stored name for `name`: itself, or the old LayerNorm spelling
    /// (`gamma` for `weight`, `beta` for `bias`).
    fn resolve(&self, name: &str) -> Option<String> {
        if self.tensors.contains_key(name) {
            return Some(name.to_string());
        }
        if !name.to_ascii_lowercase().contains("layernorm") {
            return None;
        }
        let alias = match (name.strip_suffix(".weight"), name.strip_suffix(".bias")) {
            (Some(p), _) => format!("{p}.gamma"),
            (_, Some(p)) => format!("{p}.beta"),
            _ => return None,
        };
        self.tensors.contains_key(&alias).then_some(alias)
    }

    /// Every tensor, by its stored name, all marked taken: merging,
    /// copying a checkpoint whole.
    pub fn take_all(&self) -> Result<BTreeMap<String, HostTensor>> {
        let mut taken = self.taken.borrow_mut();
        self.tensors
            .iter()
            .map(|(k, t)| {
                self.check_finite(k, t)?;
                taken.insert(k.clone());
                Ok((k.clone(), t.clone()))
            })
            .collect()
    }

    /// A NaN or infinity in a weight makes every output NaN: an error
    /// naming the tensor, rather than results that are silently garbage.
    fn check_finite(&self, name: &str, t: &HostTensor) -> Result<()> {
        let Some(at) = t.data.iter().position(|v| !v.is_finite()) else {
            return Ok(());
        };
        let count = t.data.iter().filter(|v| !v.is_finite()).count();
        Err(bad(
            &self.origin,
            format_args!(
                "tensor `{name}` holds {} at flat index {at} ({count} non-finite value(s) of {}): the file is corrupt or was saved from a diverged run",
                t.data[at],
                t.data.len()
            ),
        ))
    }

    /// Errors naming the first tensor (by name) that holds a NaN or an
    /// infinity, without taking any.
    pub fn check_all_finite(&self) -> Result<()> {
        self.tensors
            .iter()
            .try_for_each(|(n, t)| self.check_finite(n, t))
    }

    /// The stored shape of `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.resolve(name)
            .map(|k| self.tensors[&k].shape.as_slice())
    }

    /// Takes `name`, which must have `shape`.
    pub fn take(&self, name: &str, shape: &[usize]) -> Result<&HostTensor> {
        let key = self.resolve(name).ok_or_else(|| {
            bad(
                &self.origin,
                format_args!("missing tensor `{name}` (expected shape {shape:?})"),
            )
        })?;
        let t = &self.tensors[&key];
        if t.shape != shape {
            return Err(bad(
                &self.origin,
                format_args!(
                    "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                    t.shape
                ),
            ));
        }
        self.check_finite(name, t)?;
        self.taken.borrow_mut().insert(key);
        Ok(t)
    }

    /// Marks `name`, if stored, as taken without using it (buffers and
    /// heads a checkpoint carries that the model has no use for).
    pub fn ignore(&self, name: &str) {
        if let Some(key) = self.resolve(name) {
            self.taken.borrow_mut().insert(key);
        }
    }

    /// Errors on any tensor the model did not take.
    pub fn check_all_taken(&self) -> Result<()> {
        let taken = self.taken.borrow();
        let extra: Vec<&str> = self
            .tensors
            .keys()
            .filter(|k| !taken.contains(*k))
            .map(String::as_str)
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            let shown: Vec<&str> = extra.iter().take(5).copied().collect();
            Err(bad(
                &self.origin,
                format_args!("{} unexpected tensor(s), e.g. `{}`: is this a DNABERT-2 checkpoint of this config?", extra.len(), shown.join("`, `")),
            ))
        }
    }
}
