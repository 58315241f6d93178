//! The op layer: one folder per operation, the op's single home.
//!
//! - `<op>/mod.rs`: the contract (shapes, layout, dtype), the checks on the
//!   tensors entering it, and the launch code of both backends;
//! - `<op>/cpu.rs`: the CPU twin on plain slices and the structs of
//!   [`crate::params`] (it knows nothing of tensors or devices), which is both
//!   the fallback backend and the oracle the kernels are tested against;
//! - `<op>/check.rs` (feature `test-utils`): the op's checks, GPU against
//!   the CPU twin and the CPU twin against an f64 reference, that the
//!   browser tests (web/tests/) drive too;
//! - `<op>/tests.rs`: the native tests that drive the checks;
//! - its WGSL under the same name in `shaders/<op>/`.
//!
//! Model code is written against these functions only.

pub mod activation_backward;
pub mod adamw;
pub mod attention;
pub mod attention_backward;
pub mod cast;
pub mod clip;
pub mod columns;
pub mod cross_entropy;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod embedding_backward;
pub mod layer_norm;
pub mod layer_norm_backward;
pub mod matmul;
pub mod pool;
pub mod reduce;
pub mod rotary;
pub mod softmax;

pub use activation_backward::{geglu_backward, gelu_backward, swiglu_backward, tanh_backward};
pub use adamw::{adamw, AdamWState, AdamWStep};
pub use attention::{
    alibi_slopes, attention, attention_half, attention_probs, attention_with, AttentionKernel,
    AttentionOut,
};
pub use attention_backward::{
    attention_backward, attention_backward_half, attention_backward_with,
};
pub use cast::{to_dtype, to_f16, to_f32};
pub use clip::clip_scale;
pub use columns::{add_columns, take_columns};
pub use cross_entropy::{cross_entropy, CrossEntropyOut};
pub use dropout::{dropout, dropout_from};
pub use elementwise::{add, geglu, gelu, scale, swiglu, tanh, Glu};
pub use embedding::embedding;
pub use embedding_backward::{embedding_backward, RowIndex};
pub use layer_norm::{layer_norm, LayerNormOut};
pub use layer_norm_backward::{layer_norm_backward, layer_norm_backward_input, LayerNormGrads};
pub use matmul::{linear, matmul, matmul_half, matmul_with, Epilogue, Matmul, MatmulKernel};
pub use pool::{pool, PoolMode};
pub use reduce::{sum_rows, sum_squares};
pub use rotary::{rotary, rotary_backward};
pub use softmax::softmax;

use crate::error::{shape_err, Error, Result};
use crate::gpu::GpuDevice;
use crate::{DType, Device, Tensor};

/// The storage of an op's activations, which every activation input shares
/// and its activation outputs take: f32, or f16 (half-precision
/// activations, `Device::half_activations`: the kernels' f16 variants,
/// `Kernel::half`; the CPU twins round their f32 results once). An error
/// names the input that differs.
pub(crate) fn activation_dtype(
    dev: &Device,
    op: &'static str,
    acts: &[(&'static str, &Tensor)],
) -> Result<DType> {
    let dtype = match acts.first() {
        Some((_, t)) if t.dtype() == DType::F16 => DType::F16,
        _ => DType::F32,
    };
    for (name, t) in acts {
        t.check_dtype(op, name, dtype)?;
    }
    if let Device::Gpu(g) = dev {
        if dtype == DType::F16 && !g.shader_f16() {
            return Err(Error::Gpu(format!(
                "{op}: f16 activations need shader-f16, which {} lacks",
                g.summary().name
            )));
        }
    }
    Ok(dtype)
}

/// Groups for one invocation per item, 256 per group, folded into 2-D.
pub(crate) fn grid_items(g: &GpuDevice, n: usize) -> [u32; 3] {
    crate::gpu::record::grid_1d(
        n as u64,
        256,
        g.limits().max_compute_workgroups_per_dimension,
    )
}

/// Groups for one workgroup per row, folded into 2-D.
pub(crate) fn grid_rows(g: &GpuDevice, rows: usize) -> [u32; 3] {
    crate::gpu::record::grid_1d(
        rows as u64,
        1,
        g.limits().max_compute_workgroups_per_dimension,
    )
}

/// A count as the u32 the kernels index with, or an error naming it.
pub(crate) fn u32_of(op: &'static str, what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        shape_err(
            op,
            format!("{what} = {n} does not fit the kernels' 32-bit indices"),
        )
    })
}
