//! Batched strided GEMM through the `gemm` crate (AVX-512 kernels where the
//! CPU has them, chosen at run time), or through `packed` for a linear
//! layer's weight packed at load, with the bias / GELU epilogue.

use rayon::prelude::*;

use super::packed::{self, PackedB};
use crate::error::{shape_err, Result};
use crate::params::MatmulDims;

/// Whether `d` multiplies by `p` as packed: B is that [N, K] weight, shared
/// by the batch and transposed (a linear layer), and A's rows are
/// contiguous.
pub fn packed_fits(d: &MatmulDims, p: &PackedB) -> bool {
    p.dims() == (d.n, d.k) && d.b_batch == 0 && d.b_rs == 1 && d.b_cs == d.k && d.a_cs == 1
}

/// C[z] = A[z] · B[z] (+ bias) (GELU), C contiguous [batch, M, N]; with
/// `packed` (which [`packed_fits`] `d`) B's values come from its panels and
/// `b` is not read.
///
/// C starts as the bias rows and gemm or the packed kernel adds the product
/// into it (one pass over C saved); without a bias both write every element
/// of C before reading it, so C is not zeroed first. GELU is then applied
/// in place.
#[multiversion::multiversion(targets = "simd")]
pub fn matmul(
    d: &MatmulDims,
    a: &[f32],
    b: &[f32],
    packed: Option<&PackedB>,
    bias: Option<&[f32]>,
    gelu: bool,
) -> Result<Vec<f32>> {
    // The gemm call reads through raw pointers: prove every index in bounds.
    let last = |batch_stride: usize, rs: usize, cs: usize, rows: usize, cols: usize| {
        (d.batch - 1) * batch_stride + (rows - 1) * rs + (cols - 1) * cs
    };
    let total = d.batch * d.m * d.n;
    if total == 0 {
        return Ok(Vec::new());
    }
    if packed.is_some_and(|p| !packed_fits(d, p)) {
        return Err(shape_err(
            "matmul",
            format!(
                "a packed weight of {:?} (N, K) for {d:?}",
                packed.map(PackedB::dims)
            ),
        ));
    }
    if d.k > 0
        && (last(d.a_batch, d.a_rs, d.a_cs, d.m, d.k) >= a.len()
            || (packed.is_none() && last(d.b_batch, d.b_rs, d.b_cs, d.k, d.n) >= b.len()))
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
    // `ops::matmul` checks the bias's shape for users; this one keeps the
    // fill below sound (a short bias would leave C partly unwritten).
    if bias.is_some_and(|bias| bias.len() != d.n) {
        return Err(shape_err(
            "matmul",
            format!("bias of {} for N {}", bias.map_or(0, <[f32]>::len), d.n),
        ));
    }
    let mut c: Vec<f32> = Vec::with_capacity(total);
    match (bias, d.k) {
        (Some(bias), _) => c.spare_capacity_mut().par_chunks_mut(d.n).for_each(|row| {
            row.iter_mut().zip(bias).for_each(|(v, &b)| {
                v.write(b);
            })
        }),
        (None, 0) => c.spare_capacity_mut().par_iter_mut().for_each(|v| {
            v.write(0.0);
        }),
        (None, _) => {}
    }
    if let (Some(p), true) = (packed, d.k > 0) {
        let dst = c.spare_capacity_mut().as_mut_ptr() as *mut f32;
        // Batches whose rows follow each other in A are one product of
        // batch · M rows (the weight is shared).
        let (calls, rows) = if d.a_batch == d.m * d.a_rs {
            (1, d.batch * d.m)
        } else {
            (d.batch, d.m)
        };
        for z in 0..calls {
            // SAFETY: packed_fits (A's rows contiguous, B the panels' [N, K])
            // and the bounds check above put the rows of batch z (or, folded,
            // rows 0..batch · M, which then follow each other) inside A; C is
            // `total` floats, these rows' · N of them; with a bias C holds it
            // (accumulate), else every element is written first.
            unsafe {
                packed::matmul(
                    rows,
                    a.as_ptr().add(z * d.a_batch),
                    d.a_rs,
                    p,
                    dst.add(z * d.m * d.n),
                    bias.is_some(),
                );
            }
        }
    } else if d.k > 0 {
        let small = d.m * d.n * d.k < 1 << 18;
        let threads = rayon::current_num_threads();
        // gemm's own threads share packed panels of B behind barriers, which
        // cost more than they gain on Web Workers (measured: 2 threads slower
        // than 1): the threaded browser build splits the rows over rayon
        // tasks instead, each a single-threaded gemm packing its own panels.
        // A browser build without atomics has no threads at all.
        let split_rows =
            cfg!(all(target_arch = "wasm32", target_feature = "atomics")) && threads > 1 && !small;
        let par = if cfg!(target_arch = "wasm32") || small {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        let rows_per_task = if split_rows {
            d.m.div_ceil(4 * threads).max(32)
        } else {
            d.m
        };
        let tasks: Vec<(usize, usize)> = (0..d.batch)
            .flat_map(|z| (0..d.m).step_by(rows_per_task).map(move |r| (z, r)))
            .collect();
        // C's address, shared by the tasks (each writes its own rows).
        let dst = c.spare_capacity_mut().as_mut_ptr() as usize;
        let product = |&(z, r0): &(usize, usize)| {
            let rows = rows_per_task.min(d.m - r0);
            // SAFETY: bounds proven above (rows r0..r0+rows of batch z are
            // inside A's and C's); C is its own allocation of `total`
            // floats and each task's rows of it are distinct. With a bias,
            // C holds it (read and added to); without, gemm writes every
            // element without reading (read_dst false).
            unsafe {
                gemm::gemm(
                    rows,
                    d.n,
                    d.k,
                    (dst as *mut f32).add(z * d.m * d.n + r0 * d.n),
                    1,
                    d.n as isize,
                    bias.is_some(),
                    a.as_ptr().add(z * d.a_batch + r0 * d.a_rs),
                    d.a_cs as isize,
                    d.a_rs as isize,
                    b.as_ptr().add(z * d.b_batch),
                    d.b_cs as isize,
                    d.b_rs as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
        };
        if split_rows {
            tasks.par_iter().for_each(product);
        } else {
            tasks.iter().for_each(product);
        }
    }
    // SAFETY: every element was written above: the bias rows or zeros, or
    // gemm's or the packed kernel's output of every (z, row, column) when
    // K > 0.
    unsafe { c.set_len(total) };
    if gelu {
        c.par_chunks_mut(d.n)
            .for_each(|row| row.iter_mut().for_each(|v| *v = crate::simd::gelu(*v)));
    }
    Ok(c)
}
