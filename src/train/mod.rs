//! Training: the MLM model's backward pass, the optimizer, and the
//! pretraining loop. Written against `ops` like the forward, so every step
//! runs on the GPU or the CPU backend without reading weights back.

pub mod backward;
pub mod batch;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint_verify;
pub mod classify;
#[cfg(not(target_arch = "wasm32"))]
pub mod corpus;
pub mod distributed;
pub mod encoder_pass;
pub mod finetune;
#[cfg(not(target_arch = "wasm32"))]
pub mod finetune_output;
#[cfg(not(target_arch = "wasm32"))]
pub mod finetune_run;
#[cfg(not(target_arch = "wasm32"))]
pub mod grad;
#[cfg(not(target_arch = "wasm32"))]
pub mod gue;
pub mod labelled;
pub mod loss_scale;
pub mod masking;
pub mod mixed;
pub mod mlm;
pub mod optimizer;
#[cfg(not(target_arch = "wasm32"))]
pub mod pretrain_log;
#[cfg(not(target_arch = "wasm32"))]
pub mod pretrain_run;
pub mod progress;
pub mod recipe;
pub mod schedule;
mod split;
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod trainer;

pub use backward::{forward_backward, forward_loss, MlmLoss};
pub use batch::{HostBatch, MlmBatch};
pub use mlm::MlmModel;

use std::collections::BTreeMap;

use crate::model::HostTensor;
use crate::{Device, Result, Tensor};

/// Reads tensors back to the host, by name (checkpoints, adapters, the
/// best fine-tuning state).
pub async fn read_named(
    dev: &Device,
    names: &[String],
    tensors: &[Tensor],
) -> Result<BTreeMap<String, HostTensor>> {
    let mut out = BTreeMap::new();
    for (n, t) in names.iter().zip(tensors) {
        out.insert(
            n.clone(),
            HostTensor {
                shape: t.shape().to_vec(),
                data: dev.read_f32(t).await?,
            },
        );
    }
    Ok(out)
}
