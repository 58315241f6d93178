//! The MLM loss and its gradient with respect to every parameter, by hand
//! (llm.c style): the forward keeps each layer's activations, the backward
//! walks them in reverse. The derivations are in docs/backward.md.
//!
//! Only labelled positions reach the head: the last hidden states' labelled
//! rows are gathered, the head and cross-entropy run on them, and their
//! gradient is scattered back (rows of padding and unlabelled tokens get
//! zero, which the layers' backward keeps at zero for padding).

use super::batch::MlmBatch;
use super::encoder_pass::{encoder_backward, encoder_forward};
use super::mlm::MlmModel;
use crate::error::Result;
use crate::model::Dropout;
use crate::ops::{self, Epilogue, Matmul};
use crate::{Device, Tensor};

/// The loss of one batch.
pub struct MlmLoss {
    /// Cross-entropy of each labelled token, [n]; the batch loss is their
    /// sum over the number of labelled tokens.
    pub rows: Tensor,
    /// [n, V], the labelled tokens' logits.
    pub logits: Tensor,
}

/// The head's activations on the labelled rows.
struct HeadActs {
    /// Gathered hidden states [n, H].
    h: Tensor,
    /// transform.dense output before GELU.
    z: Tensor,
    /// gelu(z), the LayerNorm's input.
    u: Tensor,
    norm: ops::LayerNormOut,
    logits: Tensor,
}

fn head_forward(dev: &Device, model: &MlmModel, batch: &MlmBatch, x: &Tensor) -> Result<HeadActs> {
    let hidden = model.config.hidden_size;
    let rows = x.reshape(&[batch.batch * batch.seq, hidden])?;
    let h = ops::embedding(dev, &batch.positions, &rows)?; // [n, H]
    let head = &model.head;
    let z = head.transform.forward(dev, &h, Epilogue::None)?;
    let u = ops::gelu(dev, &z)?;
    let n = &head.norm;
    let norm = ops::layer_norm(dev, &u, None, &n.weight, &n.bias, n.eps)?;
    let logits = ops::linear(
        dev,
        &norm.y,
        &model.encoder.embeddings.word,
        Some(&head.decoder_bias),
        Epilogue::None,
    )?;
    Ok(HeadActs {
        h,
        z,
        u,
        norm,
        logits,
    })
}

/// The loss of `batch` with dropout off (evaluation).
pub fn forward_loss(dev: &Device, model: &MlmModel, batch: &MlmBatch) -> Result<MlmLoss> {
    let states = model
        .encoder
        .forward(dev, &batch.ids, &batch.mask, |_| false)?;
    let x = &states.last().expect("the last layer is always returned").1;
    let head = head_forward(dev, model, batch, x)?;
    let ce = ops::cross_entropy(dev, &head.logits, &batch.labels, 0.0)?;
    Ok(MlmLoss {
        rows: ce.loss,
        logits: head.logits,
    })
}

/// Runs the forward with `drop`, then the backward of the summed
/// cross-entropy times `grad_scale` (1 / the number of labelled tokens of
/// the whole accumulated batch gives the mean). Returns the loss and one
/// gradient per parameter in [`MlmModel::names`] order.
pub fn forward_backward(
    dev: &Device,
    model: &MlmModel,
    batch: &MlmBatch,
    grad_scale: f32,
    dropout: &Dropout,
) -> Result<(MlmLoss, Vec<Tensor>)> {
    let enc = &model.encoder;
    let cfg = &model.config;
    let (b, t, hidden) = (batch.batch, batch.seq, cfg.hidden_size);

    let acts = encoder_forward(dev, enc, &batch.ids, &batch.mask, dropout)?;
    let head = head_forward(dev, model, batch, &acts.output)?;
    let ce = ops::cross_entropy(dev, &head.logits, &batch.labels, grad_scale)?;

    // Head: logits = t E^T + b_dec, t = LN(gelu(h Wt^T + bt)).
    let word = &enc.embeddings.word;
    let d_word_decoder = ops::matmul(dev, &ce.dlogits, &head.norm.y, None, Matmul::TN)?; // [V, H]
    let d_decoder_bias = ops::sum_rows(dev, &ce.dlogits)?;
    let dt = ops::matmul(dev, &ce.dlogits, word, None, Matmul::NN)?; // [n, H]
    let g_head_norm = model
        .head
        .norm
        .backward(dev, &dt, &head.u, None, &head.norm)?;
    let dz = ops::gelu_backward(dev, &head.z, &g_head_norm.dx)?;
    let g_transform = model.head.transform.backward(dev, &head.h, &dz)?;
    let dx = ops::embedding_backward(dev, &batch.positions_index, &g_transform.dx)?
        .reshape(&[b, t, hidden])?;

    let mut grads = encoder_backward(dev, enc, &acts, &batch.ids_index, &batch.mask, dx, dropout)?;
    grads[0] = ops::add(dev, &grads[0], &d_word_decoder)?; // the tied decoder
    grads.extend([
        g_transform.dweight,
        g_transform.dbias.expect("transform.dense has a bias"),
        g_head_norm.dweight,
        g_head_norm.dbias,
        d_decoder_bias,
    ]);
    Ok((
        MlmLoss {
            rows: ce.loss,
            logits: head.logits,
        },
        grads,
    ))
}
