//! CPU twin of the embedding gather (shaders/embedding/embedding.wgsl).

use rayon::prelude::*;

/// out[i] = table[ids[i]] ([H] rows); ids >= V give zero rows.
pub fn embedding(ids: &[u32], table: &[f32], hidden: usize) -> Vec<f32> {
    let vocab = table.len() / hidden.max(1);
    let mut out = vec![0f32; ids.len() * hidden];
    out.par_chunks_mut(hidden.max(1))
        .zip(ids.par_iter())
        .for_each(|(row, &id)| {
            if (id as usize) < vocab {
                let id = id as usize;
                row.copy_from_slice(&table[id * hidden..(id + 1) * hidden]);
            }
        });
    out
}
