//! Building blocks named after the checkpoint's modules, each loaded from
//! [`Weights`] onto a device and run through `ops`.

use std::collections::BTreeMap;

use super::io::{HostTensor, Weights};
use crate::error::Result;
use crate::ops::{self, Epilogue};
use crate::{DType, Device, Tensor};

/// Uploads a checked weight to `dev`.
pub(crate) fn load(dev: &Device, w: &Weights, name: &str, shape: &[usize]) -> Result<Tensor> {
    let t = w.take(name, shape)?;
    dev.tensor_f32(&t.shape, &t.data)
}

/// `y = x W^T (+ b)`, W stored [out, in].
#[derive(Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Whether the weight is stored in half precision (`--precision f16`):
    /// the layer then also computes in half precision where the device has
    /// cooperative matrices.
    pub fn is_half(&self) -> bool {
        self.weight.dtype() == crate::DType::F16
    }

    /// Loads `{prefix}.weight` [out, in] and, if `bias`, `{prefix}.bias` [out].
    pub fn load(
        dev: &Device,
        w: &Weights,
        prefix: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Self> {
        Self::load_as(dev, w, prefix, [out, inp], bias, DType::F32)
    }

    /// [`Linear::load`] with the weight stored as `dtype` (f32 or f16; the
    /// bias stays f32).
    pub fn load_as(
        dev: &Device,
        w: &Weights,
        prefix: &str,
        [out, inp]: [usize; 2],
        bias: bool,
        dtype: DType,
    ) -> Result<Self> {
        let name = format!("{prefix}.weight");
        Ok(Self {
            weight: dev.linear_weight(&[out, inp], &w.take(&name, &[out, inp])?.data, dtype)?,
            bias: if bias {
                Some(load(dev, w, &format!("{prefix}.bias"), &[out])?)
            } else {
                None
            },
        })
    }

    /// One layer from several stored side by side along `out` (BERT's
    /// query, key and value become one fused [3H, H] Wqkv): each
    /// `{prefix}.weight` [out, inp] and `{prefix}.bias` [out].
    pub fn load_concat(
        dev: &Device,
        w: &Weights,
        prefixes: &[String],
        [out, inp]: [usize; 2],
        dtype: DType,
    ) -> Result<Self> {
        let (mut weight, mut bias) = (Vec::new(), Vec::new());
        for p in prefixes {
            weight.extend_from_slice(&w.take(&format!("{p}.weight"), &[out, inp])?.data);
            bias.extend_from_slice(&w.take(&format!("{p}.bias"), &[out])?.data);
        }
        let n = prefixes.len() * out;
        Ok(Self {
            weight: dev.linear_weight(&[n, inp], &weight, dtype)?,
            bias: Some(dev.tensor_f32(&[n], &bias)?),
        })
    }

    /// The inverse of [`Linear::load_concat`] on host tensors: replaces
    /// `{fused}.weight` [n * out, in] and `{fused}.bias` in `map` by each
    /// part's `{part}.weight` [out, in] and `{part}.bias` [out], in order.
    pub fn split_concat(
        map: &mut BTreeMap<String, HostTensor>,
        fused: &str,
        parts: &[String],
    ) -> Result<()> {
        for suffix in ["weight", "bias"] {
            let name = format!("{fused}.{suffix}");
            let t = map
                .remove(&name)
                .ok_or_else(|| crate::Error::Invalid(format!("no tensor `{name}` to split")))?;
            let rows = t.shape[0] / parts.len().max(1);
            let chunk = t.data.len() / parts.len().max(1);
            for (i, p) in parts.iter().enumerate() {
                let mut shape = t.shape.clone();
                shape[0] = rows;
                map.insert(
                    format!("{p}.{suffix}"),
                    HostTensor {
                        shape,
                        data: t.data[i * chunk..(i + 1) * chunk].to_vec(),
                    },
                );
            }
        }
        Ok(())
    }

    pub fn forward(&self, dev: &Device, x: &Tensor, epilogue: Epilogue) -> Result<Tensor> {
        ops::linear(dev, x, &self.weight, self.bias.as_ref(), epilogue)
    }
}

/// LayerNorm over the last dimension, optionally after a residual add.
#[derive(Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn load(dev: &Device, w: &Weights, prefix: &str, hidden: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: load(dev, w, &format!("{prefix}.weight"), &[hidden])?,
            bias: load(dev, w, &format!("{prefix}.bias"), &[hidden])?,
            eps: eps as f32,
        })
    }

    /// `LN(x + residual)`.
    pub fn forward(&self, dev: &Device, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        Ok(ops::layer_norm(dev, x, residual, &self.weight, &self.bias, self.eps)?.y)
    }
}
