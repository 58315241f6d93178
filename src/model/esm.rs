//! The Nucleotide Transformer's encoder (`esm.*`, Hugging Face's ESM):
//! pre-LayerNorm layers and a final LayerNorm, on the same `Encoder` and
//! ops as DNABERT-2. v1: learned positions from row 2 on (ESM's offset) and
//! word embeddings scaled by 0.88 (token dropout, applied at inference too),
//! a GELU feed-forward with biases. v2: rotary positions on q and k, a
//! SwiGLU feed-forward without biases. Q/K/V are fused into one Wqkv at load.
//! The math is in docs/models/bert-and-nt.md, section 3.

use super::config::Config;
use super::dropout::Dropout;
use super::encoder::{adapted, Embeddings, Encoder, Family, Ffn, Layer, LayerActs};
use super::io::Weights;
use super::layers::{load, LayerNorm, Linear};
use super::lora::LayerLora;
use crate::error::Result;
use crate::ops;
use crate::{DType, Device, Tensor};

/// ESM's position ids start after the padding id (1): row 2 for token 0.
pub(super) const POSITION_OFFSET: usize = 2;
/// Token dropout's inference scale, 1 - 0.15 * 0.8, for inputs without
/// `<mask>` tokens (the FASTA readers admit no `<`, so only variant scoring
/// masks tokens: `Embeddings::token_dropout`).
const TOKEN_DROPOUT_SCALE: f32 = 1.0 - 0.15 * 0.8;

impl Encoder {
    /// Loads `esm.embeddings.*` and `esm.encoder.*`; v1 or v2 from the
    /// config's `position_embedding_type`, the feed-forward from the
    /// tensors' shapes.
    /// The layers' weight matrices are stored as `dt` (f32 or f16).
    pub(super) fn load_esm(dev: &Device, cfg: &Config, w: &Weights, dt: DType) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let rotary = cfg.position_embedding_type.as_deref() == Some("rotary");
        let table = "esm.embeddings.position_embeddings.weight";
        let rows = w
            .shape_of(table)
            .map_or(cfg.max_position_embeddings.unwrap_or(0), |s| s[0]);
        let position = if rotary {
            // Stored by v2 checkpoints, unused; its shape is still checked.
            if w.contains(table) {
                w.take(table, &[rows, h])?;
            }
            None
        } else {
            Some(load(dev, w, table, &[rows, h])?)
        };
        let embeddings = Embeddings {
            word: load(
                dev,
                w,
                "esm.embeddings.word_embeddings.weight",
                &[cfg.vocab_size, h],
            )?,
            token_type: None,
            position,
            position_offset: POSITION_OFFSET,
            word_scale: if cfg.token_dropout.unwrap_or(false) {
                TOKEN_DROPOUT_SCALE
            } else {
                1.0
            },
            token_dropout_mask: cfg
                .mask_token_id
                .filter(|_| cfg.token_dropout.unwrap_or(false)),
            norm: None,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = format!("esm.encoder.layer.{l}");
                let inter = format!("{p}.intermediate.dense");
                let swiglu = w.shape_of(&format!("{inter}.weight")) == Some(&[2 * i, h][..]);
                let biased = w.contains(&format!("{inter}.bias"));
                // Rotary's inverse frequencies, when stored, are recomputed.
                w.ignore(&format!("{p}.attention.self.rotary_embeddings.inv_freq"));
                let lin = |name: &str, shape: [usize; 2], bias: bool| {
                    Linear::load_as(dev, w, &format!("{p}.{name}"), shape, bias, dt)
                };
                Ok(Layer {
                    wqkv: Linear::load_concat(
                        dev,
                        w,
                        &["query", "key", "value"].map(|n| format!("{p}.attention.self.{n}")),
                        [h, h],
                        dt,
                    )?,
                    attn_out: lin("attention.output.dense", [h, h], true)?,
                    attn_norm: LayerNorm::load(
                        dev,
                        w,
                        &format!("{p}.attention.LayerNorm"),
                        h,
                        eps,
                    )?,
                    gated: lin(
                        "intermediate.dense",
                        [if swiglu { 2 * i } else { i }, h],
                        biased,
                    )?,
                    ffn: if swiglu { Ffn::SwiGlu } else { Ffn::Gelu },
                    wo: lin("output.dense", [h, i], biased)?,
                    mlp_norm: LayerNorm::load(dev, w, &format!("{p}.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for name in [
            "esm.rotary_embeddings.inv_freq",
            "esm.contact_head.regression.weight",
            "esm.contact_head.regression.bias",
        ] {
            // Not part of the encoder's math (the protein contact head,
            // recomputed frequencies).
            w.ignore(name);
        }
        let heads = cfg.num_attention_heads;
        Ok(Encoder {
            config: cfg.clone(),
            family: Family::Esm,
            embeddings,
            layers,
            slopes: dev.tensor_f32(&[heads], &vec![0.0; heads])?,
            final_norm: Some(LayerNorm::load(
                dev,
                w,
                "esm.encoder.emb_layer_norm_after",
                h,
                eps,
            )?),
            rotary,
        })
    }
}

impl Layer {
    /// One pre-LN layer on x [B, T, H]: `x1 = x + drop(attn(LN1(x)))`, then
    /// `out = x1 + drop(ffn(LN2(x1)))` (dropout where ESM has it: after
    /// each block's output projection). In the activations, `norm1` is
    /// LN1(x), `qkv` the (rotated) attention input, `proj` the residual x1,
    /// `norm2` LN2(x1), `y` the output projection before dropout.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_pre_norm(
        &self,
        dev: &Device,
        x: &Tensor,
        mask: &Tensor,
        enc: &Encoder,
        drop: &Dropout,
        index: usize,
        lora: Option<&LayerLora>,
    ) -> Result<LayerActs> {
        let lin = |k: usize, layer: &Linear, x: &Tensor| adapted(dev, lora, index, k, layer, x);
        let heads = enc.config.num_attention_heads;
        let n1 = &self.attn_norm;
        let norm1 = ops::layer_norm(dev, x, None, &n1.weight, &n1.bias, n1.eps)?;
        let mut qkv = lin(0, &self.wqkv, &norm1.y)?; // [B, T, 3H]
        if enc.rotary {
            qkv = ops::rotary(dev, &qkv, heads)?;
        }
        let attention = if self.wqkv.is_half() {
            ops::attention_half
        } else {
            ops::attention
        };
        let attn = attention(dev, &qkv, mask, &enc.slopes, heads)?;
        let p = lin(1, &self.attn_out, &attn.out)?;
        let proj = ops::add(
            dev,
            x,
            &drop.apply(dev, &p, Dropout::attention_output(index))?,
        )?;
        let n2 = &self.mlp_norm;
        let norm2 = ops::layer_norm(dev, &proj, None, &n2.weight, &n2.bias, n2.eps)?;
        let g = lin(2, &self.gated, &norm2.y)?;
        let f = self.ffn.apply(dev, &g)?;
        let y = lin(3, &self.wo, &f)?;
        let out = ops::add(dev, &proj, &drop.apply(dev, &y, Dropout::mlp(index))?)?;
        Ok(LayerActs {
            qkv,
            attn,
            proj,
            norm1,
            g,
            f,
            y,
            norm2,
            out,
        })
    }
}
