//! The encoder's forward keeping every layer's activations, and its
//! backward: the part of the backward pass shared by every head (MLM
//! pretraining, sequence classification). Derivations in docs/backward.md.

use crate::error::Result;
use crate::model::encoder::{EmbeddingsActs, LayerActs};
use crate::model::{Dropout, Encoder};
use crate::ops::{self, RowIndex};
use crate::{Device, Tensor};

/// What the backward needs from the forward.
pub struct EncoderActs {
    pub emb: EmbeddingsActs,
    pub layers: Vec<LayerActs>,
}

impl EncoderActs {
    /// The last hidden states [B, T, H].
    pub fn last(&self) -> &Tensor {
        self.layers.last().map_or(&self.emb.x, |a| &a.out)
    }
}

/// The encoder on ids/mask [B, T] with `dropout`, keeping activations.
pub fn encoder_forward(
    dev: &Device,
    enc: &Encoder,
    ids: &Tensor,
    mask: &Tensor,
    dropout: &Dropout,
) -> Result<EncoderActs> {
    let heads = enc.config.num_attention_heads;
    let emb = enc.embeddings.forward(dev, ids, dropout)?;
    let mut layers: Vec<LayerActs> = Vec::with_capacity(enc.layers.len());
    for (l, layer) in enc.layers.iter().enumerate() {
        let x = layers.last().map_or(&emb.x, |a| &a.out);
        layers.push(layer.forward(dev, x, mask, &enc.slopes, heads, dropout, l)?);
    }
    Ok(EncoderActs { emb, layers })
}

/// Gradients of the encoder's parameters (`bert.embeddings.*` then each
/// layer's, in `model::init::parameter_shapes` order) given `dx`, the
/// gradient of the last hidden states [B, T, H]. `ids_index` groups the
/// batch's positions by token id (the word embedding's backward).
pub fn encoder_backward(
    dev: &Device,
    enc: &Encoder,
    acts: &EncoderActs,
    ids_index: &RowIndex,
    mask: &Tensor,
    dx: Tensor,
    dropout: &Dropout,
) -> Result<Vec<Tensor>> {
    let cfg = &enc.config;
    let heads = cfg.num_attention_heads;
    let hidden = cfg.hidden_size;
    let emb = &acts.emb;
    let acts = &acts.layers;
    let batch_mask = mask;
    let mut dx = dx;
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
            batch_mask,
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

    // Embeddings: x0 = drop(LN(word[ids] + token_type[0])).
    let dn = dropout.apply(dev, &dx, Dropout::EMBEDDINGS)?;
    let g_emb = enc
        .embeddings
        .norm
        .backward(dev, &dn, &emb.e, None, &emb.norm)?;
    let d_word = ops::embedding_backward(dev, ids_index, &g_emb.dx)?;
    let d_type0 = ops::sum_rows(dev, &g_emb.dx)?.reshape(&[1, hidden])?;
    let type_rows = RowIndex::new(dev, &[0], cfg.type_vocab_size)?;
    let d_token_type = ops::embedding_backward(dev, &type_rows, &d_type0)?;
    let mut grads = vec![d_word, d_token_type, g_emb.dweight, g_emb.dbias];
    for g in layer_grads.into_iter().rev() {
        grads.extend(g);
    }
    Ok(grads)
}
