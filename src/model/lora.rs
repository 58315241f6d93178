//! LoRA on the encoder's linear layers (PEFT convention, model doc):
//! `y = x W^T + b + s (drop(x) A^T) B^T`, s = alpha / r, A [r, in], B
//! [out, r]. The base weights stay as they are (frozen, never copied); the
//! adapters' forward and backward run through `ops` like everything else.

use std::collections::BTreeMap;

use super::adapter::{Adapter, LoraConfig};
use super::encoder::Encoder;
use super::weights::HostTensor;
use crate::error::{Error, Result};
use crate::ops::{self, Epilogue, Matmul};
use crate::rng::Rng;
use crate::{Device, Tensor};

/// The four adaptable linear layers of an encoder layer, by PEFT target
/// name, in a fixed order.
pub const TARGETS: [&str; 4] = ["Wqkv", "dense", "gated_layers", "wo"];

/// Module path of target `k` in layer `l`.
pub fn module_path(l: usize, k: usize) -> String {
    let m = [
        "attention.self.Wqkv",
        "attention.output.dense",
        "mlp.gated_layers",
        "mlp.wo",
    ][k];
    format!("bert.encoder.layer.{l}.{m}")
}

/// One adapted linear layer.
#[derive(Clone)]
pub struct LoraWeights {
    /// [r, in]
    pub a: Tensor,
    /// [out, r]
    pub b: Tensor,
}

/// LoRA adapters of a whole encoder.
pub struct Lora {
    pub config: LoraConfig,
    /// Per layer, per target in [`TARGETS`] order.
    pub layers: Vec<[Option<LoraWeights>; 4]>,
}

impl Lora {
    /// Fresh adapters on `config.target_modules`: A ~ kaiming-uniform as
    /// PEFT initialises it (bound 1 / sqrt(in)), B = 0, so the model starts
    /// as the base.
    pub fn fresh(dev: &Device, enc: &Encoder, config: LoraConfig, seed: u64) -> Result<Self> {
        config.validate("LoRA options")?;
        for t in &config.target_modules {
            if !TARGETS.contains(&t.as_str()) {
                return Err(Error::Invalid(format!(
                    "LoRA target `{t}` is not one of {}",
                    TARGETS.join(", ")
                )));
            }
        }
        let mut rng = Rng::new(seed ^ 0x10BA);
        let r = config.r;
        let mut layers = Vec::new();
        for layer in &enc.layers {
            let lins = [&layer.wqkv, &layer.attn_out, &layer.gated, &layer.wo];
            let mut slots: [Option<LoraWeights>; 4] = Default::default();
            for (k, lin) in lins.iter().enumerate() {
                if !config.target_modules.iter().any(|t| t == TARGETS[k]) {
                    continue;
                }
                let (out, inp) = (lin.weight.dim(0), lin.weight.dim(1));
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..r * inp).map(|_| rng.uniform() * bound).collect();
                slots[k] = Some(LoraWeights {
                    a: dev.tensor_f32(&[r, inp], &a)?,
                    b: dev.tensor_f32(&[out, r], &vec![0.0; out * r])?,
                });
            }
            layers.push(slots);
        }
        Ok(Self { config, layers })
    }

    /// The adapters of a PEFT adapter (checked against the encoder's shapes
    /// by the caller with `Adapter::check_against`).
    pub fn from_adapter(dev: &Device, enc: &Encoder, adapter: &Adapter) -> Result<Self> {
        let mut layers: Vec<[Option<LoraWeights>; 4]> =
            (0..enc.layers.len()).map(|_| Default::default()).collect();
        for (path, (a, b)) in &adapter.lora {
            let (l, k) = (0..enc.layers.len())
                .flat_map(|l| (0..4).map(move |k| (l, k)))
                .find(|&(l, k)| module_path(l, k) == *path)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "adapter module `{path}` is not a linear layer LoRA can adapt"
                    ))
                })?;
            layers[l][k] = Some(LoraWeights {
                a: dev.tensor_f32(&a.shape, &a.data)?,
                b: dev.tensor_f32(&b.shape, &b.data)?,
            });
        }
        Ok(Self {
            config: adapter.config.clone(),
            layers,
        })
    }

    pub fn scale(&self) -> f32 {
        self.config.scale() as f32
    }

    /// Every A and B, in layer, target, (A, B) order, with PEFT-style names
    /// without the `base_model.model.` prefix.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (l, slots) in self.layers.iter().enumerate() {
            for (k, s) in slots.iter().enumerate() {
                if let Some(w) = s {
                    let p = module_path(l, k);
                    out.push((format!("{p}.lora_A.weight"), w.a.clone()));
                    out.push((format!("{p}.lora_B.weight"), w.b.clone()));
                }
            }
        }
        out
    }

    /// Replaces every A and B, in [`Lora::named`] order.
    pub fn set(&mut self, params: Vec<Tensor>) -> Result<()> {
        let mut it = params.into_iter();
        for slots in &mut self.layers {
            for w in slots.iter_mut().flatten() {
                let (a, b) = (it.next(), it.next());
                match (a, b) {
                    (Some(a), Some(b)) if a.shape() == w.a.shape() && b.shape() == w.b.shape() => {
                        w.a = a;
                        w.b = b;
                    }
                    _ => {
                        return Err(Error::Invalid(
                            "LoRA parameters do not match the adapters".into(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The adapters read back, by module path.
    pub async fn to_host(
        &self,
        dev: &Device,
    ) -> Result<BTreeMap<String, (HostTensor, HostTensor)>> {
        let mut out = BTreeMap::new();
        for (l, slots) in self.layers.iter().enumerate() {
            for (k, s) in slots.iter().enumerate() {
                if let Some(w) = s {
                    let a = HostTensor {
                        shape: w.a.shape().to_vec(),
                        data: dev.read_f32(&w.a).await?,
                    };
                    let b = HostTensor {
                        shape: w.b.shape().to_vec(),
                        data: dev.read_f32(&w.b).await?,
                    };
                    out.insert(module_path(l, k), (a, b));
                }
            }
        }
        Ok(out)
    }
}

/// The LoRA term's forward, added to the base output `y`: returns
/// `y + s (drop(x) A^T) B^T`.
pub fn lora_forward(
    dev: &Device,
    w: &LoraWeights,
    s: f32,
    xd: &Tensor,
    y: Tensor,
) -> Result<Tensor> {
    let u = ops::linear(dev, xd, &w.a, None, Epilogue::None)?;
    let v = ops::linear(dev, &u, &w.b, None, Epilogue::None)?;
    ops::add(dev, &y, &ops::scale(dev, &v, s)?)
}

/// Gradients of the LoRA term given dy (gradient of the layer's output) and
/// the dropped-out input xd: (dA, dB, dxd), dxd before the dropout's
/// backward.
pub fn lora_backward(
    dev: &Device,
    w: &LoraWeights,
    s: f32,
    xd: &Tensor,
    dy: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (out, r) = (w.b.dim(0), w.b.dim(1));
    let inp = w.a.dim(1);
    let rows = xd.numel() / inp.max(1);
    let xd2 = xd.reshape(&[rows, inp])?;
    let ds = ops::scale(dev, &dy.reshape(&[rows, out])?, s)?;
    let u = ops::linear(dev, &xd2, &w.a, None, Epilogue::None)?; // [R, r]
    let db = ops::matmul(dev, &ds, &u, None, Matmul::TN)?; // [out, r]
    let du = ops::matmul(dev, &ds, &w.b, None, Matmul::NN)?; // [R, r]
    let da = ops::matmul(dev, &du, &xd2, None, Matmul::TN)?; // [r, in]
    let dxd = ops::matmul(dev, &du, &w.a, None, Matmul::NN)?.reshape(xd.shape())?; // [.., in]
    debug_assert_eq!(db.shape(), [out, r]);
    Ok((da, db, dxd))
}

/// One layer's adapters as the forward and backward see them.
#[derive(Clone, Copy)]
pub struct LayerLora<'a> {
    pub slots: &'a [Option<LoraWeights>; 4],
    pub scale: f32,
    /// LoRA's own dropout on the adapters' input (p = lora_dropout).
    pub dropout: super::Dropout,
}

impl Lora {
    /// Layer `l`'s adapters with dropout `p_seed` (p, seed) for training, or
    /// none for inference.
    pub fn layer(&self, l: usize, training_seed: Option<u64>) -> LayerLora<'_> {
        LayerLora {
            slots: &self.layers[l],
            scale: self.scale(),
            dropout: match training_seed {
                Some(seed) => super::Dropout {
                    p: self.config.dropout as f32,
                    seed,
                },
                None => super::Dropout::OFF,
            },
        }
    }
}

impl LayerLora<'_> {
    /// Adds target `k`'s LoRA term to `y`, the base output for input `x`.
    pub fn apply(
        &self,
        dev: &Device,
        layer: usize,
        k: usize,
        x: &Tensor,
        y: Tensor,
    ) -> Result<Tensor> {
        match &self.slots[k] {
            Some(w) => {
                let xd = self.dropout.apply(dev, x, super::Dropout::lora(layer, k))?;
                lora_forward(dev, w, self.scale, &xd, y)
            }
            None => Ok(y),
        }
    }
}
