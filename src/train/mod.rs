//! Training: the MLM model's backward pass, the optimizer, and the
//! pretraining loop. Written against `ops` like the forward, so every step
//! runs on the GPU or the CPU backend without reading weights back.

pub mod backward;
pub mod batch;
pub mod classify;
#[cfg(not(target_arch = "wasm32"))]
pub mod corpus;
pub mod encoder_pass;
pub mod finetune;
pub mod masking;
pub mod mlm;
pub mod optimizer;
pub mod schedule;
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod trainer;

pub use backward::{forward_backward, forward_loss, MlmLoss};
pub use batch::{HostBatch, MlmBatch};
pub use mlm::MlmModel;
