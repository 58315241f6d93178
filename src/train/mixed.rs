//! Mixed-precision training (`--precision f16`): the optimizer keeps f32
//! master weights; each step computes with a copy whose layer weight
//! matrices are f16 (`ops::to_f16`, on the device), so that on a GPU with
//! shader-f16 the layers' activations are kept in f16 as well
//! (`Encoder::half_activations_beside`; the backward reads them and keeps
//! gradients f32), and the products and attention run in half precision
//! where the device has cooperative matrices (`gpu::coop`); the loss is
//! scaled (`loss_scale`) against f16 underflow and the gradients unscaled
//! in the update.

use super::mlm::MlmModel;
use crate::error::Result;
use crate::model::{Encoder, Precision};
use crate::{ops, Device};

/// Whether `--precision f16` trains in mixed precision on `dev`: where the
/// device computes in half precision — activations kept in f16 (a GPU with
/// shader-f16) or products on cooperative matrices. Elsewhere (the CPU
/// backend, a GPU with neither) training runs in f32.
pub fn computes_in_half(dev: &Device) -> bool {
    dev.half_activations() || dev.cooperative_matrices()
}

/// Whether training with `precision` runs in mixed precision on `dev`: f16
/// asked for, and [`computes_in_half`]. The one rule of `pretrain`,
/// `finetune`, the page's fine-tuning and `bench train|finetune`.
pub fn applies(dev: &Device, precision: Precision) -> bool {
    precision == Precision::F16 && computes_in_half(dev)
}

/// The one-line note of `--precision f16` training on `dev`: what mixed
/// precision computes with there, or that training runs in f32 (the
/// caller says what follows for its model).
pub fn note(dev: &Device) -> String {
    if !computes_in_half(dev) {
        return format!(
            "--precision f16: {} computes in f32 here (no shader-f16 or cooperative matrices in use: dnagpu info), so training runs in f32",
            dev.name()
        );
    }
    let activations = if dev.half_activations() {
        "f16 weights and activations"
    } else {
        "f16 weights, f32 activations"
    };
    let products = if dev.cooperative_matrices() {
        "products on cooperative matrices"
    } else {
        "f32 arithmetic"
    };
    format!(
        "--precision f16: mixed precision on {}: f32 master weights, {activations}, {products}, f32 gradients, dynamic loss scaling",
        dev.name()
    )
}

/// `enc` with every layer's weight matrices (Wqkv, attention output, the
/// feed-forward linears) rounded to f16 on the device: what
/// `--precision f16` loads for inference, made from the f32 masters.
pub fn half_encoder(dev: &Device, enc: &Encoder) -> Result<Encoder> {
    let mut half = enc.clone();
    for layer in &mut half.layers {
        for lin in [
            &mut layer.wqkv,
            &mut layer.attn_out,
            &mut layer.gated,
            &mut layer.wo,
        ] {
            lin.weight = ops::to_f16(dev, &lin.weight)?;
        }
    }
    Ok(half)
}

/// The MLM model a mixed-precision step computes with: `model`'s
/// parameters, the encoder through [`half_encoder`].
pub fn half_mlm(dev: &Device, model: &MlmModel) -> Result<MlmModel> {
    Ok(MlmModel {
        config: model.config.clone(),
        encoder: half_encoder(dev, &model.encoder)?,
        head: model.head.clone(),
    })
}
