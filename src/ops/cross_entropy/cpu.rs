//! Softmax + cross-entropy on slices, one row at a time: the per-row loss
//! `lse - logit[label]` and the scaled gradient `(softmax - onehot) * scale`,
//! as shaders/cross_entropy/cross_entropy.wgsl computes them.

use rayon::prelude::*;

use crate::parallel::rows_per_task;

/// Output of [`cross_entropy`]: loss [N], dlogits [N, V].
pub struct CrossEntropyOut {
    pub loss: Vec<f32>,
    pub dlogits: Vec<f32>,
}

/// logits [N, V], labels [N]. A label >= V gives a NaN loss and no one-hot
/// term (the op rejects such labels before calling this).
pub fn cross_entropy(logits: &[f32], labels: &[u32], vocab: usize, scale: f32) -> CrossEntropyOut {
    let rows = labels.len();
    let mut loss = vec![0f32; rows];
    let mut dlogits = vec![0f32; rows * vocab];
    if vocab == 0 {
        return CrossEntropyOut { loss, dlogits };
    }
    let per = rows_per_task(vocab);
    dlogits
        .par_chunks_mut(vocab * per)
        .zip(loss.par_chunks_mut(per))
        .enumerate()
        .for_each(|(c, (ds, ls))| {
            for (k, (dr, l)) in ds.chunks_mut(vocab).zip(ls.iter_mut()).enumerate() {
                let r = c * per + k;
                let xr = &logits[r * vocab..(r + 1) * vocab];
                let m = xr.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let s: f32 = xr.iter().map(|&v| (v - m).exp()).sum();
                let inv = 1.0 / s;
                let label = labels[r] as usize;
                for (j, (d, &v)) in dr.iter_mut().zip(xr).enumerate() {
                    let p = (v - m).exp() * inv;
                    *d = if j == label { p - 1.0 } else { p } * scale;
                }
                *l = match xr.get(label) {
                    Some(&xl) => (m - xl) + s.ln(),
                    None => f32::NAN,
                };
            }
        });
    CrossEntropyOut { loss, dlogits }
}
