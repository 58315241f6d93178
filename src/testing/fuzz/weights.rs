//! Checkpoints: safetensors (`model.safetensors`, adapters, the optimizer
//! state of a training checkpoint) and PyTorch's `.bin` (a zip archive
//! holding a pickle and raw storages).

use std::collections::BTreeMap;

use super::ORIGIN;
use crate::error::Result;
use crate::export::{safetensors_named, Precision};
use crate::model::io::torch_bin::{read_state_dict, OUTPUT_FACTOR, OUTPUT_SLACK};
use crate::model::{HostTensor, Weights};
use crate::testing::zip::stored_zip;

/// Splits a `torch_pickle` input into `data.pkl` and the storages `0`, `1`, ...
const STORAGE_SEPARATOR: &[u8] = b"\n--storage--\n";

pub fn safetensors(bytes: &[u8]) {
    let read = Weights::from_bytes(bytes, "model.safetensors", ORIGIN);
    let tensors = match read.and_then(|w| every_tensor(&w)) {
        Ok(tensors) => tensors,
        Err(e) => return assert!(e.to_string().contains(ORIGIN), "{e}"),
    };
    check_shapes(&tensors);
    // What dnagpu reads, it can write (a merged model, a checkpoint) and
    // read back unchanged.
    let named = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()));
    let written = safetensors_named(named, Precision::F32, None).expect("writing what was read");
    let back = Weights::from_safetensors(&written, ORIGIN)
        .and_then(|w| every_tensor(&w))
        .expect("reading back what was written");
    assert!(
        same_bits(&back, &tensors),
        "the tensors changed on the way back"
    );
}

/// Equal names, shapes and values, bit for bit (a NaN equals itself).
fn same_bits(a: &BTreeMap<String, HostTensor>, b: &BTreeMap<String, HostTensor>) -> bool {
    let bits = |t: &HostTensor| t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((na, ta), (nb, tb))| na == nb && ta.shape == tb.shape && bits(ta) == bits(tb))
}

/// Every tensor, taken as the model code takes them (by name and shape).
fn every_tensor(w: &Weights) -> Result<BTreeMap<String, HostTensor>> {
    w.names()
        .map(|name| {
            let shape = w.shape_of(name).unwrap_or_default();
            Ok((name.to_owned(), w.take(name, shape)?.clone()))
        })
        .collect()
}

pub fn torch_bin(bytes: &[u8]) {
    let tensors = match read_state_dict(bytes, ORIGIN) {
        Ok(tensors) => tensors,
        Err(e) => return assert!(e.to_string().contains(ORIGIN), "{e}"),
    };
    check_shapes(&tensors);
    let values: usize = tensors.values().map(|t| t.data.len()).sum();
    let budget = (bytes.len() as u64) * OUTPUT_FACTOR + OUTPUT_SLACK;
    assert!(
        values as u64 <= budget,
        "{values} values from {} bytes",
        bytes.len()
    );
}

/// A `.bin` built around the input: `data.pkl`, then each storage after a
/// [`STORAGE_SEPARATOR`], zipped as torch.save does (valid CRCs, so the
/// fuzzer's changes reach the pickle interpreter and the views).
pub fn torch_pickle(bytes: &[u8]) {
    let mut parts = split(bytes, STORAGE_SEPARATOR).into_iter();
    let pickle = parts.next().unwrap_or_default();
    let names: Vec<String> = (0..parts.len())
        .map(|k| format!("archive/data/{k}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("archive/data.pkl", pickle)];
    entries.extend(names.iter().map(String::as_str).zip(parts));
    torch_bin(&stored_zip(&entries));
}

/// Every tensor holds as many values as its shape says.
fn check_shapes(tensors: &BTreeMap<String, HostTensor>) {
    for (name, t) in tensors {
        let numel = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(numel, Some(t.data.len()), "`{name}` of shape {:?}", t.shape);
    }
}

fn split<'a>(bytes: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = bytes;
    while let Some(at) = rest.windows(separator.len()).position(|w| w == separator) {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    parts
}
