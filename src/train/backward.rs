//! The MLM loss and its gradient with respect to every parameter, by hand
//! (llm.c style): the forward keeps each layer's activations, the backward
//! walks them in reverse. The derivations are in docs/backward.md.
//!
//! Only labelled positions reach the head: the last hidden states' labelled
//! rows are gathered, the head and cross-entropy run on them, and their
//! gradient is scattered back (rows of padding and unlabelled tokens get
//! zero, which the layers' backward keeps at zero for padding).

use super::batch::MlmBatch;
use super::mlm::MlmModel;
use crate::error::Result;
use crate::model::Dropout;
use crate::ops::{self, Epilogue, Matmul, RowIndex};
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
    let enc = &model.encoder;
    let heads = model.config.num_attention_heads;
    let mut x = enc.embeddings.forward(dev, &batch.ids, &Dropout::OFF)?.x;
    for (l, layer) in enc.layers.iter().enumerate() {
        x = layer
            .forward(dev, &x, &batch.mask, &enc.slopes, heads, &Dropout::OFF, l)?
            .out;
    }
    let head = head_forward(dev, model, batch, &x)?;
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
    let heads = cfg.num_attention_heads;
    let (b, t, hidden) = (batch.batch, batch.seq, cfg.hidden_size);

    let emb = enc.embeddings.forward(dev, &batch.ids, dropout)?;
    let mut acts = Vec::with_capacity(enc.layers.len());
    for (l, layer) in enc.layers.iter().enumerate() {
        let x = acts.last().map_or(&emb.x, |a: &crate::model::encoder::LayerActs| &a.out);
        acts.push(layer.forward(dev, x, &batch.mask, &enc.slopes, heads, dropout, l)?);
    }
    let last = acts.last().map_or(&emb.x, |a| &a.out);
    let head = head_forward(dev, model, batch, last)?;
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
    let mut dx = ops::embedding_backward(dev, &batch.positions_index, &g_transform.dx)?
        .reshape(&[b, t, hidden])?;

    // Layers, last to first. Each returns its gradients in parameter order.
    let mut layer_grads = Vec::with_capacity(enc.layers.len());
    for (l, layer) in enc.layers.iter().enumerate().rev() {
        let a = &acts[l];
        let x_in = if l == 0 { &emb.x } else { &acts[l - 1].out };
        // out = LN2(y + a1), y = wo(f), f = drop(gelu(u) * v), g = a1 Wg^T.
        let g2 = layer
            .mlp_norm
            .backward(dev, &dx, &a.y, Some(&a.norm1.y), &a.norm2)?;
        let g_wo = layer.wo.backward(dev, &a.f, &g2.dx)?;
        let df = dropout.apply(dev, &g_wo.dx, Dropout::mlp(l))?;
        let dg = ops::geglu_backward(dev, &a.g, &df)?;
        let g_gated = layer.gated.backward(dev, &a.norm1.y, &dg)?;
        let da1 = ops::add(dev, &g2.dx, &g_gated.dx)?;
        // a1 = LN1(proj + x_in), proj = drop(ctx Wo^T + bo), ctx = attention(x_in Wqkv^T + bqkv).
        let g1 = layer
            .attn_norm
            .backward(dev, &da1, &a.proj, Some(x_in), &a.norm1)?;
        let dproj = dropout.apply(dev, &g1.dx, Dropout::attention_output(l))?;
        let g_out = layer.attn_out.backward(dev, &a.attn.out, &dproj)?;
        let dqkv = ops::attention_backward(
            dev,
            &a.qkv,
            &batch.mask,
            &enc.slopes,
            heads,
            &a.attn.out,
            &a.attn.lse,
            &g_out.dx,
        )?;
        let g_qkv = layer.wqkv.backward(dev, x_in, &dqkv)?;
        dx = ops::add(dev, &g1.dx, &g_qkv.dx)?;
        layer_grads.push(vec![
            g_qkv.dweight,
            g_qkv.dbias.expect("Wqkv has a bias"),
            g_out.dweight,
            g_out.dbias.expect("attention.output.dense has a bias"),
            g1.dweight,
            g1.dbias,
            g_gated.dweight,
            g_wo.dweight,
            g_wo.dbias.expect("mlp.wo has a bias"),
            g2.dweight,
            g2.dbias,
        ]);
    }
    drop(acts);

    // Embeddings: x0 = drop(LN(word[ids] + token_type[0])).
    let dn = dropout.apply(dev, &dx, Dropout::EMBEDDINGS)?;
    let g_emb = enc
        .embeddings
        .norm
        .backward(dev, &dn, &emb.e, None, &emb.norm)?;
    let d_word_lookup = ops::embedding_backward(dev, &batch.ids_index, &g_emb.dx)?;
    let d_word = ops::add(dev, &d_word_lookup, &d_word_decoder)?;
    let d_type0 = ops::sum_rows(dev, &g_emb.dx)?.reshape(&[1, hidden])?;
    let type_rows = RowIndex::new(dev, &[0], cfg.type_vocab_size)?;
    let d_token_type = ops::embedding_backward(dev, &type_rows, &d_type0)?;

    let mut grads = vec![d_word, d_token_type, g_emb.dweight, g_emb.dbias];
    for g in layer_grads.into_iter().rev() {
        grads.extend(g);
    }
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
