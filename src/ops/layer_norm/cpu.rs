//! CPU twin of LayerNorm with the fused residual (shaders/layer_norm/layer_norm.wgsl).

use rayon::prelude::*;

use crate::parallel::rows_per_task;

/// Output of [`layer_norm`]: y [R, H], mean and rstd [R].
pub struct LayerNormOut {
    pub y: Vec<f32>,
    pub mean: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// y = LN(x + residual) * w + b over rows of `hidden`.
pub fn layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    hidden: usize,
    eps: f32,
) -> LayerNormOut {
    let rows = x.len() / hidden.max(1);
    let mut y = vec![0f32; x.len()];
    let mut mean = vec![0f32; rows];
    let mut rstd = vec![0f32; rows];
    let per = rows_per_task(hidden);
    y.par_chunks_mut(hidden * per)
        .zip(mean.par_chunks_mut(per).zip(rstd.par_chunks_mut(per)))
        .enumerate()
        .for_each(|(c, (ys, (ms, rs)))| {
            crate::simd::dispatch(|| {
                let mut z = vec![0f32; hidden];
                for (k, (yr, (m, r))) in ys
                    .chunks_mut(hidden)
                    .zip(ms.iter_mut().zip(rs.iter_mut()))
                    .enumerate()
                {
                    let off = (c * per + k) * hidden;
                    z.copy_from_slice(&x[off..off + hidden]);
                    if let Some(res) = residual {
                        z.iter_mut()
                            .zip(&res[off..off + hidden])
                            .for_each(|(z, r)| *z += r);
                    }
                    let mu = crate::simd::sum(&z) / hidden as f32;
                    let var = crate::simd::sum_squared_deviations(&z, mu) / hidden as f32;
                    let rs = 1.0 / (var + eps).sqrt();
                    for j in 0..hidden {
                        yr[j] = (z[j] - mu) * rs * w[j] + b[j];
                    }
                    *m = mu;
                    *r = rs;
                }
            })
        });
    LayerNormOut { y, mean, rstd }
}
