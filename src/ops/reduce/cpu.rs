//! Reductions that feed the backward pass: column sums (bias gradients) and
//! the sum of squares (gradient norm). Same chunking and summation order as
//! shaders/reduce/sum_rows.wgsl and shaders/reduce/sum_squares.wgsl, so both backends round
//! alike and every result is deterministic.

use rayon::prelude::*;

/// Rows one pass of [`sum_rows_pass`] adds into each partial row.
pub const SUM_ROWS_CHUNK: usize = 256;
/// Lanes (invocations) per block of [`sum_pass`].
pub const SUM_LANES: usize = 256;
/// Elements each lane adds before the tree: a block is 256 * 16 = 4096 values.
pub const SUM_PER_LANE: usize = 16;
/// Elements per block of [`sum_pass`].
pub const SUM_BLOCK: usize = SUM_LANES * SUM_PER_LANE;

/// One pass: x [rows, cols] -> [max(1, ceil(rows / 256)), cols], partial row
/// c the in-order sum of rows c*256 .. (c+1)*256.
pub fn sum_rows_pass(x: &[f32], cols: usize) -> Vec<f32> {
    let rows = x.len() / cols.max(1);
    let chunks = rows.div_ceil(SUM_ROWS_CHUNK).max(1);
    let mut out = vec![0f32; chunks * cols];
    if cols == 0 {
        return out;
    }
    out.par_chunks_mut(cols).enumerate().for_each(|(c, acc)| {
        let r0 = (c * SUM_ROWS_CHUNK).min(rows);
        let r1 = ((c + 1) * SUM_ROWS_CHUNK).min(rows);
        for row in x[r0 * cols..r1 * cols].chunks(cols) {
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
    });
    out
}

/// Column sums of x [rows, cols] -> [cols], by passes of 256 rows.
pub fn sum_rows(x: &[f32], cols: usize) -> Vec<f32> {
    let rows = x.len() / cols.max(1);
    if rows == 1 {
        return x.to_vec();
    }
    let mut cur = sum_rows_pass(x, cols);
    while cur.len() > cols {
        cur = sum_rows_pass(&cur, cols);
    }
    cur
}

/// One pass: sums of `f(x)` over blocks of 4096 -> [max(1, ceil(n / 4096))].
/// Lane l of a block adds elements l, l + 256, .. (16 of them), then the 256
/// lanes are added as a tree: the order of shaders/reduce/sum_squares.wgsl.
pub fn sum_pass(x: &[f32], square: bool) -> Vec<f32> {
    let blocks = x.len().div_ceil(SUM_BLOCK).max(1);
    let mut out = vec![0f32; blocks];
    out.par_iter_mut().enumerate().for_each(|(b, o)| {
        let block = &x[(b * SUM_BLOCK).min(x.len())..((b + 1) * SUM_BLOCK).min(x.len())];
        let mut lanes = [0f32; SUM_LANES];
        for k in 0..SUM_PER_LANE {
            for (l, lane) in lanes.iter_mut().enumerate() {
                if let Some(&v) = block.get(k * SUM_LANES + l) {
                    *lane += if square { v * v } else { v };
                }
            }
        }
        let mut s = SUM_LANES / 2;
        while s > 0 {
            for l in 0..s {
                lanes[l] += lanes[l + s];
            }
            s /= 2;
        }
        *o = lanes[0];
    });
    out
}

/// Sum of x² over all elements.
pub fn sum_squares(x: &[f32]) -> f32 {
    let mut cur = sum_pass(x, true);
    while cur.len() > 1 {
        cur = sum_pass(&cur, false);
    }
    cur[0]
}
