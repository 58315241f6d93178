//! CPU twin of pooling (shaders/pool/pool.wgsl).

use rayon::prelude::*;

use crate::params::PoolMode;

/// x: [B, T, H], mask: [B, T] -> [B, H] over valid rows (zeros if none).
pub fn pool(
    x: &[f32],
    mask: &[u32],
    batch: usize,
    seq: usize,
    hidden: usize,
    mode: PoolMode,
) -> Vec<f32> {
    let mut y = vec![0f32; batch * hidden];
    y.par_chunks_mut(hidden.max(1))
        .enumerate()
        .for_each(|(b, out)| {
            let rows = (0..seq).filter(|&t| mask[b * seq + t] != 0);
            let mut count = 0usize;
            match mode {
                PoolMode::Mean => {
                    for t in rows {
                        count += 1;
                        let r = &x[(b * seq + t) * hidden..][..hidden];
                        out.iter_mut().zip(r).for_each(|(o, v)| *o += v);
                    }
                    if count > 0 {
                        let inv = 1.0 / count as f32;
                        out.iter_mut().for_each(|o| *o *= inv);
                    }
                }
                PoolMode::Max => {
                    out.fill(f32::NEG_INFINITY);
                    for t in rows {
                        count += 1;
                        let r = &x[(b * seq + t) * hidden..][..hidden];
                        out.iter_mut().zip(r).for_each(|(o, &v)| *o = o.max(v));
                    }
                    if count == 0 {
                        out.fill(0.0);
                    }
                }
            }
        });
    y
}
