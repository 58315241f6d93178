//! The encoder's forward keeping every layer's activations, and its
//! backward: the part of the backward pass shared by every head (MLM
//! pretraining, sequence classification). Derivations in docs/backward.md.

use crate::error::Result;
use crate::model::encoder::{EmbeddingsActs, Ffn, Layer, LayerActs};
use crate::model::layers::{LayerNorm, Linear};
use crate::model::layers_backward::LinearGrads;
use crate::model::lora::{grad_at, lora_backward, LayerLora, Lora};
use crate::model::{Dropout, Encoder};
use crate::ops::{self, RowIndex};
use crate::{Device, Tensor};

/// What the backward needs from the forward. With half-precision
/// activations ([`Encoder::half_activations_beside`]: mixed precision
/// computes with f16 copies of its f32 masters; the backward keeps
/// gradients f32) the layers' activations are f16 from
/// the embeddings' output on; the embeddings' own and `output` are f32.
pub struct EncoderActs {
    pub emb: EmbeddingsActs,
    pub layers: Vec<LayerActs>,
    /// The final LayerNorm on the last layer's output (pre-norm encoders).
    pub final_norm: Option<ops::LayerNormOut>,
    /// The last hidden states [B, T, H] (after the final norm, if any) in
    /// f32, what the heads take (the same tensor when activations are f32).
    pub output: Tensor,
}

impl EncoderActs {
    /// The last layer's output [B, T, H], before any final norm.
    fn last_layer(&self) -> &Tensor {
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
    encoder_forward_lora(dev, enc, ids, mask, dropout, None)
}

/// [`encoder_forward`] with LoRA adapters and the seed of their dropout.
pub fn encoder_forward_lora(
    dev: &Device,
    enc: &Encoder,
    ids: &Tensor,
    mask: &Tensor,
    dropout: &Dropout,
    lora: Option<(&Lora, Dropout)>,
) -> Result<EncoderActs> {
    let mut emb = enc.embeddings.forward(dev, ids, dropout)?;
    emb.x = ops::to_dtype(dev, &emb.x, enc.activation_dtype(dev, lora.map(|l| l.0)))?;
    let mut layers: Vec<LayerActs> = Vec::with_capacity(enc.layers.len());
    for l in 0..enc.layers.len() {
        let x = layers.last().map_or(&emb.x, |a| &a.out);
        let ll = lora.map(|(a, seed)| a.layer(l, Some(seed)));
        layers.push(enc.layer_forward(dev, l, x, mask, dropout, ll.as_ref())?);
    }
    let last = layers.last().map_or(&emb.x, |a| &a.out);
    let final_norm = match &enc.final_norm {
        Some(n) => Some(ops::layer_norm(dev, last, None, &n.weight, &n.bias, n.eps)?),
        None => None,
    };
    let last = final_norm.as_ref().map_or(last, |n| &n.y);
    let output = ops::to_dtype(dev, last, crate::DType::F32)?;
    Ok(EncoderActs {
        emb,
        layers,
        final_norm,
        output,
    })
}

/// Whether the encoder's own weights can be trained: not when they are
/// stored as f16 (LoRA trains beside them).
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
    Ok(())
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

/// What one layer's backward collects: every weight's gradient (full
/// training), or only input gradients through the frozen weights plus each
/// LoRA adapter's (dA, dB).
struct LayerBack<'a> {
    dev: &'a Device,
    layer: usize,
    lora: Option<LayerLora<'a>>,
    /// Full training: linear k's gradients (Wqkv, attention output, first
    /// and second feed-forward linear).
    linears: [Option<LinearGrads>; 4],
    /// Full training: the attention block's and the feed-forward block's
    /// LayerNorm gradients.
    norms: [Option<ops::LayerNormGrads>; 2],
    /// LoRA: (target, dA, dB).
    adapters: Vec<(usize, Tensor, Tensor)>,
}

impl<'a> LayerBack<'a> {
    fn new(dev: &'a Device, layer: usize, lora: Option<LayerLora<'a>>) -> Self {
        Self {
            dev,
            layer,
            lora,
            linears: Default::default(),
            norms: Default::default(),
            adapters: Vec::new(),
        }
    }

    /// The input gradient of linear `k` (input `x`, output gradient `dy`),
    /// recording its weight gradients or its adapters'.
    fn linear(&mut self, k: usize, lin: &Linear, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        let dev = self.dev;
        let Some(ll) = &self.lora else {
            let g = lin.backward(dev, x, dy)?;
            let dx = g.dx.clone();
            self.linears[k] = Some(g);
            return Ok(dx);
        };
        let mut dxb = lin.backward_input(dev, x, dy)?;
        for (t, (_, _, site)) in ll.targets.iter().enumerate() {
            let (true, Some(w)) = (site.linear == k, &ll.slots[t]) else {
                continue;
            };
            let stream = Dropout::lora(self.layer, t);
            let xd = ll.dropout.apply(dev, x, stream)?;
            let dy_t = grad_at(dev, *site, dy, w.b.dim(0))?;
            let (da, db, dxd) = lora_backward(dev, w, ll.scale, &xd, &dy_t)?;
            self.adapters.push((t, da, db));
            dxb = ops::add(dev, &dxb, &ll.dropout.apply(dev, &dxd, stream)?)?;
        }
        Ok(dxb)
    }

    /// The input gradient of LayerNorm `k` (see [`LayerNorm::backward`]),
    /// recording its parameters' gradients in full training (LoRA runs
    /// none of their passes).
    fn norm(
        &mut self,
        k: usize,
        norm: &LayerNorm,
        dy: &Tensor,
        x: &Tensor,
        residual: Option<&Tensor>,
        saved: &ops::LayerNormOut,
    ) -> Result<Tensor> {
        if self.lora.is_some() {
            return norm.backward_input(self.dev, dy, x, residual, saved);
        }
        let g = norm.backward(self.dev, dy, x, residual, saved)?;
        let dx = g.dx.clone();
        self.norms[k] = Some(g);
        Ok(dx)
    }

    /// The gradients in parameter order: full training as the encoder's
    /// visitor walks a layer (each linear's weight then bias, the norms'
    /// weight then bias); LoRA as [`Lora::named`] lists the layer.
    fn into_grads(self) -> Vec<Tensor> {
        if self.lora.is_some() {
            let mut a = self.adapters;
            a.sort_by_key(|g| g.0);
            return a.into_iter().flat_map(|(_, da, db)| [da, db]).collect();
        }
        let [qkv, out, gated, wo] = self
            .linears
            .map(|g| g.expect("every linear's backward ran"));
        let [n1, n2] = self.norms.map(|g| g.expect("both norms' backward ran"));
        let lin = |g: LinearGrads| [Some(g.dweight), g.dbias];
        let norm = |g: ops::LayerNormGrads| [Some(g.dweight), Some(g.dbias)];
        [lin(qkv), lin(out), norm(n1), lin(gated), lin(wo), norm(n2)]
            .into_iter()
            .flatten()
            .flatten()
            .collect()
    }
}

/// One layer's backward from `dx`, its output's gradient; returns its
/// input's. `x_in` is the layer's input, `a` its activations.
#[allow(clippy::too_many_arguments)]
fn layer_backward(
    dev: &Device,
    enc: &Encoder,
    l: usize,
    a: &LayerActs,
    x_in: &Tensor,
    mask: &Tensor,
    dx: &Tensor,
    dropout: &Dropout,
    back: &mut LayerBack,
) -> Result<Tensor> {
    let layer = &enc.layers[l];
    let heads = enc.config.num_attention_heads;
    // The attention's backward from its context's gradient: dqkv turned
    // back through the rotary positions where there are any.
    // f16 layer weights (mixed precision): on cooperative matrices where
    // the device has them, as the forward.
    let attention_backward = if layer.wqkv.is_half() {
        ops::attention_backward_half
    } else {
        ops::attention_backward
    };
    let attention_back = |dctx: &Tensor| -> Result<Tensor> {
        let dqkv = attention_backward(
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
    if enc.final_norm.is_some() {
        // Pre-norm: out = x1 + drop(wo(f)), f = ffn(gated(LN2(x1))),
        // x1 = x + drop(Wo ctx), ctx = attention(rot(Wqkv LN1(x))).
        let dy = dropout.apply(dev, dx, Dropout::mlp(l))?;
        let df = back.linear(3, &layer.wo, &a.f, &dy)?;
        let dg = ffn_backward(dev, layer, &a.g, &df)?;
        let dh2 = back.linear(2, &layer.gated, &a.norm2.y, &dg)?;
        let dn2 = back.norm(1, &layer.mlp_norm, &dh2, &a.proj, None, &a.norm2)?;
        let dx1 = ops::add(dev, dx, &dn2)?;
        let dp = dropout.apply(dev, &dx1, Dropout::attention_output(l))?;
        let dctx = back.linear(1, &layer.attn_out, &a.attn.out, &dp)?;
        let dh1 = back.linear(0, &layer.wqkv, &a.norm1.y, &attention_back(&dctx)?)?;
        let dn1 = back.norm(0, &layer.attn_norm, &dh1, x_in, None, &a.norm1)?;
        ops::add(dev, &dx1, &dn1)
    } else {
        // Post-norm: out = LN2(wo(drop(f)) + a1), f = ffn(gated(a1)),
        // a1 = LN1(drop(Wo ctx) + x), ctx = attention(Wqkv x).
        let dsum2 = back.norm(1, &layer.mlp_norm, dx, &a.y, Some(&a.norm1.y), &a.norm2)?;
        let df = back.linear(3, &layer.wo, &a.f, &dsum2)?;
        let df = dropout.apply(dev, &df, Dropout::mlp(l))?;
        let dg = ffn_backward(dev, layer, &a.g, &df)?;
        let da1 = ops::add(dev, &dsum2, &back.linear(2, &layer.gated, &a.norm1.y, &dg)?)?;
        let dsum1 = back.norm(0, &layer.attn_norm, &da1, &a.proj, Some(x_in), &a.norm1)?;
        let dproj = dropout.apply(dev, &dsum1, Dropout::attention_output(l))?;
        let dctx = back.linear(1, &layer.attn_out, &a.attn.out, &dproj)?;
        let dx_qkv = back.linear(0, &layer.wqkv, x_in, &attention_back(&dctx)?)?;
        ops::add(dev, &dsum1, &dx_qkv)
    }
}

/// Runs every layer's backward, last to first, from `dx` (the last hidden
/// states' gradient, before any final norm): returns the embeddings
/// output's gradient, the final norm's gradients (full training, pre-norm
/// encoders) and each layer's gradients in order.
fn layers_backward(
    dev: &Device,
    enc: &Encoder,
    acts: &EncoderActs,
    mask: &Tensor,
    dx: Tensor,
    dropout: &Dropout,
    lora: Option<(&Lora, Dropout)>,
) -> Result<(Tensor, Option<ops::LayerNormGrads>, Vec<Vec<Tensor>>)> {
    let mut dx = dx;
    let mut final_grads = None;
    if let (Some(n), Some(saved)) = (&enc.final_norm, &acts.final_norm) {
        if lora.is_some() {
            dx = n.backward_input(dev, &dx, acts.last_layer(), None, saved)?;
        } else {
            let g = n.backward(dev, &dx, acts.last_layer(), None, saved)?;
            dx = g.dx.clone();
            final_grads = Some(g);
        }
    }
    let mut per_layer = Vec::with_capacity(enc.layers.len());
    for l in (0..enc.layers.len()).rev() {
        let x_in = if l == 0 {
            &acts.emb.x
        } else {
            &acts.layers[l - 1].out
        };
        let mut back = LayerBack::new(dev, l, lora.map(|(a, seed)| a.layer(l, Some(seed))));
        dx = layer_backward(
            dev,
            enc,
            l,
            &acts.layers[l],
            x_in,
            mask,
            &dx,
            dropout,
            &mut back,
        )?;
        per_layer.push(back.into_grads());
    }
    per_layer.reverse();
    Ok((dx, final_grads, per_layer))
}

/// Gradients of every encoder parameter, in [`crate::train::mlm`]'s
/// visitor order (its names: `encoder_param_names`): the embeddings
/// (word, position, token type, LayerNorm, as the family has them), each
/// layer's, then a final norm's. `dx` is the gradient of the last hidden
/// states [B, T, H]; `ids_index` groups the batch's positions by token id
/// (the word embedding's backward).
pub fn encoder_backward(
    dev: &Device,
    enc: &Encoder,
    acts: &EncoderActs,
    ids_index: &RowIndex,
    mask: &Tensor,
    dx: Tensor,
    dropout: &Dropout,
) -> Result<Vec<Tensor>> {
    // f16 layer weights are fine here (mixed precision computes with f16
    // copies of f32 masters); AdamW refuses to update f16 tensors.
    let (b, t, hidden) = (dx.dim(0), dx.dim(1), enc.config.hidden_size);
    let (dx0, final_grads, layer_grads) = layers_backward(dev, enc, acts, mask, dx, dropout, None)?;
    // Embeddings: x0 = drop(LN(scale * word[ids] + position[t] + token_type[0])),
    // each part as the family has it.
    let emb = &enc.embeddings;
    let de = dropout.apply(dev, &dx0, Dropout::EMBEDDINGS)?;
    let mut norm_grads = None;
    let de = match (&emb.norm, &acts.emb.norm) {
        (Some(n), Some(saved)) => {
            let g = n.backward(dev, &de, &acts.emb.e, None, saved)?;
            let dx = g.dx.clone();
            norm_grads = Some(g);
            dx
        }
        _ => de,
    };
    let d_word = if emb.word_scale != 1.0 {
        ops::scale(dev, &de, emb.word_scale)?
    } else {
        de.clone()
    };
    let mut grads = vec![ops::embedding_backward(dev, ids_index, &d_word)?];
    if let Some(table) = &emb.position {
        let rows: Vec<u32> = (0..b * t)
            .map(|r| (r % t + emb.position_offset) as u32)
            .collect();
        let index = RowIndex::new(dev, &rows, table.dim(0))?;
        grads.push(ops::embedding_backward(dev, &index, &de)?);
    }
    if let Some(types) = &emb.token_type {
        let d_type0 = ops::sum_rows(dev, &de.reshape(&[b * t, hidden])?)?.reshape(&[1, hidden])?;
        let type_rows = RowIndex::new(dev, &[0], types.dim(0))?;
        grads.push(ops::embedding_backward(dev, &type_rows, &d_type0)?);
    }
    if let Some(g) = norm_grads {
        grads.extend([g.dweight, g.dbias]);
    }
    grads.extend(layer_grads.into_iter().flatten());
    if let Some(g) = final_grads {
        grads.extend([g.dweight, g.dbias]);
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
    lora_seed: Dropout,
) -> Result<Vec<Tensor>> {
    let (_, _, layer_grads) =
        layers_backward(dev, enc, acts, mask, dx, dropout, Some((lora, lora_seed)))?;
    Ok(layer_grads.into_iter().flatten().collect())
}
