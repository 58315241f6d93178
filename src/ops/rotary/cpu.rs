//! Rotary position embedding on packed QKV; see `ops::rotary`.

use rayon::prelude::*;

/// x [rows, 3H] (rows = B * T, position = row % seq); `table` from
/// `ops::rotary::rotary_table(seq, d)`.
pub fn rotary(x: &[f32], table: &[f32], seq: usize, hidden: usize, d: usize) -> Vec<f32> {
    let half = d / 2;
    let mut y = x.to_vec();
    y.par_chunks_mut(3 * hidden)
        .zip(x.par_chunks(3 * hidden))
        .enumerate()
        .for_each(|(row, (y, x))| {
            let tab = &table[(row % seq) * half * 2..][..half * 2];
            for head in 0..2 * hidden / d {
                let (u, out) = (&x[head * d..][..d], &mut y[head * d..][..d]);
                for j in 0..half {
                    let (c, s) = (tab[2 * j], tab[2 * j + 1]);
                    out[j] = u[j] * c - u[j + half] * s;
                    out[j + half] = u[j + half] * c + u[j] * s;
                }
            }
        });
    y
}
