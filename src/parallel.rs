//! How the CPU twins (`ops/<op>/cpu.rs`) split their work over rayon.

/// Rows per rayon task for row-wise kernels: enough work to amortise the split.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (16384 / row_len.max(1)).max(1)
}
