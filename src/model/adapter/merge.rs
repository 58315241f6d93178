//! An adapter against a base model: [`BaseShapes`] (a base's tensor shapes
//! by name), [`Adapter::check_against`] (do the shapes fit) and
//! [`Adapter::merge`] (fold `(alpha / r) B A` into the base weights, the
//! `--merge` export).

use std::collections::BTreeMap;

use super::{Adapter, PEFT_PREFIX};
use crate::error::{shape_err, Result};
use crate::model::classifier::HeadNames;
use crate::model::config::Config;
use crate::model::io::{HostTensor, Weights};

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

impl Adapter {
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
