//! Backward of `ops::embedding(ids, table [rows, H])`: dtable[r] = sum of
//! dy[p] over the positions p with ids[p] == r, zero rows for ids no position
//! uses. No atomics: [`RowIndex`] groups the positions by row (CSR) on the
//! host, where the ids come from (the tokenizer), and one GPU invocation per
//! (row, h) sums its positions in index order, so the result is
//! deterministic. Kernel: shaders/embedding_backward/embedding_backward.wgsl.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::{grid_items, u32_of};
use crate::error::{shape_err, Result};
use crate::gpu::Kernel;
use crate::{DType, Device, Tensor};

/// Most positions one row may have in one [`RowIndex`]: one invocation sums
/// them all, and lavapipe stops loops silently past 65,535 iterations.
pub const MAX_POSITIONS_PER_ROW: usize = 65_535;

/// Which rows of a table each position reads, grouped by row (CSR), built on the host from the
/// ids (the host has them: they come from the tokenizer), so the backward needs no atomics.
pub struct RowIndex {
    /// [rows + 1] u32: row r's positions are positions[offsets[r] .. offsets[r + 1]].
    offsets: Tensor,
    /// [n] u32, sorted by row, then by position.
    positions: Tensor,
    rows: usize,
    n: usize,
}

impl RowIndex {
    /// Groups the positions of `ids` (one id per position, each < `rows`) by id.
    /// Errors: an id >= rows (naming the position), more than
    /// [`MAX_POSITIONS_PER_ROW`] = 65,535 positions with the same id (split the
    /// batch), or sizes past the kernels' 32-bit indices.
    pub fn new(dev: &Device, ids: &[u32], rows: usize) -> Result<RowIndex> {
        const OP: &str = "RowIndex::new";
        u32_of(OP, "positions", ids.len())?;
        u32_of(OP, "rows + 1", rows + 1)?;
        let mut counts = vec![0u32; rows];
        for (p, &id) in ids.iter().enumerate() {
            let c = counts.get_mut(id as usize).ok_or_else(|| {
                shape_err(
                    OP,
                    format!("id {id} at position {p} is out of range for a table of {rows} rows"),
                )
            })?;
            *c += 1;
        }
        if let Some((id, &c)) = counts
            .iter()
            .enumerate()
            .find(|(_, &c)| c as usize > MAX_POSITIONS_PER_ROW)
        {
            return Err(shape_err(
                OP,
                format!(
                    "id {id} occurs at {c} positions, over the {MAX_POSITIONS_PER_ROW} one batch may hold (lavapipe's loop limit); split the batch"
                ),
            ));
        }
        let mut offsets = Vec::with_capacity(rows + 1);
        let mut acc = 0u32;
        offsets.push(0);
        for &c in &counts {
            acc += c;
            offsets.push(acc);
        }
        // Counting sort: positions in increasing order within each row.
        let mut next = offsets[..rows].to_vec();
        let mut positions = vec![0u32; ids.len()];
        for (p, &id) in ids.iter().enumerate() {
            let slot = &mut next[id as usize];
            positions[*slot as usize] = p as u32;
            *slot += 1;
        }
        Ok(RowIndex {
            offsets: dev.tensor_u32(&[rows + 1], &offsets)?,
            positions: dev.tensor_u32(&[ids.len()], &positions)?,
            rows,
            n: ids.len(),
        })
    }

    /// Rows of the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Positions (ids) indexed.
    pub fn positions(&self) -> usize {
        self.n
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    hidden: u32,
    _p: [u32; 2],
}

/// Backward of `ops::embedding(ids, table [rows, H])`: dtable[r] = sum of dy[p] over positions p with ids[p] == r
/// (zero rows for unused ids). dy [n, H] or [.., H] with n positions. Deterministic (fixed summation order).
pub fn embedding_backward(dev: &Device, index: &RowIndex, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "embedding_backward";
    dy.check_dtype(OP, "dy", DType::F32)?;
    dev.check_on(
        OP,
        &[
            ("dy", dy),
            ("index offsets", &index.offsets),
            ("index positions", &index.positions),
        ],
    )?;
    let hidden = dy.shape().last().copied().unwrap_or(0);
    if dy.rank() == 0 || hidden == 0 || dy.numel() / hidden != index.n {
        return Err(shape_err(
            OP,
            format!(
                "dy {:?} must be [.., H] with H > 0 and {} positions, one per id of the index",
                dy.shape(),
                index.n
            ),
        ));
    }
    let rows = index.rows;
    match dev {
        Device::Cpu => dev.output_f32(
            OP,
            &[rows, hidden],
            cpu::embedding_backward(
                index.offsets.cpu_u32(),
                index.positions.cpu_u32(),
                dy.cpu_f32(),
                hidden,
            ),
        ),
        Device::Gpu(g) => {
            u32_of(OP, "dy size", dy.numel())?;
            u32_of(OP, "table gradient size", rows * hidden)?;
            let out = dev.output_f32(OP, &[rows, hidden], Vec::new())?;
            let params = Params {
                rows: rows as u32,
                hidden: hidden as u32,
                _p: [0; 2],
            };
            let bufs = [
                dy.gpu_buffer(),
                index.offsets.gpu_buffer(),
                index.positions.gpu_buffer(),
                out.gpu_buffer(),
            ];
            g.dispatch(
                Kernel::EmbeddingBackward,
                &[],
                &bufs,
                &params,
                grid_items(g, rows * hidden),
            )?;
            Ok(out)
        }
    }
}
