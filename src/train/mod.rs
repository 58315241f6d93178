//! Training: the MLM model's backward pass, the optimizer, and the
//! pretraining loop. Written against `ops` like the forward, so every step
//! runs on the GPU or the CPU backend without reading weights back.

pub mod backward;
pub mod batch;
pub mod mlm;
pub mod optimizer;
pub mod schedule;

pub use backward::{forward_backward, forward_loss, MlmLoss};
pub use batch::{HostBatch, MlmBatch};
pub use mlm::MlmModel;
