//! The plain parameter structs of the ops that both backends take: the op
//! layer (`ops/<op>/mod.rs`) checks tensors and fills them, the CPU twins
//! (`ops/<op>/cpu.rs`) and the GPU launches read them. Nothing here knows
//! of tensors or devices.

/// Sizes and element strides of one batched product (shared by both backends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_batch: usize,
    pub a_rs: usize,
    pub a_cs: usize,
    pub b_batch: usize,
    pub b_rs: usize,
    pub b_cs: usize,
}

/// Sizes of one attention call (shared by both backends).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionDims {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// Multiplies q · k; 1 / sqrt(head_dim) for DNABERT-2.
    pub scale: f32,
}

/// One step's hyper-parameters, PyTorch `torch.optim.AdamW` semantics (decoupled weight decay,
/// bias correction). `step` counts from 1. `grad_scale` multiplies the gradient first (global-norm
/// clipping and loss scaling; 1.0 = none).
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub step: u32,
    pub grad_scale: f32,
}

/// How pooling combines the valid rows of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMode {
    /// Average of the valid rows.
    Mean,
    /// Element-wise maximum of the valid rows.
    Max,
}
