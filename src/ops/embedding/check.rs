//! The checks of `ops::embedding` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

/// Embedding gather (including out-of-range ids, which give zero rows) on `dev`.
pub async fn check_embedding(
    dev: &Device,
    n: usize,
    vocab: usize,
    hidden: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let table = rng.vec(vocab * hidden, 1.0);
    let ids: Vec<u32> = (0..n)
        .map(|i| {
            if i % 7 == 6 {
                vocab as u32 + 3
            } else {
                rng.below(vocab as u32)
            }
        })
        .collect();
    let out = ops::embedding(
        dev,
        &dev.tensor_u32(&[n], &ids).map_err(e)?,
        &dev.tensor_f32(&[vocab, hidden], &table).map_err(e)?,
    )
    .map_err(e)?;
    let got = read(dev, &out).await?;
    let want: Vec<f64> = ids
        .iter()
        .flat_map(|&id| {
            (0..hidden).map(move |j| {
                if (id as usize) < vocab {
                    id as usize * hidden + j
                } else {
                    usize::MAX
                }
            })
        })
        .map(|i| {
            if i == usize::MAX {
                0.0
            } else {
                table[i] as f64
            }
        })
        .collect();
    check_close(
        &format!("embedding n {n} V {vocab} H {hidden} on {}", dev.name()),
        &got,
        &want,
        Tol {
            rtol: 0.0,
            atol_rel: 0.0,
        },
    )
}

/// Embedding gather in f64 (every id < rows): [n, H].
pub fn ref_embedding(ids: &[u32], table: &[f32], hidden: usize) -> Vec<f64> {
    ids.iter()
        .flat_map(|&id| table[id as usize * hidden..(id as usize + 1) * hidden].iter())
        .map(|&v| v as f64)
        .collect()
}
