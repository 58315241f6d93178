//! LayerNorm backward on slices: dx per row, and the weight and bias
//! gradients as column sums in chunks of 256 rows (the order of
//! shaders/layer_norm_backward/layer_norm_param_grads.wgsl followed by shaders/reduce/sum_rows.wgsl).

use rayon::prelude::*;

use crate::ops::reduce::cpu::{sum_rows, SUM_ROWS_CHUNK};

/// Output of [`layer_norm_backward`]: dx [R, H], dweight and dbias [H].
pub struct LayerNormGrads {
    pub dx: Vec<f32>,
    pub dweight: Vec<f32>,
    pub dbias: Vec<f32>,
}

/// Backward of `y = (x + residual - mean) * rstd * w + b` over rows of
/// `hidden`, with the forward's saved `mean` and `rstd` [R]:
/// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w;
/// dweight = sum over rows of dy * xhat; dbias = sum over rows of dy.
pub fn layer_norm_backward(
    dy: &[f32],
    x: &[f32],
    residual: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    w: &[f32],
    hidden: usize,
) -> LayerNormGrads {
    let rows = x.len() / hidden.max(1);
    let chunks = rows.div_ceil(SUM_ROWS_CHUNK).max(1);
    let mut dx = vec![0f32; x.len()];
    let mut part_w = vec![0f32; chunks * hidden];
    let mut part_b = vec![0f32; chunks * hidden];
    let span = SUM_ROWS_CHUNK * hidden;
    dx.par_chunks_mut(span.max(1))
        .zip(part_w.par_chunks_mut(hidden.max(1)))
        .zip(part_b.par_chunks_mut(hidden.max(1)))
        .enumerate()
        .for_each(|(c, ((dxs, pw), pb))| {
            let mut xhat = vec![0f32; hidden];
            for (k, dxr) in dxs.chunks_mut(hidden).enumerate() {
                let r = c * SUM_ROWS_CHUNK + k;
                let off = r * hidden;
                let dyr = &dy[off..off + hidden];
                let (mu, rs) = (mean[r], rstd[r]);
                let (mut sg, mut sgx) = (0f32, 0f32);
                for j in 0..hidden {
                    let s = x[off + j] + residual.map_or(0.0, |res| res[off + j]);
                    xhat[j] = (s - mu) * rs;
                    let g = dyr[j] * w[j];
                    sg += g;
                    sgx += g * xhat[j];
                    pw[j] += dyr[j] * xhat[j];
                    pb[j] += dyr[j];
                }
                let (mg, mgx) = (sg / hidden as f32, sgx / hidden as f32);
                for j in 0..hidden {
                    dxr[j] = rs * (dyr[j] * w[j] - mg - xhat[j] * mgx);
                }
            }
        });
    LayerNormGrads {
        dx,
        dweight: sum_rows(&part_w, hidden),
        dbias: sum_rows(&part_b, hidden),
    }
}
