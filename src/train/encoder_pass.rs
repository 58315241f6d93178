//! The encoder's forward keeping every layer's activations, and its
//! backward: the part of the backward pass shared by every head (MLM
//! pretraining, sequence classification). Derivations in docs/backward.md.

use crate::error::Result;
use crate::model::encoder::{EmbeddingsActs, Ffn, Layer, LayerActs};
use crate::model::lora::{grad_at, lora_backward, Lora};
use crate::model::{Dropout, Encoder};
use crate::ops::{self, RowIndex};
use crate::{Device, Tensor};

/// What the backward needs from the forward.
pub struct EncoderActs {
    pub emb: EmbeddingsActs,
    pub layers: Vec<LayerActs>,
    /// The final LayerNorm on the last layer's output (pre-norm encoders).
    pub final_norm: Option<ops::LayerNormOut>,
}

impl EncoderActs {
    /// The last layer's output [B, T, H], before any final norm.
    fn last_layer(&self) -> &Tensor {
        self.layers.last().map_or(&self.emb.x, |a| &a.out)
    }

    /// The last hidden states [B, T, H] (after the final norm, if any).
    pub fn last(&self) -> &Tensor {
        self.final_norm
            .as_ref()
            .map_or_else(|| self.last_layer(), |n| &n.y)
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
    encoder_forward_lora(dev, enc, ids, mask, dropout, None)
}

/// [`encoder_forward`] with LoRA adapters and the seed of their dropout.
pub fn encoder_forward_lora(
    dev: &Device,
    enc: &Encoder,
    ids: &Tensor,
    mask: &Tensor,
    dropout: &Dropout,
    lora: Option<(&Lora, u64)>,
) -> Result<EncoderActs> {
    let emb = enc.embeddings.forward(dev, ids, dropout)?;
    let mut layers: Vec<LayerActs> = Vec::with_capacity(enc.layers.len());
    for l in 0..enc.layers.len() {
        let x = layers.last().map_or(&emb.x, |a| &a.out);
        let ll = lora.map(|(a, seed)| a.layer(l, Some(seed)));
        layers.push(enc.layer_forward(dev, l, x, mask, dropout, ll.as_ref())?);
    }
    let mut acts = EncoderActs {
        emb,
        layers,
        final_norm: None,
    };
    if let Some(n) = &enc.final_norm {
        let x = acts.last_layer();
        acts.final_norm = Some(ops::layer_norm(dev, x, None, &n.weight, &n.bias, n.eps)?);
    }
    Ok(acts)
}

/// Full training covers DNABERT-2's layout only so far: BERT's (DNABERT)
/// would also need the position table's gradient and its checkpoints'
/// separate query/key/value names, the Nucleotide Transformer's the
/// gradients of its pre-norm layers' weights (LoRA works on both).
pub(crate) fn trainable(enc: &Encoder) -> Result<()> {
    if enc
        .layers
        .first()
        .is_some_and(|l| l.wqkv.weight.dtype() == crate::DType::F16)
    {
        return Err(crate::Error::Invalid(
            "the encoder's weights are stored as f16: training them needs f32 (--precision f32); LoRA trains beside f16 weights".into(),
        ));
    }
    match enc.family {
        crate::model::encoder::Family::Dnabert2 => Ok(()),
        crate::model::encoder::Family::Bert => Err(crate::Error::Invalid(
            "full training of DNABERT (k-mer BERT) checkpoints is not supported yet: fine-tune it with LoRA (--mode lora, on query/key/value)".into(),
        )),
        crate::model::encoder::Family::Esm => Err(crate::Error::Invalid(
            "full training of Nucleotide Transformer checkpoints is not supported yet: fine-tune it with LoRA (--mode lora, on query/key/value)".into(),
        )),
    }
}

/// The gradient of the feed-forward block's pre-activation `g` from that of
/// its output `f`.
fn ffn_backward(dev: &Device, layer: &Layer, g: &Tensor, df: &Tensor) -> Result<Tensor> {
    match layer.ffn {
        Ffn::GeGlu => ops::geglu_backward(dev, g, df),
        Ffn::Gelu => ops::gelu_backward(dev, g, df),
        Ffn::SwiGlu => ops::swiglu_backward(dev, g, df),
    }
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
    trainable(enc)?;
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
        let dg = ffn_backward(dev, layer, &a.g, &df)?;
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
    let (Some(norm), Some(norm_acts), Some(_)) =
        (&enc.embeddings.norm, &emb.norm, &enc.embeddings.token_type)
    else {
        return trainable(enc).and(Err(crate::Error::Invalid(
            "the embeddings have no LayerNorm or token types to train".into(),
        )));
    };
    let g_emb = norm.backward(dev, &dn, &emb.e, None, norm_acts)?;
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

/// The backward with the base weights frozen and LoRA adapters trained:
/// only input gradients flow through the base layers (no weight-gradient
/// products), and each adapter gets (dA, dB). Returns them in
/// [`Lora::named`] order. The embeddings need no gradient.
#[allow(clippy::too_many_arguments)]
pub fn encoder_backward_lora(
    dev: &Device,
    enc: &Encoder,
    acts: &EncoderActs,
    mask: &Tensor,
    dx: Tensor,
    dropout: &Dropout,
    lora: &Lora,
    lora_seed: u64,
) -> Result<Vec<Tensor>> {
    let heads = enc.config.num_attention_heads;
    let emb = &acts.emb;
    let mut dx = dx;
    if let (Some(n), Some(saved)) = (&enc.final_norm, &acts.final_norm) {
        dx = n.backward(dev, &dx, acts.last_layer(), None, saved)?.dx;
    }
    let layers = &acts.layers;
    let mut grads: Vec<Vec<Tensor>> = Vec::with_capacity(layers.len());
    for (l, layer) in enc.layers.iter().enumerate().rev() {
        let a = &layers[l];
        let x_in = if l == 0 { &emb.x } else { &layers[l - 1].out };
        let ll = lora.layer(l, Some(lora_seed));
        let mut layer_grads: Vec<(usize, Tensor, Tensor)> = Vec::new();
        // Gradient of a (frozen) linear's input, plus its adapters'.
        let mut lin_back = |k: usize,
                            lin: &crate::model::layers::Linear,
                            x: &Tensor,
                            dy: &Tensor|
         -> Result<Tensor> {
            let mut dxb = lin.backward_input(dev, x, dy)?;
            for (t, (_, _, site)) in ll.targets.iter().enumerate() {
                let (true, Some(w)) = (site.linear == k, &ll.slots[t]) else {
                    continue;
                };
                let stream = Dropout::lora(l, t);
                let xd = ll.dropout.apply(dev, x, stream)?;
                let dy_t = grad_at(dev, *site, dy, w.b.dim(0))?;
                let (da, db, dxd) = lora_backward(dev, w, ll.scale, &xd, &dy_t)?;
                layer_grads.push((t, da, db));
                dxb = ops::add(dev, &dxb, &ll.dropout.apply(dev, &dxd, stream)?)?;
            }
            Ok(dxb)
        };
        // The attention block's backward from its output's gradient: dqkv
        // turned back through the rotary positions where there are any.
        let attention_back = |dctx: &Tensor| -> Result<Tensor> {
            let dqkv = ops::attention_backward(
                dev,
                &a.qkv,
                mask,
                &enc.slopes,
                heads,
                &a.attn.out,
                &a.attn.lse,
                dctx,
            )?;
            if enc.rotary {
                ops::rotary_backward(dev, &dqkv, heads)
            } else {
                Ok(dqkv)
            }
        };
        let dx_in = if enc.final_norm.is_some() {
            // Pre-norm: out = x1 + drop(wo(f)), f = ffn(gated(LN2(x1))),
            // x1 = x + drop(Wo ctx), ctx = attention(rot(Wqkv LN1(x))).
            let dy = dropout.apply(dev, &dx, Dropout::mlp(l))?;
            let df = lin_back(3, &layer.wo, &a.f, &dy)?;
            let dg = ffn_backward(dev, layer, &a.g, &df)?;
            let dh2 = lin_back(2, &layer.gated, &a.norm2.y, &dg)?;
            let g2 = layer
                .mlp_norm
                .backward(dev, &dh2, &a.proj, None, &a.norm2)?;
            let dx1 = ops::add(dev, &dx, &g2.dx)?;
            let dp = dropout.apply(dev, &dx1, Dropout::attention_output(l))?;
            let dctx = lin_back(1, &layer.attn_out, &a.attn.out, &dp)?;
            let dh1 = lin_back(0, &layer.wqkv, &a.norm1.y, &attention_back(&dctx)?)?;
            let g1 = layer.attn_norm.backward(dev, &dh1, x_in, None, &a.norm1)?;
            ops::add(dev, &dx1, &g1.dx)?
        } else {
            // Post-norm: out = LN2(wo(drop(f)) + a1), f = ffn(gated(a1)),
            // a1 = LN1(drop(Wo ctx) + x), ctx = attention(Wqkv x).
            let g2 = layer
                .mlp_norm
                .backward(dev, &dx, &a.y, Some(&a.norm1.y), &a.norm2)?;
            let df = lin_back(3, &layer.wo, &a.f, &g2.dx)?;
            let df = dropout.apply(dev, &df, Dropout::mlp(l))?;
            let dg = ffn_backward(dev, layer, &a.g, &df)?;
            let da1 = ops::add(dev, &g2.dx, &lin_back(2, &layer.gated, &a.norm1.y, &dg)?)?;
            let g1 = layer
                .attn_norm
                .backward(dev, &da1, &a.proj, Some(x_in), &a.norm1)?;
            let dproj = dropout.apply(dev, &g1.dx, Dropout::attention_output(l))?;
            let dctx = lin_back(1, &layer.attn_out, &a.attn.out, &dproj)?;
            let dx_qkv = lin_back(0, &layer.wqkv, x_in, &attention_back(&dctx)?)?;
            ops::add(dev, &g1.dx, &dx_qkv)?
        };
        dx = dx_in;
        layer_grads.sort_by_key(|g| g.0);
        grads.push(
            layer_grads
                .into_iter()
                .flat_map(|(_, da, db)| [da, db])
                .collect(),
        );
    }
    Ok(grads.into_iter().rev().flatten().collect())
}
