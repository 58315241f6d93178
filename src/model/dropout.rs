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
    /// Data-parallel training: the batch is `rows` sequences starting at
    /// sequence `first` of the step's whole batch (`(first, rows)`), and
    /// draws the masks they have there, so the ranks of a step together
    /// drop what one process would. `None`: the batch is the whole one.
    pub window: Option<(usize, usize)>,
}

impl Dropout {
    pub const OFF: Dropout = Dropout {
        p: 0.0,
        seed: 0,
        window: None,
    };

    /// These masks for `rows` rows starting at row `first` of a batch of
    /// `of` rows (`of` None: the batch is the whole one, unchanged).
    pub fn rows_of(self, of: Option<usize>, first: usize, rows: usize) -> Self {
        Self {
            window: of.filter(|_| rows > 0).map(|_| (first, rows)),
            ..self
        }
    }

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
        // Every dropped activation has numel / rows elements per sequence,
        // row-major, so x's first element is element first * numel / rows
        // of the whole batch's tensor.
        let first = match self.window {
            None => 0,
            Some((first, rows)) => first * x.numel() / rows,
        };
        ops::dropout_from(dev, x, self.p, self.seed, stream, first)
    }
}
