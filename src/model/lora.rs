//! LoRA on the encoder's linear layers (PEFT convention, docs/models/dnabert2.md):
//! `y = x W^T + b + s (drop(x) A^T) B^T`, s = alpha / r, A [r, in], B
//! [out, r]. The base weights stay as they are (frozen, never copied); the
//! adapters' forward and backward run through `ops` like everything else.
//! BERT's (DNABERT) and ESM's (the Nucleotide Transformer) query, key and
//! value are separate PEFT modules but one fused Wqkv here: their adapters
//! act on column blocks of its output.

use std::collections::BTreeMap;

use super::adapter::{Adapter, LoraConfig};
use super::encoder::{Encoder, Family};
use super::io::HostTensor;
use crate::error::{Error, Result};
use crate::ops::{self, Epilogue, Matmul};
use crate::rng::Rng;
use crate::{Device, Tensor};

/// Where an adapter acts: which of a layer's four linears (Wqkv,
/// attention output, first and second feed-forward linear), and, for a
/// block of a fused output, (block, blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    pub linear: usize,
    pub block: Option<(usize, usize)>,
}

/// An adaptable module: its PEFT target name, its path within a layer, and
/// where it acts.
pub type Target = (&'static str, &'static str, Site);

const fn whole(linear: usize) -> Site {
    Site {
        linear,
        block: None,
    }
}

const fn third(block: usize) -> Site {
    Site {
        linear: 0,
        block: Some((block, 3)),
    }
}

/// DNABERT-2's adaptable modules, in a fixed order.
pub const DNABERT2_TARGETS: [Target; 4] = [
    ("Wqkv", "attention.self.Wqkv", whole(0)),
    ("dense", "attention.output.dense", whole(1)),
    ("gated_layers", "mlp.gated_layers", whole(2)),
    ("wo", "mlp.wo", whole(3)),
];

/// BERT's (DNABERT) and ESM's (the Nucleotide Transformer) attention
/// projections, as PEFT names them.
pub const BERT_TARGETS: [Target; 3] = [
    ("query", "attention.self.query", third(0)),
    ("key", "attention.self.key", third(1)),
    ("value", "attention.self.value", third(2)),
];

/// The adaptable modules of an encoder family.
pub fn targets(family: Family) -> &'static [Target] {
    match family {
        Family::Dnabert2 => &DNABERT2_TARGETS,
        Family::Bert | Family::Esm => &BERT_TARGETS,
    }
}

/// Where a family's checkpoints keep their layers.
pub fn layers_root(family: Family) -> &'static str {
    match family {
        Family::Dnabert2 | Family::Bert => "bert.encoder.layer",
        Family::Esm => "esm.encoder.layer",
    }
}

impl Lora {
    /// Module path of target `t` in layer `l`.
    pub fn module_path(&self, l: usize, t: usize) -> String {
        format!("{}.{l}.{}", self.root, self.targets[t].1)
    }

    /// A copy with every adapter's A and B rounded to f16 on the device:
    /// what a mixed-precision step computes with beside f16 layer weights,
    /// so that its products take the layers' f16 activations (the f32
    /// adapters stay the optimizer's masters).
    pub fn half(&self, dev: &Device) -> Result<Lora> {
        let layers = self
            .layers
            .iter()
            .map(|slots| {
                slots
                    .iter()
                    .map(|w| {
                        w.as_ref()
                            .map(|w| {
                                Ok(LoraWeights {
                                    a: ops::to_f16(dev, &w.a)?,
                                    b: ops::to_f16(dev, &w.b)?,
                                })
                            })
                            .transpose()
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Lora {
            config: self.config.clone(),
            targets: self.targets,
            root: self.root,
            layers,
        })
    }

    /// Whether the adapters are stored in f16 ([`Lora::half`]).
    pub fn is_half(&self) -> bool {
        self.layers
            .iter()
            .flatten()
            .flatten()
            .next()
            .is_some_and(|w| w.a.dtype() == crate::DType::F16)
    }
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
    /// The encoder family's adaptable modules.
    pub targets: &'static [Target],
    /// Where its layers are (`bert.encoder.layer`, `esm.encoder.layer`).
    pub root: &'static str,
    /// Per layer, per target in `targets` order.
    pub layers: Vec<Vec<Option<LoraWeights>>>,
}

impl Lora {
    /// Fresh adapters on `config.target_modules`: A ~ kaiming-uniform as
    /// PEFT initialises it (bound 1 / sqrt(in)), B = 0, so the model starts
    /// as the base.
    pub fn fresh(dev: &Device, enc: &Encoder, config: LoraConfig, seed: u64) -> Result<Self> {
        config.validate("LoRA options")?;
        let targets = targets(enc.family);
        for t in &config.target_modules {
            if !targets.iter().any(|x| x.0 == t.as_str()) {
                return Err(Error::Invalid(format!(
                    "LoRA target `{t}` is not one of this model's {}",
                    targets.iter().map(|x| x.0).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let mut rng = Rng::new(seed ^ 0x10BA);
        let r = config.r;
        let mut layers = Vec::new();
        for layer in &enc.layers {
            let lins = [&layer.wqkv, &layer.attn_out, &layer.gated, &layer.wo];
            let mut slots: Vec<Option<LoraWeights>> = vec![None; targets.len()];
            for (t, (name, _, site)) in targets.iter().enumerate() {
                if !config.target_modules.iter().any(|x| x == name) {
                    continue;
                }
                let lin = lins[site.linear];
                let (out, inp) = (lin.weight.dim(0), lin.weight.dim(1));
                let out = site.block.map_or(out, |(_, n)| out / n);
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..r * inp).map(|_| rng.uniform() * bound).collect();
                slots[t] = Some(LoraWeights {
                    a: dev.tensor_f32(&[r, inp], &a)?,
                    b: dev.tensor_f32(&[out, r], &vec![0.0; out * r])?,
                });
            }
            layers.push(slots);
        }
        Ok(Self {
            config,
            targets,
            root: layers_root(enc.family),
            layers,
        })
    }

    /// The adapters of a PEFT adapter (checked against the encoder's shapes
    /// by the caller with `Adapter::check_against`).
    pub fn from_adapter(dev: &Device, enc: &Encoder, adapter: &Adapter) -> Result<Self> {
        let n = targets(enc.family).len();
        let mut lora = Self {
            config: adapter.config.clone(),
            targets: targets(enc.family),
            root: layers_root(enc.family),
            layers: vec![vec![None; n]; enc.layers.len()],
        };
        for (path, (a, b)) in &adapter.lora {
            let (l, k) = (0..enc.layers.len())
                .flat_map(|l| (0..n).map(move |k| (l, k)))
                .find(|&(l, k)| lora.module_path(l, k) == *path)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "adapter module `{path}` is not a linear layer LoRA can adapt"
                    ))
                })?;
            lora.layers[l][k] = Some(LoraWeights {
                a: dev.tensor_f32(&a.shape, &a.data)?,
                b: dev.tensor_f32(&b.shape, &b.data)?,
            });
        }
        Ok(lora)
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
                    let p = self.module_path(l, k);
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
                    out.insert(self.module_path(l, k), (a, b));
                }
            }
        }
        Ok(out)
    }
}

/// The LoRA term `s (drop(x) A^T) B^T` for the dropped-out input `xd`.
pub fn lora_delta(dev: &Device, w: &LoraWeights, s: f32, xd: &Tensor) -> Result<Tensor> {
    let u = ops::linear(dev, xd, &w.a, None, Epilogue::None)?;
    let v = ops::linear(dev, &u, &w.b, None, Epilogue::None)?;
    ops::scale(dev, &v, s)
}

/// Adds a target's term `d` to the linear's output `y` at its site.
pub fn add_at(dev: &Device, site: Site, y: &Tensor, d: &Tensor) -> Result<Tensor> {
    match site.block {
        None => ops::add(dev, y, d),
        Some((i, _)) => ops::add_columns(dev, y, d, i * d.shape().last().copied().unwrap_or(0)),
    }
}

/// A target's share of the linear's output gradient `dy`.
pub fn grad_at(dev: &Device, site: Site, dy: &Tensor, width: usize) -> Result<Tensor> {
    match site.block {
        None => Ok(dy.clone()),
        Some((i, _)) => ops::take_columns(dev, dy, i * width, width),
    }
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
    pub targets: &'static [Target],
    pub slots: &'a [Option<LoraWeights>],
    pub scale: f32,
    /// LoRA's own dropout on the adapters' input (p = lora_dropout).
    pub dropout: super::Dropout,
}

impl Lora {
    /// Layer `l`'s adapters with LoRA's dropout (its p; the seed and window
    /// of `training`) for training, or none for inference.
    pub fn layer(&self, l: usize, training: Option<super::Dropout>) -> LayerLora<'_> {
        LayerLora {
            targets: self.targets,
            slots: &self.layers[l],
            scale: self.scale(),
            dropout: match training {
                Some(d) => super::Dropout {
                    p: self.config.dropout as f32,
                    ..d
                },
                None => super::Dropout::OFF,
            },
        }
    }
}

impl LayerLora<'_> {
    /// Adds the LoRA terms of linear `k`'s targets to `y`, its base output
    /// for input `x` (each target with its own dropout stream).
    pub fn apply(
        &self,
        dev: &Device,
        layer: usize,
        k: usize,
        x: &Tensor,
        y: Tensor,
    ) -> Result<Tensor> {
        let mut y = y;
        for (t, (_, _, site)) in self.targets.iter().enumerate() {
            if let (true, Some(w)) = (site.linear == k, &self.slots[t]) {
                let xd = self.dropout.apply(dev, x, super::Dropout::lora(layer, t))?;
                y = add_at(dev, *site, &y, &lora_delta(dev, w, self.scale, &xd)?)?;
            }
        }
        Ok(y)
    }
}
