//! The CPU backend: every op in Rust, multi-threaded with rayon and using
//! the `gemm` crate's SIMD kernels. It is both the fallback on machines
//! without a usable GPU and the oracle the GPU kernels are tested against.
//! Functions here take plain slices; shape checks live in `ops`.

pub mod activation_backward;
pub mod adamw;
pub mod attention;
pub mod attention_backward;
pub mod cross_entropy;
pub mod dropout;
pub mod elementwise;
pub mod embedding_backward;
pub mod matmul;
pub mod norm;
pub mod norm_backward;
pub mod reduce;
pub mod rotary;

/// Rows per rayon task for row-wise kernels: enough work to amortise the split.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (16384 / row_len.max(1)).max(1)
}
