//! Reads PyTorch `pytorch_model.bin` state dicts without Python and without
//! executing anything from the file.
//!
//! `torch.save(state_dict, f)` (PyTorch 1.6 and later) writes a zip archive
//! whose entries share one top-level folder `<dir>/`:
//!
//! * `<dir>/data.pkl`: a pickle (protocol 2) of a dict or OrderedDict from
//!   names to tensors, each `torch._utils._rebuild_tensor_v2(storage,
//!   offset, size, stride, requires_grad, hooks[, metadata])`, where
//!   `storage` is a persistent id `('storage', torch.FloatStorage, key,
//!   location, numel)`;
//! * `<dir>/data/<key>`: the raw little-endian bytes of each storage, stored
//!   uncompressed;
//! * `<dir>/byteorder`, `<dir>/version` and a few more, read or ignored.
//!
//! `archive` lists the zip's stored entries with the `zip` crate (CRC-32
//! checked unless torch wrote 0 for "not computed"), `pickle` *interprets*
//! the opcodes torch emits, `tensors` turns storages and views into f32.
//! Globals are never resolved to code: they become names, and only the few
//! a state dict needs are accepted (`collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter
//! [_with_state]`, the `torch.*Storage` classes, `torch.float32` and the
//! other dtype names); any other global
//! is refused with an error naming it.
//!
//! Storages of float32, float16, bfloat16 and float64 are converted to f32;
//! integer and bool storages (`position_ids` buffers, say) are converted to
//! f32 too, exactly up to 2^24 in magnitude. Views are honoured: the storage
//! offset and strides (transposes, slices, zero-stride expansions) are
//! applied and every tensor comes out row-major, each bounds-checked against
//! its storage. Names sharing a storage (tied weights) each get a copy.
//!
//! Input is untrusted: no panics, no allocation larger than the file
//! justifies (`OUTPUT_FACTOR`), no recursion deeper than `MAX_TUPLE_DEPTH`,
//! work linear in the file's size (`MAX_DIMS`, `MAX_KEY_LEN`, names shared
//! through the pickle's memo read once).

mod archive;
mod pickle;
mod tensors;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::model::io::weights::HostTensor;

use archive::{zip_entries, Entry};
use pickle::{Container, Unpickler, Value};
use tensors::{gather, load_storage, numel_of, StorageData};

/// How to turn a legacy (pre-1.6) file into one this module reads, without
/// running what the pickle may carry: `weights_only=True` makes PyTorch
/// refuse code (PyTorch older than 1.13 rejects the argument, so it fails
/// instead of running it), and the result goes to a new file.
pub(super) const LEGACY_HINT: &str = "python -c \"import torch; sd = torch.load('pytorch_model.bin', map_location='cpu', weights_only=True); torch.save(sd, 'pytorch_model.zip.bin')\" (PyTorch 1.13 or later; then replace the old file with the new one)";

/// The f32 values read out may number at most this many times the file's
/// length in bytes (plus [`OUTPUT_SLACK`]): tied weights and expanded views
/// make the output larger than the storages, but never by this much in a
/// real checkpoint, while a crafted file could otherwise ask for terabytes.
pub(crate) const OUTPUT_FACTOR: u64 = 4;
pub(crate) const OUTPUT_SLACK: u64 = 1 << 20;

/// Reads a state dict saved by `torch.save(state_dict, f)` (the zip format
/// PyTorch has used since 1.6), converting f32/f16/bf16/f64 storages to f32.
/// `origin` names the file in errors.
///
/// Integer and bool storages are converted to f32 as well (exact up to
/// 2^24). Legacy (pre-1.6) files are refused with the command that re-saves
/// them in the zip format; pickles referring to anything beyond tensors,
/// storages and OrderedDict are refused with the name of the reference.
pub fn read_state_dict(bytes: &[u8], origin: &str) -> Result<BTreeMap<String, HostTensor>> {
    read(bytes).map_err(|msg| Error::Invalid(format!("{origin}: {msg}")))
}

pub(super) type Res<T> = std::result::Result<T, String>;

fn read(bytes: &[u8]) -> Res<BTreeMap<String, HostTensor>> {
    if bytes.first() == Some(&0x80) {
        return Err(format!(
            "a legacy (pre-1.6, non-zip) torch.save file, which dnagpu does not read; \
             re-save it in the zip format with a modern PyTorch: {LEGACY_HINT}"
        ));
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err("not a PyTorch checkpoint: torch.save writes a zip archive \
                    (starting with `PK\\x03\\x04`)"
            .to_string());
    }
    let entries = zip_entries(bytes)?;
    let mut by_name: HashMap<&str, &Entry> = HashMap::new();
    for e in &entries {
        by_name.entry(e.name.as_str()).or_insert(e);
    }
    let (dir, pkl) = entries
        .iter()
        .find_map(|e| {
            let dir = e.name.strip_suffix("/data.pkl")?;
            (!dir.is_empty() && !dir.contains('/')).then_some((dir, e))
        })
        .ok_or("the archive has no `<folder>/data.pkl`: not a file written by torch.save")?;
    if let Some(order) = by_name.get(format!("{dir}/byteorder").as_str()) {
        match order.data.trim_ascii() {
            b"little" => {}
            b"big" => return Err("a big-endian checkpoint; dnagpu reads little-endian ones".into()),
            other => {
                return Err(format!(
                    "unknown byte order `{}` in {dir}/byteorder",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }
    pkl.check_crc()?;
    let mut vm = Unpickler::new(pkl.data);
    let root = vm
        .run()
        .map_err(|(at, msg)| format!("{}: {msg} (at byte {at})", pkl.name))?;
    let items = match root {
        Value::Dict(i) => match vm.arena.get(i) {
            Some(Container::Dict(items)) => items.as_slice(),
            _ => return Err("internal: dangling dict".into()),
        },
        other => {
            return Err(format!(
                "the pickle holds {}, not a state dict (a dict of tensors)",
                other.kind()
            ))
        }
    };

    let mut storages: HashMap<&str, StorageData> = HashMap::new();
    let budget = (bytes.len() as u64)
        .saturating_mul(OUTPUT_FACTOR)
        .saturating_add(OUTPUT_SLACK);
    let mut produced = 0u64;
    let mut out = BTreeMap::new();
    // Later entries win, as in Python. Going backwards, a name seen before
    // is skipped, by identity first: a name shared through the memo could
    // otherwise be copied or compared once per use.
    let mut seen = std::collections::HashSet::new();
    for (key, value) in items.iter().rev() {
        let Value::Str(name) = key else {
            return Err(format!(
                "the state dict has a key that is {}, not a string",
                key.kind()
            ));
        };
        if !seen.insert(Rc::as_ptr(name) as *const u8) || out.contains_key(&**name) {
            continue;
        }
        let Value::Tensor(t) = value else {
            return Err(format!(
                "`{name}` is {}, not a tensor: this is not a plain state dict \
                 (a training checkpoint such as {{'model': ..., 'optimizer': ...}}?); \
                 save just the model's state_dict()",
                value.kind()
            ));
        };
        let s = match storages.get(&*t.storage.key) {
            Some(s) => *s,
            None => {
                let s = load_storage(&by_name, dir, &t.storage)?;
                storages.insert(&*t.storage.key, s);
                s
            }
        };
        if s.dt != t.storage.dt || s.numel != t.storage.numel {
            return Err(format!(
                "storage `{}` is referenced both as {} x {} and as {} x {}",
                t.storage.key,
                s.numel,
                s.dt.name(),
                t.storage.numel,
                t.storage.dt.name()
            ));
        }
        let numel =
            numel_of(&t.shape).ok_or_else(|| format!("tensor `{name}`: too many elements"))?;
        produced = produced.saturating_add(numel);
        if produced > budget {
            return Err(format!(
                "tensor `{name}`: the tensors read so far hold {produced} values, more than \
                 {OUTPUT_FACTOR} per byte of a {}-byte file; refusing what looks like a crafted file",
                bytes.len()
            ));
        }
        let data = gather(t, s).map_err(|msg| format!("tensor `{name}`: {msg}"))?;
        let shape = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| format!("tensor `{name}`: dimension too large"))?;
        out.insert(name.to_string(), HostTensor { shape, data });
    }
    Ok(out)
}
