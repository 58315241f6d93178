//! Batched strided GEMM through the `gemm` crate (AVX-512 kernels where the
//! CPU has them, chosen at run time), with the bias / GELU epilogue.

use rayon::prelude::*;

use crate::error::{shape_err, Result};
use crate::params::MatmulDims;

/// C[z] = A[z] · B[z] (+ bias) (GELU), C contiguous [batch, M, N].
pub fn matmul(
    d: &MatmulDims,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    gelu: bool,
) -> Result<Vec<f32>> {
    // The gemm call reads through raw pointers: prove every index in bounds.
    let last = |batch_stride: usize, rs: usize, cs: usize, rows: usize, cols: usize| {
        (d.batch - 1) * batch_stride + (rows - 1) * rs + (cols - 1) * cs
    };
    let mut c = vec![0f32; d.batch * d.m * d.n];
    if c.is_empty() {
        return Ok(c);
    }
    if d.k > 0 {
        if last(d.a_batch, d.a_rs, d.a_cs, d.m, d.k) >= a.len()
            || last(d.b_batch, d.b_rs, d.b_cs, d.k, d.n) >= b.len()
        {
            return Err(shape_err(
                "matmul",
                format!(
                    "strides {d:?} reach past the data (a: {}, b: {})",
                    a.len(),
                    b.len()
                ),
            ));
        }
        let flops = d.m * d.n * d.k;
        let par = if cfg!(target_arch = "wasm32") || flops < 1 << 18 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(rayon::current_num_threads())
        };
        for z in 0..d.batch {
            let cz = &mut c[z * d.m * d.n..(z + 1) * d.m * d.n];
            // SAFETY: bounds proven above; dst is a distinct, exclusively borrowed slice.
            unsafe {
                gemm::gemm(
                    d.m,
                    d.n,
                    d.k,
                    cz.as_mut_ptr(),
                    1,
                    d.n as isize,
                    false,
                    a.as_ptr().add(z * d.a_batch),
                    d.a_cs as isize,
                    d.a_rs as isize,
                    b.as_ptr().add(z * d.b_batch),
                    d.b_cs as isize,
                    d.b_rs as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
    }
    if bias.is_some() || gelu {
        c.par_chunks_mut(d.n).for_each(|row| {
            crate::simd::dispatch(|| match (bias, gelu) {
                (Some(bias), true) => row
                    .iter_mut()
                    .zip(bias)
                    .for_each(|(v, b)| *v = crate::simd::gelu(*v + b)),
                (Some(bias), false) => row.iter_mut().zip(bias).for_each(|(v, b)| *v += b),
                (None, _) => row.iter_mut().for_each(|v| *v = crate::simd::gelu(*v)),
            })
        });
    }
    Ok(c)
}
