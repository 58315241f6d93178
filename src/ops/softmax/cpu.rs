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
            crate::simd::dispatch(|| {
                for (yr, xr) in ys.chunks_mut(cols).zip(xs.chunks(cols)) {
                    yr.copy_from_slice(xr);
                    crate::simd::softmax_in_place(yr);
                }
            })
        });
    y
}
