//! One MLM batch on the device: ids, mask, and the labelled positions
//! gathered up front, so the head and the loss run only on them (the
//! reference does the same; it changes no number).

use crate::error::{Error, Result};
use crate::ops::RowIndex;
use crate::{Device, Tensor};

pub struct MlmBatch {
    pub batch: usize,
    pub seq: usize,
    /// [B, T] u32
    pub ids: Tensor,
    /// [B, T] u32, 1 = real token
    pub mask: Tensor,
    /// ids -> rows of the word embedding, for its backward.
    pub ids_index: RowIndex,
    /// Flat positions (b * T + t) of the labelled tokens, [n] u32.
    pub positions: Tensor,
    /// positions -> rows of the [B * T, H] hidden states, for the scatter back.
    pub positions_index: RowIndex,
    /// [n] u32, each in 1..V.
    pub labels: Tensor,
    /// Host copy of `labels` (accuracy is computed on the host).
    pub labels_host: Vec<u32>,
}

impl MlmBatch {
    /// From row-major host arrays [B, T]. Labels <= 0 are ignored (-100 by
    /// convention); a positive label must be a token id < V on a real token.
    pub fn new(
        dev: &Device,
        ids: &[u32],
        mask: &[u32],
        labels: &[i64],
        batch: usize,
        seq: usize,
        vocab: usize,
    ) -> Result<Self> {
        let n = batch * seq;
        if ids.len() != n || mask.len() != n || labels.len() != n {
            return Err(Error::Invalid(format!(
                "MLM batch [{batch}, {seq}]: input_ids has {}, attention_mask {}, labels {} values, expected {n} each",
                ids.len(),
                mask.len(),
                labels.len()
            )));
        }
        let at = |i: usize| format!("sequence {}, position {}", i / seq.max(1), i % seq.max(1));
        if let Some(i) = ids.iter().position(|&id| id as usize >= vocab) {
            return Err(Error::Invalid(format!(
                "input_ids at {} is {}, past the vocabulary ({vocab})",
                at(i),
                ids[i]
            )));
        }
        let mut positions = Vec::new();
        let mut labels_host = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            if l <= 0 {
                continue;
            }
            if l as u64 >= vocab as u64 {
                return Err(Error::Invalid(format!(
                    "labels at {} is {l}, past the vocabulary ({vocab})",
                    at(i)
                )));
            }
            if mask[i] == 0 {
                return Err(Error::Invalid(format!(
                    "labels at {} is {l} but attention_mask marks it as padding",
                    at(i)
                )));
            }
            positions.push(i as u32);
            labels_host.push(l as u32);
        }
        if positions.is_empty() {
            return Err(Error::Invalid(
                "the batch has no labelled position (labels > 0): the MLM loss is undefined".into(),
            ));
        }
        let mask01: Vec<u32> = mask.iter().map(|&m| u32::from(m != 0)).collect();
        Ok(Self {
            batch,
            seq,
            ids: dev.tensor_u32(&[batch, seq], ids)?,
            mask: dev.tensor_u32(&[batch, seq], &mask01)?,
            ids_index: RowIndex::new(dev, ids, vocab)?,
            positions: dev.tensor_u32(&[positions.len()], &positions)?,
            positions_index: RowIndex::new(dev, &positions, n)?,
            labels: dev.tensor_u32(&[labels_host.len()], &labels_host)?,
            labels_host,
        })
    }

    /// Number of labelled tokens.
    pub fn labelled(&self) -> usize {
        self.labels_host.len()
    }
}

/// One batch as `dnagpu grad` takes it: a safetensors file with
/// `input_ids` [B, T], `attention_mask` [B, T] and `labels` [B, T], integer
/// tensors (int64 as PyTorch saves them; int32 and uint8/bool masks too).
pub struct HostBatch {
    pub batch: usize,
    pub seq: usize,
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub labels: Vec<i64>,
}

impl HostBatch {
    pub fn from_safetensors(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |msg: String| Error::Invalid(format!("{origin}: {msg}"));
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let read = |name: &str| -> Result<(Vec<usize>, Vec<i64>)> {
            let v = st.tensor(name).map_err(|_| {
                bad(format!(
                    "no tensor `{name}` (expected input_ids, attention_mask, labels)"
                ))
            })?;
            let d = v.data();
            let vals: Vec<i64> = match v.dtype() {
                safetensors::Dtype::I64 => d
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
                safetensors::Dtype::I32 => d
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                    .collect(),
                safetensors::Dtype::U8 | safetensors::Dtype::BOOL => {
                    d.iter().map(|&b| b as i64).collect()
                }
                other => {
                    return Err(bad(format!(
                        "tensor `{name}` is {other:?}; expected an integer type (int64)"
                    )))
                }
            };
            Ok((v.shape().to_vec(), vals))
        };
        let (shape, ids) = read("input_ids")?;
        if shape.len() != 2 {
            return Err(bad(format!(
                "input_ids has shape {shape:?}; expected [B, T]"
            )));
        }
        let (b, t) = (shape[0], shape[1]);
        let (mshape, mask) = read("attention_mask")?;
        let (lshape, labels) = read("labels")?;
        for (name, s) in [("attention_mask", &mshape), ("labels", &lshape)] {
            if *s != shape {
                return Err(bad(format!(
                    "{name} has shape {s:?} but input_ids {shape:?}"
                )));
            }
        }
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                u32::try_from(v).map_err(|_| {
                    bad(format!(
                        "input_ids at sequence {}, position {} is {v}",
                        i / t.max(1),
                        i % t.max(1)
                    ))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        let mask = mask.iter().map(|&m| u32::from(m != 0)).collect();
        Ok(Self {
            batch: b,
            seq: t,
            ids,
            mask,
            labels,
        })
    }

    /// Rows `rows` of the batch (same padded length).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> HostBatch {
        let cut = rows.start * self.seq..rows.end * self.seq;
        HostBatch {
            batch: rows.len(),
            seq: self.seq,
            ids: self.ids[cut.clone()].to_vec(),
            mask: self.mask[cut.clone()].to_vec(),
            labels: self.labels[cut].to_vec(),
        }
    }

    /// The batch on `dev`, checked against a vocabulary of `vocab` tokens.
    pub fn to_device(&self, dev: &Device, vocab: usize) -> Result<MlmBatch> {
        MlmBatch::new(
            dev,
            &self.ids,
            &self.mask,
            &self.labels,
            self.batch,
            self.seq,
            vocab,
        )
    }
}

/// Predicting the most frequent label token: its accuracy, and the loss of
/// predicting the labels' own frequencies (their entropy).
pub fn majority_baseline(val: &[HostBatch]) -> (f64, f64) {
    let mut counts = std::collections::HashMap::new();
    for b in val {
        for &l in b.labels.iter().filter(|&&l| l > 0) {
            *counts.entry(l).or_insert(0u64) += 1;
        }
    }
    let n: u64 = counts.values().sum();
    let top = counts.values().copied().max().unwrap_or(0);
    let entropy = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum();
    (top as f64 / n.max(1) as f64, entropy)
}
