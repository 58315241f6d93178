//! Backward of the building blocks in `layers`.

use super::layers::{LayerNorm, Linear};
use crate::error::Result;
use crate::ops;
use crate::{Device, Tensor};

/// Gradients of a [`Linear`] layer.
pub struct LinearGrads {
    /// [.., in], shaped like the forward's input.
    pub dx: Tensor,
    /// [out, in]
    pub dweight: Tensor,
    /// [out], when the layer has a bias.
    pub dbias: Option<Tensor>,
}

impl Linear {
    /// Backward of `x W^T + b` given dy [.., out]: dx = dy W, dW = dy^T x,
    /// db = column sums of dy.
    pub fn backward(&self, dev: &Device, x: &Tensor, dy: &Tensor) -> Result<LinearGrads> {
        let (out, inp) = (self.weight.dim(0), self.weight.dim(1));
        let rows = x.numel() / inp.max(1);
        let dy2 = dy.reshape(&[rows, out])?;
        // f16 weights (mixed precision): the weight gradient in half
        // precision too, as the forward and dx (whose B is the weight).
        let product = if self.is_half() {
            ops::matmul_half
        } else {
            ops::matmul
        };
        let dweight = product(dev, &dy2, &x.reshape(&[rows, inp])?, None, ops::Matmul::TN)?;
        let dbias = match self.bias {
            Some(_) => Some(ops::sum_rows(dev, &dy2)?),
            None => None,
        };
        let dx = ops::matmul(dev, &dy2, &self.weight, None, ops::Matmul::NN)?.reshape(x.shape())?;
        Ok(LinearGrads { dx, dweight, dbias })
    }
}

impl LayerNorm {
    /// Backward of [`LayerNorm::forward`] from the forward's inputs and saved
    /// statistics; `dx` is also the residual's gradient.
    pub fn backward(
        &self,
        dev: &Device,
        dy: &Tensor,
        x: &Tensor,
        residual: Option<&Tensor>,
        saved: &ops::LayerNormOut,
    ) -> Result<ops::LayerNormGrads> {
        ops::layer_norm_backward(dev, dy, x, residual, &saved.mean, &saved.rstd, &self.weight)
    }

    /// [`LayerNorm::backward`]'s input gradient alone (a frozen norm).
    pub fn backward_input(
        &self,
        dev: &Device,
        dy: &Tensor,
        x: &Tensor,
        residual: Option<&Tensor>,
        saved: &ops::LayerNormOut,
    ) -> Result<Tensor> {
        ops::layer_norm_backward_input(dev, dy, x, residual, &saved.mean, &saved.rstd, &self.weight)
    }
}

impl Linear {
    /// The input's gradient only (a frozen layer): dx = dy W, shaped like `x`.
    pub fn backward_input(&self, dev: &Device, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        let (out, inp) = (self.weight.dim(0), self.weight.dim(1));
        let rows = x.numel() / inp.max(1);
        ops::matmul(
            dev,
            &dy.reshape(&[rows, out])?,
            &self.weight,
            None,
            ops::Matmul::NN,
        )?
        .reshape(x.shape())
    }
}
