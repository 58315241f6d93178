//! CPU twin of the row softmax (shaders/softmax/softmax.wgsl).

use rayon::prelude::*;

use crate::parallel::rows_per_task;

/// Softmax over each row of `cols`.
pub fn softmax(x: &[f32], cols: usize) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    let per = rows_per_task(cols);
    y.par_chunks_mut(cols * per)
        .zip(x.par_chunks(cols * per))
        .for_each(|(ys, xs)| {
            for (yr, xr) in ys.chunks_mut(cols).zip(xs.chunks(cols)) {
                let m = xr.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let mut s = 0.0;
                for (y, &x) in yr.iter_mut().zip(xr) {
                    *y = (x - m).exp();
                    s += *y;
                }
                let inv = 1.0 / s;
                yr.iter_mut().for_each(|y| *y *= inv);
            }
        });
    y
}
