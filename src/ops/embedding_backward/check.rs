//! The checks of `ops::embedding_backward` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::embedding::check::ref_embedding;
use crate::ops::{self, RowIndex};
use crate::testing::finite_differences::{
    central_differences, check_close_f64, dot, dyadic_vec, FD_ABS, FD_TOL,
};
use crate::testing::{check_close, e, expect_err, read, Check, Rng, Tol};
use crate::Device;

/// Embedding backward in f64: dtable [rows, H] with dtable[ids[p]] += dy[p].
pub fn ref_embedding_backward(ids: &[u32], dy: &[f32], rows: usize, hidden: usize) -> Vec<f64> {
    let mut d = vec![0f64; rows * hidden];
    for (p, &id) in ids.iter().enumerate() {
        for j in 0..hidden {
            d[id as usize * hidden + j] += dy[p * hidden + j] as f64;
        }
    }
    d
}

/// The embedding backward reference against central differences of
/// `L = sum(dy * ref_embedding(ids, table))` in the table.
pub fn fd_check_embedding_backward(ids: &[u32], rows: usize, hidden: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let table = dyadic_vec(&mut rng, rows * hidden, 1);
    let dy = rng.vec(ids.len() * hidden, 1.0);
    let want = ref_embedding_backward(ids, &dy, rows, hidden);
    let fd = central_differences(&table, |t| dot(&dy, &ref_embedding(ids, t, hidden)))?;
    check_close_f64(
        &format!("embedding_backward f64 reference, ids {ids:?} rows {rows} H {hidden}: vs central differences"),
        &want,
        &fd,
        FD_TOL,
        FD_ABS,
    )
}

/// Embedding backward of `ids` into a table of `rows` rows on `dev` vs f64.
pub async fn check_embedding_backward(
    dev: &Device,
    ids: &[u32],
    rows: usize,
    hidden: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let dy = rng.vec(ids.len() * hidden, 1.0);
    let index = RowIndex::new(dev, ids, rows).map_err(e)?;
    let tdy = dev.tensor_f32(&[ids.len(), hidden], &dy).map_err(e)?;
    let got = ops::embedding_backward(dev, &index, &tdy).map_err(e)?;
    if got.shape() != [rows, hidden] {
        return Err(format!(
            "embedding_backward gave shape {:?}, want [{rows}, {hidden}]",
            got.shape()
        ));
    }
    check_close(
        &format!(
            "embedding_backward n {} rows {rows} H {hidden} on {}",
            ids.len(),
            dev.name()
        ),
        &read(dev, &got).await?,
        &ref_embedding_backward(ids, &dy, rows, hidden),
        Tol::F32,
    )
}

/// Bad input to the embedding backward is an error naming the problem: an id
/// out of range (with its position), an id at more than 65,535 positions, dy
/// with the wrong number of positions.
pub async fn check_embedding_backward_errors(dev: &Device) -> Check {
    expect_err(
        "RowIndex with id 9 >= 5 rows",
        RowIndex::new(dev, &[0, 3, 9, 1], 5),
        &["RowIndex", "id 9", "position 2", "5 rows"],
    )?;
    expect_err(
        "RowIndex with 65,536 copies of one id",
        RowIndex::new(dev, &vec![1; 65_536], 3),
        &["RowIndex", "id 1", "65536", "65535"],
    )?;
    let index = RowIndex::new(dev, &[0, 1, 1], 2).map_err(e)?;
    let dy = dev.tensor_f32(&[2, 4], &[0.0; 8]).map_err(e)?;
    expect_err(
        "embedding_backward with 2 rows of dy for 3 positions",
        ops::embedding_backward(dev, &index, &dy),
        &["embedding_backward", "[2, 4]", "3 positions"],
    )
}
