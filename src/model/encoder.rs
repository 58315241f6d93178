//! The post-norm BERT encoders (`bert.embeddings` + `bert.encoder`):
//! DNABERT-2 (fused QKV, ALiBi attention, a GeGLU MLP) and the original BERT
//! of DNABERT (learned positions, separate Q/K/V, which are fused into one
//! Wqkv at load, no positional bias, a GELU MLP with biases). Written once
//! against `ops`, so it runs on the GPU and the CPU backend. The math is in
//! the model documents (docs/models/); shapes are in the comments.

use super::config::Config;
use super::dropout::Dropout;
use super::io::Weights;
use super::layers::{load, LayerNorm, Linear};
use super::lora::{LayerLora, Lora};
use super::Precision;
use crate::error::{shape_err, Result};
use crate::ops::{self, Epilogue};
use crate::{DType, Device, Tensor};

/// `bert.embeddings`: word embedding + token type 0 (+ learned position in
/// BERT), then LayerNorm. DNABERT-2 has no position table: position enters
/// through ALiBi. The Nucleotide Transformer's (`esm.embeddings`): word
/// embedding (scaled by 0.88 in v1: ESM's token dropout at inference), plus
/// a learned position from row 2 on (v1), no LayerNorm.
#[derive(Clone)]
pub struct Embeddings {
    /// [V, H]; also the MLM decoder's weight (tied) in the BERT family.
    pub word: Tensor,
    /// `token_type_embeddings` [type_vocab, H]; every token uses row 0
    /// (BERT family).
    pub token_type: Option<Tensor>,
    /// `position_embeddings` [rows, H] (BERT, NT v1); token t takes row
    /// `position_offset + t`.
    pub position: Option<Tensor>,
    pub position_offset: usize,
    /// Multiplies the word embeddings (NT v1: 1 - 0.15 * 0.8).
    pub word_scale: f32,
    /// ESM's token dropout at inference (NT v1): this mask token's
    /// embedding is zero and each sequence's word embeddings are scaled by
    /// `word_scale / (1 - masked share)` (see [`TokenDropout`]).
    pub token_dropout_mask: Option<u32>,
    /// The BERT family's LayerNorm; ESM has none.
    pub norm: Option<LayerNorm>,
}

/// The feed-forward block of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ffn {
    /// DNABERT-2: `gated` [2I, H] without bias, `gelu(u) * v`, then `wo`.
    GeGlu,
    /// BERT: `gated` is `intermediate.dense` [I, H] with bias, GELU, then
    /// `wo` (`output.dense`).
    Gelu,
    /// NT v2: `gated` [2I, H] without bias, `silu(u) * v`, then `wo`
    /// without bias.
    SwiGlu,
}

impl Ffn {
    /// The activation of the first linear's output g: [.., I].
    pub fn apply(self, dev: &Device, g: &Tensor) -> Result<Tensor> {
        match self {
            Ffn::GeGlu => ops::geglu(dev, g),
            Ffn::Gelu => ops::gelu(dev, g),
            Ffn::SwiGlu => ops::swiglu(dev, g),
        }
    }
}

/// One `bert.encoder.layer.N`.
#[derive(Clone)]
pub struct Layer {
    pub wqkv: Linear,
    pub attn_out: Linear,
    pub attn_norm: LayerNorm,
    pub gated: Linear,
    pub ffn: Ffn,
    pub wo: Linear,
    pub mlp_norm: LayerNorm,
}

impl Embeddings {
    /// `LN(word[ids] + token_type[0] (+ position[t]))`, then dropout. ids
    /// [B, T] -> [B, T, H].
    pub fn forward(&self, dev: &Device, ids: &Tensor, drop: &Dropout) -> Result<EmbeddingsActs> {
        self.forward_dropped(dev, ids, drop, None)
    }

    /// [`Embeddings::forward`], with ESM's token dropout for input that
    /// holds mask tokens (`tokens`, from [`Embeddings::token_dropout`]).
    fn forward_dropped(
        &self,
        dev: &Device,
        ids: &Tensor,
        drop: &Dropout,
        tokens: Option<&TokenDropout>,
    ) -> Result<EmbeddingsActs> {
        let hidden = self.word.dim(1);
        let mut e;
        if let Some(td) = tokens {
            // Mask tokens as ids past the table: zero rows. Each sequence
            // scaled by its own factor: diag(scale) [B, B] times the rows
            // [B, T*H] (there is no row-scaling op; B is small).
            let (b, t) = (ids.dim(0), ids.dim(1));
            let zeroed = ops::embedding(dev, &dev.tensor_u32(&[b, t], &td.ids)?, &self.word)?;
            let mut diag = vec![0f32; b * b];
            for (r, s) in td.scales.iter().enumerate() {
                diag[r * b + r] = *s;
            }
            e = ops::matmul(
                dev,
                &dev.tensor_f32(&[b, b], &diag)?,
                &zeroed.reshape(&[b, t * hidden])?,
                None,
                ops::Matmul::NN,
            )?
            .reshape(&[b, t, hidden])?;
        } else {
            e = ops::embedding(dev, ids, &self.word)?;
            if self.word_scale != 1.0 {
                e = ops::scale(dev, &e, self.word_scale)?;
            }
        }
        if let Some(types) = &self.token_type {
            let type0 = ops::embedding(dev, &dev.tensor_u32(&[1], &[0])?, types)?;
            e = ops::add(dev, &e, &type0.reshape(&[hidden])?)?;
        }
        if let Some(table) = &self.position {
            let t = ids.dim(1);
            if t > self.max_positions().unwrap_or(0) {
                return Err(crate::Error::Invalid(format!(
                    "a sequence of {t} tokens is longer than the model's {} positions (a learned position table): cut or split it",
                    self.max_positions().unwrap_or(0)
                )));
            }
            let positions: Vec<u32> = (0..t as u32)
                .map(|p| p + self.position_offset as u32)
                .collect();
            let pos = ops::embedding(dev, &dev.tensor_u32(&[t], &positions)?, table)?; // [T, H]
            e = ops::add(dev, &e, &pos)?;
        }
        let (norm, y) = match &self.norm {
            Some(n) => {
                let out = ops::layer_norm(dev, &e, None, &n.weight, &n.bias, n.eps)?;
                let y = out.y.clone();
                (Some(out), y)
            }
            None => (None, e.clone()),
        };
        let x = drop.apply(dev, &y, Dropout::EMBEDDINGS)?;
        Ok(EmbeddingsActs { e, norm, x })
    }

    /// ESM's token dropout for a batch `ids` [B, T] (host) with `mask`
    /// (1 = real token), as `transformers`' `EsmEmbeddings` applies it at
    /// inference: a mask token's word embedding is zero and sequence b's
    /// are multiplied by `(1 - 0.15 * 0.8) / (1 - m_b / n_b)`, m_b its mask
    /// tokens and n_b its real tokens. `None` where it changes nothing (no
    /// token dropout, or no mask token in the batch: then `word_scale`
    /// alone is that factor).
    pub fn token_dropout(&self, ids: &[u32], mask: &[u32], b: usize) -> Option<TokenDropout> {
        let m = self.token_dropout_mask?;
        if b == 0 || !ids.contains(&m) {
            return None;
        }
        let t = ids.len() / b;
        let past_table = self.word.dim(0) as u32;
        let scales = (0..b)
            .map(|r| {
                let row = r * t..(r + 1) * t;
                let masked = ids[row.clone()].iter().filter(|&&id| id == m).count();
                let real = mask[row].iter().filter(|&&v| v != 0).count().max(1);
                let observed = masked as f32 / real as f32;
                self.word_scale / (1.0 - observed)
            })
            .collect();
        let ids = ids
            .iter()
            .map(|&id| if id == m { past_table } else { id })
            .collect();
        Some(TokenDropout { ids, scales })
    }

    /// The most tokens a sequence may have (a learned position table).
    pub fn max_positions(&self) -> Option<usize> {
        self.position
            .as_ref()
            .map(|t| t.dim(0).saturating_sub(self.position_offset))
    }
}

/// ESM's token dropout for one batch that holds mask tokens
/// ([`Embeddings::token_dropout`]).
pub struct TokenDropout {
    /// [B, T]: the ids, mask tokens moved past the table (zero rows).
    ids: Vec<u32>,
    /// [B]: each sequence's word-embedding factor.
    scales: Vec<f32>,
}

/// What an inference forward adds to the encoder's own weights
/// ([`Encoder::forward_with`]).
#[derive(Clone, Copy, Default)]
pub struct Extras<'a> {
    /// LoRA adapters run beside the frozen weights.
    pub lora: Option<&'a Lora>,
    /// ESM's token dropout for input holding mask tokens.
    pub token_dropout: Option<&'a TokenDropout>,
}

/// What the embeddings' backward needs.
pub struct EmbeddingsActs {
    /// word[ids] + token_type[0], the LayerNorm's input.
    pub e: Tensor,
    /// The LayerNorm's output and statistics (BERT family).
    pub norm: Option<ops::LayerNormOut>,
    /// The output, after dropout.
    pub x: Tensor,
}

/// One layer's activations: its output and what its backward needs. The
/// fields are named for the post-norm layer; the pre-norm layer's meaning
/// of each is at `Layer::forward_pre_norm`.
pub struct LayerActs {
    /// [B, T, 3H]
    pub qkv: Tensor,
    /// The attention context [B, T, H] and its rows' log-sum-exp.
    pub attn: ops::AttentionOut,
    /// attention.output.dense's output after dropout.
    pub proj: Tensor,
    /// `a = LN1(proj + x)` with its statistics.
    pub norm1: ops::LayerNormOut,
    /// gated_layers' output [B, T, 2I] (BERT: intermediate.dense's, [B, T, I]).
    pub g: Tensor,
    /// `gelu(u) * v` (BERT: `gelu(g)`) after dropout [B, T, I].
    pub f: Tensor,
    /// mlp.wo's output.
    pub y: Tensor,
    /// `LN2(y + a)` with its statistics; `norm2.y` is the layer's output.
    pub norm2: ops::LayerNormOut,
    /// Same tensor as `norm2.y`.
    pub out: Tensor,
}

/// Linear `k` of layer `index` on `x`, plus its adapters' terms when
/// adapted.
pub(super) fn adapted(
    dev: &Device,
    lora: Option<&LayerLora>,
    index: usize,
    k: usize,
    layer: &Linear,
    x: &Tensor,
) -> Result<Tensor> {
    let y = layer.forward(dev, x, Epilogue::None)?;
    match lora {
        Some(l) => l.apply(dev, index, k, x, y),
        None => Ok(y),
    }
}

impl Layer {
    /// One post-norm layer on x [B, T, H]; `index` picks the dropout streams.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        dev: &Device,
        x: &Tensor,
        mask: &Tensor,
        slopes: &Tensor,
        heads: usize,
        drop: &Dropout,
        index: usize,
        lora: Option<&LayerLora>,
    ) -> Result<LayerActs> {
        // Base output plus target k's LoRA term when adapted.
        let lin = |k: usize, layer: &Linear, x: &Tensor| adapted(dev, lora, index, k, layer, x);
        let qkv = lin(0, &self.wqkv, x)?; // [B, T, 3H]
        let attention = if self.wqkv.is_half() {
            ops::attention_half
        } else {
            ops::attention
        };
        let attn = attention(dev, &qkv, mask, slopes, heads)?; // [B, T, H]
        let proj = lin(1, &self.attn_out, &attn.out)?;
        let proj = drop.apply(dev, &proj, Dropout::attention_output(index))?;
        let n1 = &self.attn_norm;
        let norm1 = ops::layer_norm(dev, &proj, Some(x), &n1.weight, &n1.bias, n1.eps)?; // a
        let g = lin(2, &self.gated, &norm1.y)?; // [B, T, 2I] (GeGLU) or [B, T, I]
        let f = self.ffn.apply(dev, &g)?; // [B, T, I]
        let f = drop.apply(dev, &f, Dropout::mlp(index))?;
        let y = lin(3, &self.wo, &f)?;
        let n2 = &self.mlp_norm;
        let norm2 = ops::layer_norm(dev, &y, Some(&norm1.y), &n2.weight, &n2.bias, n2.eps)?;
        let out = norm2.y.clone();
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

/// Which checkpoint layout an encoder was loaded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// DNABERT-2 (MosaicBERT: ALiBi, fused Wqkv, GeGLU).
    Dnabert2,
    /// BERT (DNABERT k-mer models).
    Bert,
    /// ESM (Nucleotide Transformer v1 and v2): pre-LN layers.
    Esm,
}

#[derive(Clone)]
pub struct Encoder {
    pub config: Config,
    pub family: Family,
    pub embeddings: Embeddings,
    pub layers: Vec<Layer>,
    /// ALiBi slopes [heads] (zeros: no positional bias).
    pub(crate) slopes: Tensor,
    /// ESM's `emb_layer_norm_after`: with it the layers are pre-LN and it
    /// normalises the last layer's output.
    pub final_norm: Option<LayerNorm>,
    /// Rotary positions on q and k (NT v2).
    pub rotary: bool,
}

impl Encoder {
    /// Loads `bert.embeddings.*` and `bert.encoder.layer.*` onto `dev`:
    /// DNABERT-2's layout, or BERT's (DNABERT) when the checkpoint has
    /// separate `attention.self.query` weights; an `esm.*` checkpoint (the
    /// Nucleotide Transformer) through [`Encoder::load_esm`].
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        Self::load_with(dev, cfg, w, Precision::F32)
    }

    /// [`Encoder::load`] with the layers' weight matrices stored in
    /// `precision` (each value rounded once, on the host).
    pub fn load_with(
        dev: &Device,
        cfg: &Config,
        w: &Weights,
        precision: Precision,
    ) -> Result<Self> {
        let dt = precision.matrix_dtype();
        if w.contains("esm.embeddings.word_embeddings.weight") {
            return Self::load_esm(dev, cfg, w, dt);
        }
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let bert = w.contains("bert.encoder.layer.0.attention.self.query.weight");
        let position = if bert {
            let rows = w
                .shape_of("bert.embeddings.position_embeddings.weight")
                .map_or(0, |s| s[0]);
            Some(load(
                dev,
                w,
                "bert.embeddings.position_embeddings.weight",
                &[rows, h],
            )?)
        } else {
            None
        };
        let embeddings = Embeddings {
            word: load(
                dev,
                w,
                "bert.embeddings.word_embeddings.weight",
                &[cfg.vocab_size, h],
            )?,
            token_type: Some(load(
                dev,
                w,
                "bert.embeddings.token_type_embeddings.weight",
                &[cfg.type_vocab_size, h],
            )?),
            position,
            position_offset: 0,
            word_scale: 1.0,
            token_dropout_mask: None,
            norm: Some(LayerNorm::load(
                dev,
                w,
                "bert.embeddings.LayerNorm",
                h,
                eps,
            )?),
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = format!("bert.encoder.layer.{l}");
                let lin = |name: &str, shape: [usize; 2], bias: bool| {
                    Linear::load_as(dev, w, &format!("{p}.{name}"), shape, bias, dt)
                };
                let attn_out = lin("attention.output.dense", [h, h], true)?;
                let attn_norm =
                    LayerNorm::load(dev, w, &format!("{p}.attention.output.LayerNorm"), h, eps)?;
                Ok(if bert {
                    Layer {
                        wqkv: Linear::load_concat(
                            dev,
                            w,
                            &["query", "key", "value"].map(|n| format!("{p}.attention.self.{n}")),
                            [h, h],
                            dt,
                        )?,
                        attn_out,
                        attn_norm,
                        gated: lin("intermediate.dense", [i, h], true)?,
                        ffn: Ffn::Gelu,
                        wo: lin("output.dense", [h, i], true)?,
                        mlp_norm: LayerNorm::load(
                            dev,
                            w,
                            &format!("{p}.output.LayerNorm"),
                            h,
                            eps,
                        )?,
                    }
                } else {
                    Layer {
                        wqkv: lin("attention.self.Wqkv", [3 * h, h], true)?,
                        attn_out,
                        attn_norm,
                        gated: lin("mlp.gated_layers", [2 * i, h], false)?,
                        ffn: Ffn::GeGlu,
                        wo: lin("mlp.wo", [h, i], true)?,
                        mlp_norm: LayerNorm::load(dev, w, &format!("{p}.mlp.layernorm"), h, eps)?,
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // BERT has no positional bias in attention: zero slopes.
        let heads = cfg.num_attention_heads;
        let slopes = if bert {
            vec![0.0; heads]
        } else {
            ops::alibi_slopes(heads)
        };
        let slopes = dev.tensor_f32(&[heads], &slopes)?;
        Ok(Self {
            config: cfg.clone(),
            family: if bert { Family::Bert } else { Family::Dnabert2 },
            embeddings,
            layers,
            slopes,
            final_norm: None,
            rotary: false,
        })
    }

    /// The most tokens a sequence may have (a learned position table), if any.
    pub fn max_positions(&self) -> Option<usize> {
        self.embeddings.max_positions()
    }

    /// [`Encoder::max_positions`] of a checkpoint before it is loaded: its
    /// learned position table's rows past the offset (BERT, NT v1); none
    /// for ALiBi (DNABERT-2) and rotary (NT v2) positions.
    pub fn max_positions_of(cfg: &Config, w: &Weights) -> Option<usize> {
        if let Some(s) = w.shape_of("bert.embeddings.position_embeddings.weight") {
            return Some(s[0]);
        }
        if cfg.position_embedding_type.as_deref() == Some("rotary") {
            return None;
        }
        w.shape_of("esm.embeddings.position_embeddings.weight")
            .map(|s| s[0].saturating_sub(super::esm::POSITION_OFFSET))
    }

    /// Layer `l` on x [B, T, H], post-norm (BERT) or pre-norm (ESM, which
    /// has a final norm), keeping its activations.
    pub fn layer_forward(
        &self,
        dev: &Device,
        l: usize,
        x: &Tensor,
        mask: &Tensor,
        drop: &Dropout,
        lora: Option<&LayerLora>,
    ) -> Result<LayerActs> {
        let layer = &self.layers[l];
        if self.final_norm.is_some() {
            layer.forward_pre_norm(dev, x, mask, self, drop, l, lora)
        } else {
            let heads = self.config.num_attention_heads;
            layer.forward(dev, x, mask, &self.slopes, heads, drop, l, lora)
        }
    }

    /// Whether an inference forward ([`Encoder::forward_with`]) keeps the
    /// activations between kernels in f16 on `dev`: weights stored in f16
    /// (`--precision f16`) on a device with half-precision activations
    /// (`Device::half_activations`). Every family:
    /// the pre-norm ESM layers' residual stream is f16 too, as in a model
    /// converted to half precision. Training follows the same rule, its
    /// gradients f32.
    pub fn half_activations(&self, dev: &Device) -> bool {
        self.half_weights() && dev.half_activations()
    }

    /// [`Encoder::half_activations`] with LoRA adapters beside the weights:
    /// only f16 ones ([`Lora::half`]; f32 adapters' products take f32
    /// input).
    pub fn half_activations_beside(&self, dev: &Device, lora: Option<&Lora>) -> bool {
        lora.is_none_or(Lora::is_half) && self.half_activations(dev)
    }

    /// The dtype of the layers' activations on `dev` beside `lora`
    /// ([`Encoder::half_activations_beside`]: f16, else f32).
    pub fn activation_dtype(&self, dev: &Device, lora: Option<&Lora>) -> DType {
        if self.half_activations_beside(dev, lora) {
            DType::F16
        } else {
            DType::F32
        }
    }

    /// Whether the layers' weight matrices are stored in f16.
    fn half_weights(&self) -> bool {
        self.layers.first().is_some_and(|l| l.wqkv.is_half())
    }

    /// What an inference forward of this encoder computes with on `dev`
    /// when its weights are f16 (`--precision f16`), in one line for the
    /// user; `None` for f32 weights.
    pub fn half_precision_summary(&self, dev: &Device) -> Option<String> {
        if !self.half_weights() {
            return None;
        }
        let coop = if dev.cooperative_matrices() {
            ", products on cooperative matrices"
        } else {
            ", f32 arithmetic"
        };
        Some(if self.half_activations(dev) {
            format!("weights and activations in f16{coop}")
        } else if !dev.is_gpu() {
            "weights in f16; the CPU backend computes and keeps activations in f32".into()
        } else {
            let off = if cfg!(target_arch = "wasm32") {
                ""
            } else {
                ", or DNAGPU_F16_ACTIVATIONS=off"
            };
            format!(
                "weights in f16; activations stay f32 ({} has no shader-f16{off}){coop}",
                dev.name()
            )
        })
    }

    /// Whether this is DNABERT-2's layout (the one dnagpu trains).
    pub fn is_dnabert2(&self) -> bool {
        self.family == Family::Dnabert2
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
        self.forward_with(dev, ids, mask, keep, Extras::default())
    }

    /// [`Encoder::forward`] from ids and mask on the host, [B, T] each:
    /// input holding mask tokens gets ESM's token dropout where the model
    /// has it (NT v1; [`Embeddings::token_dropout`]).
    pub fn forward_host(
        &self,
        dev: &Device,
        ids: &[u32],
        mask: &[u32],
        b: usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<Vec<(usize, Tensor)>> {
        let t = ids.len().checked_div(b).unwrap_or(0);
        if ids.len() != b * t || mask.len() != ids.len() {
            return Err(shape_err(
                "encoder",
                format!(
                    "{} ids and {} mask values are not {b} rows of one length",
                    ids.len(),
                    mask.len()
                ),
            ));
        }
        let dropout = self.embeddings.token_dropout(ids, mask, b);
        let extras = Extras {
            lora: None,
            token_dropout: dropout.as_ref(),
        };
        let (ids, mask) = (
            dev.tensor_u32(&[b, t], ids)?,
            dev.tensor_u32(&[b, t], mask)?,
        );
        self.forward_with(dev, &ids, &mask, keep, extras)
    }

    /// [`Encoder::forward`] at inference (no dropout) with LoRA adapters
    /// beside the weights and ESM's token dropout, where `extras` has them.
    pub fn forward_with(
        &self,
        dev: &Device,
        ids: &Tensor,
        mask: &Tensor,
        keep: impl Fn(usize) -> bool,
        extras: Extras<'_>,
    ) -> Result<Vec<(usize, Tensor)>> {
        let Extras {
            lora,
            token_dropout: tokens,
        } = extras;
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
        let last = self.layers.len();
        let mut kept = Vec::new();
        // Half-precision activations from the embeddings' output on; what
        // leaves the encoder is f32.
        let act = self.activation_dtype(dev, lora);
        let out = |x: &Tensor| ops::to_dtype(dev, x, DType::F32);

        // x: [B, T, H]
        let mut x = self
            .embeddings
            .forward_dropped(dev, ids, &Dropout::OFF, tokens)?
            .x;
        if keep(0) && last > 0 {
            kept.push((0, x.clone()));
        }
        x = ops::to_dtype(dev, &x, act)?;
        for l in 0..last {
            let adapters = lora.map(|a| a.layer(l, None));
            x = self
                .layer_forward(dev, l, &x, mask, &Dropout::OFF, adapters.as_ref())?
                .out;
            if l + 1 < last && keep(l + 1) {
                kept.push((l + 1, out(&x)?));
            }
        }
        let mut x = out(&x)?;
        // ESM: the last hidden state is the final LayerNorm's output (the
        // earlier ones are the raw residual stream, as Hugging Face gives them).
        if let Some(n) = &self.final_norm {
            x = n.forward(dev, &x, None)?;
        }
        debug_assert_eq!(x.shape(), [b, t, h]);
        kept.push((last, x));
        Ok(kept)
    }
}

/// `cls.predictions`: `LN(gelu(x Wt^T + bt)) E^T + b_dec`, the decoder tied
/// to the word embeddings. The LayerNorm's eps is 1e-12 whatever the config.
/// ESM's `lm_head` is the same math with its own decoder weight.
#[derive(Clone)]
pub struct MlmHead {
    pub transform: Linear,
    pub norm: LayerNorm,
    /// [V]
    pub decoder_bias: Tensor,
    /// [V, H] when not tied to the word embeddings (ESM).
    pub decoder: Option<Tensor>,
}

impl MlmHead {
    pub fn load(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            transform: Linear::load(dev, w, "cls.predictions.transform.dense", h, h, true)?,
            norm: LayerNorm::load(dev, w, "cls.predictions.transform.LayerNorm", h, 1e-12)?,
            decoder_bias: load(dev, w, "cls.predictions.decoder.bias", &[cfg.vocab_size])?,
            decoder: None,
        })
    }

    /// ESM's `lm_head.*` (the Nucleotide Transformer).
    pub fn load_esm(dev: &Device, cfg: &Config, w: &Weights) -> Result<Self> {
        let (h, v) = (cfg.hidden_size, cfg.vocab_size);
        Ok(Self {
            transform: Linear::load(dev, w, "lm_head.dense", h, h, true)?,
            norm: LayerNorm::load(dev, w, "lm_head.layer_norm", h, cfg.layer_norm_eps)?,
            decoder_bias: load(dev, w, "lm_head.bias", &[v])?,
            decoder: Some(load(dev, w, "lm_head.decoder.weight", &[v, h])?),
        })
    }

    /// x: [.., H] -> logits [.., V].
    pub fn forward(&self, dev: &Device, x: &Tensor, word_embeddings: &Tensor) -> Result<Tensor> {
        let t = self.transform.forward(dev, x, Epilogue::Gelu)?;
        let t = self.norm.forward(dev, &t, None)?;
        ops::linear(
            dev,
            &t,
            self.decoder.as_ref().unwrap_or(word_embeddings),
            Some(&self.decoder_bias),
            Epilogue::None,
        )
    }
}
