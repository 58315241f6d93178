//! CPU twin of the column blocks (shaders/columns/columns.wgsl).

/// `x[.., start .. start + block]` of rows `width` wide.
pub fn take_columns(x: &[f32], width: usize, start: usize, block: usize) -> Vec<f32> {
    x.chunks(width.max(1))
        .flat_map(|row| row[start..start + block].iter().copied())
        .collect()
}

/// `x` (rows `width` wide) with `v` (rows `block` wide) added at columns `start ..`.
pub fn add_columns(x: &[f32], v: &[f32], width: usize, start: usize, block: usize) -> Vec<f32> {
    let mut out = x.to_vec();
    for (r, row) in v.chunks(block.max(1)).enumerate() {
        for (c, &a) in row.iter().enumerate() {
            out[r * width + start + c] += a;
        }
    }
    out
}
