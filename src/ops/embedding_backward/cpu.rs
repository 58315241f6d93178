//! Embedding backward on slices: each table row sums the gradient rows of the
//! positions that read it, from a CSR index (offsets, positions), in index
//! order — the order of shaders/embedding_backward/embedding_backward.wgsl. No scatter, so no
//! write conflicts and a deterministic result.

use rayon::prelude::*;

/// dtable [rows, H] with dtable[r] = sum of dy[positions[p]] for p in
/// offsets[r] .. offsets[r + 1]; `offsets` has rows + 1 entries.
pub fn embedding_backward(
    offsets: &[u32],
    positions: &[u32],
    dy: &[f32],
    hidden: usize,
) -> Vec<f32> {
    let rows = offsets.len().saturating_sub(1);
    let mut out = vec![0f32; rows * hidden];
    if hidden == 0 {
        return out;
    }
    out.par_chunks_mut(hidden).enumerate().for_each(|(r, acc)| {
        for &p in &positions[offsets[r] as usize..offsets[r + 1] as usize] {
            let src = &dy[p as usize * hidden..(p as usize + 1) * hidden];
            acc.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
        }
    });
    out
}
