//! The DNABERT-2 encoder (`bert.embeddings` + `bert.encoder`): embeddings,
//! then post-norm layers of fused-QKV ALiBi attention and a GeGLU MLP.
//! Written once against `ops`, so it runs on the GPU and the CPU backend.
//! The math is in the model doc; shapes are in the comments.

use super::config::Config;
use super::layers::{load, LayerNorm, Linear};
use super::weights::Weights;
use crate::error::{shape_err, Result};
use crate::ops::{self, Epilogue};
use crate::{DType, Device, Tensor};

/// `bert.embeddings`: word embedding + token type 0, then LayerNorm (no
/// position embedding: position enters through ALiBi).
pub struct Embeddings {
    /// [V, H]; also the MLM decoder's weight (tied).
    pub word: Tensor,
    /// Row 0 of `token_type_embeddings` [H] (token types are always 0).
    pub token_type0: Tensor,
    pub norm: LayerNorm,
}

/// One `bert.encoder.layer.N`.
pub struct Layer {
    pub wqkv: Linear,
    pub attn_out: Linear,
    pub attn_norm: LayerNorm,
    pub gated: Linear,
    pub wo: Linear,
    pub mlp_norm: LayerNorm,
}

pub struct Encoder {
    pub config: Config,
    pub embeddings: Embeddings,
    pub layers: Vec<Layer>,
    /// ALiBi slopes [heads].
    slopes: Tensor,
}

impl Encoder {
    /// Loads `bert.embeddings.*` and `bert.encoder.layer.*` onto `dev`.
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let tt = w.take(
            "bert.embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?;
        let embeddings = Embeddings {
            word: load(
                dev,
                w,
                "bert.embeddings.word_embeddings.weight",
                &[cfg.vocab_size, h],
            )?,
            token_type0: dev.tensor_f32(&[h], &tt.data[..h])?,
            norm: LayerNorm::load(dev, w, "bert.embeddings.LayerNorm", h, eps)?,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = format!("bert.encoder.layer.{l}");
                Ok(Layer {
                    wqkv: Linear::load(
                        dev,
                        w,
                        &format!("{p}.attention.self.Wqkv"),
                        3 * h,
                        h,
                        true,
                    )?,
                    attn_out: Linear::load(
                        dev,
                        w,
                        &format!("{p}.attention.output.dense"),
                        h,
                        h,
                        true,
                    )?,
                    attn_norm: LayerNorm::load(
                        dev,
                        w,
                        &format!("{p}.attention.output.LayerNorm"),
                        h,
                        eps,
                    )?,
                    gated: Linear::load(dev, w, &format!("{p}.mlp.gated_layers"), 2 * i, h, false)?,
                    wo: Linear::load(dev, w, &format!("{p}.mlp.wo"), h, i, true)?,
                    mlp_norm: LayerNorm::load(dev, w, &format!("{p}.mlp.layernorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let slopes = dev.tensor_f32(
            &[cfg.num_attention_heads],
            &ops::alibi_slopes(cfg.num_attention_heads),
        )?;
        Ok(Self {
            config: cfg.clone(),
            embeddings,
            layers,
            slopes,
        })
    }

    /// Runs the encoder on `ids` [B, T] (u32) with `mask` [B, T] (u32, 1 =
    /// real token). Returns the hidden states [B, T, H] after the embeddings
    /// (index 0) and after each layer (1..=L) for which `keep(index)` is
    /// true; the last layer's is always returned last.
    pub fn forward(
        &self,
        dev: &Device,
        ids: &Tensor,
        mask: &Tensor,
        keep: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, Tensor)>> {
        const OP: &str = "encoder";
        ids.check_dtype(OP, "input_ids", DType::U32)?;
        if ids.rank() != 2 || mask.shape() != ids.shape() {
            return Err(shape_err(
                OP,
                format!(
                    "input_ids {:?} must be [B, T] and match the mask {:?}",
                    ids.shape(),
                    mask.shape()
                ),
            ));
        }
        let (b, t, h) = (ids.dim(0), ids.dim(1), self.config.hidden_size);
        let heads = self.config.num_attention_heads;
        let last = self.layers.len();
        let mut kept = Vec::new();

        // x: [B, T, H]
        let e = ops::embedding(dev, ids, &self.embeddings.word)?;
        let e = ops::add(dev, &e, &self.embeddings.token_type0)?;
        let mut x = self.embeddings.norm.forward(dev, &e, None)?;
        if keep(0) && last > 0 {
            kept.push((0, x.clone()));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let qkv = layer.wqkv.forward(dev, &x, Epilogue::None)?; // [B, T, 3H]
            let ctx = ops::attention(dev, &qkv, mask, &self.slopes, heads)?.out; // [B, T, H]
            let proj = layer.attn_out.forward(dev, &ctx, Epilogue::None)?;
            let a = layer.attn_norm.forward(dev, &proj, Some(&x))?; // LN1(ctx Wo^T + bo + x)
            let g = layer.gated.forward(dev, &a, Epilogue::None)?; // [B, T, 2I]
            let f = ops::geglu(dev, &g)?; // gelu(u) * v: [B, T, I]
            let y = layer.wo.forward(dev, &f, Epilogue::None)?;
            x = layer.mlp_norm.forward(dev, &y, Some(&a))?; // LN2(f Wff^T + bff + a)
            if l + 1 < last && keep(l + 1) {
                kept.push((l + 1, x.clone()));
            }
        }
        debug_assert_eq!(x.shape(), [b, t, h]);
        kept.push((last, x));
        Ok(kept)
    }
}

/// `cls.predictions`: `LN(gelu(x Wt^T + bt)) E^T + b_dec`, the decoder tied
/// to the word embeddings. The LayerNorm's eps is 1e-12 whatever the config.
pub struct MlmHead {
    pub transform: Linear,
    pub norm: LayerNorm,
    /// [V]
    pub decoder_bias: Tensor,
}

impl MlmHead {
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            transform: Linear::load(dev, w, "cls.predictions.transform.dense", h, h, true)?,
            norm: LayerNorm::load(dev, w, "cls.predictions.transform.LayerNorm", h, 1e-12)?,
            decoder_bias: load(dev, w, "cls.predictions.decoder.bias", &[cfg.vocab_size])?,
        })
    }

    /// x: [.., H] -> logits [.., V].
    pub fn forward(&self, dev: &Device, x: &Tensor, word_embeddings: &Tensor) -> Result<Tensor> {
        let t = self.transform.forward(dev, x, Epilogue::Gelu)?;
        let t = self.norm.forward(dev, &t, None)?;
        ops::linear(
            dev,
            &t,
            word_embeddings,
            Some(&self.decoder_bias),
            Epilogue::None,
        )
    }
}
