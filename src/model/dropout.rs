//! Where dropout applies in training (docs/models/dnabert2.md: after the embedding
//! LayerNorm, after the attention output projection, after `gelu(u) * v`,
//! after the pooler) and with which random stream. The mask is a pure
//! function of (seed, stream, element), so the backward recomputes it from
//! the same `Dropout` instead of storing it.

use crate::error::Result;
use crate::{ops, Device, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of zeroing an element; 0 = off (inference, `grad`).
    pub p: f32,
    /// Fresh per training step (and micro-batch), so masks differ between steps.
    pub seed: u64,
}

impl Dropout {
    pub const OFF: Dropout = Dropout { p: 0.0, seed: 0 };

    pub const EMBEDDINGS: u32 = 0;
    pub const POOLER: u32 = u32::MAX;
    /// ESM's classification head drops out its input (the first token's
    /// hidden state) too.
    pub const HEAD_INPUT: u32 = u32::MAX - 1;

    pub fn attention_output(layer: usize) -> u32 {
        1 + 2 * layer as u32
    }

    pub fn mlp(layer: usize) -> u32 {
        2 + 2 * layer as u32
    }

    /// LoRA's dropout on the input of adapted linear `k` of a layer.
    pub fn lora(layer: usize, k: usize) -> u32 {
        0x4000_0000 + 4 * layer as u32 + k as u32
    }

    /// `x` with this site's mask applied (the same call is its own backward).
    pub fn apply(&self, dev: &Device, x: &Tensor, stream: u32) -> Result<Tensor> {
        if self.p == 0.0 {
            return Ok(x.clone());
        }
        ops::dropout(dev, x, self.p, self.seed, stream)
    }
}
