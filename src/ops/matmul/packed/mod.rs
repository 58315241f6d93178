//! The CPU backend's GEMM for linear layers, on weights packed once at load
//! (ONNX Runtime's MLAS does the same with its prepacked B; the `gemm`
//! crate packs B again on every call, about a fifth of the product's time
//! at 70 tokens). Used where this CPU has a micro-kernel here: x86-64 with
//! AVX2+FMA but no AVX-512 (gemm's AVX-512 kernels are wider than ours),
//! and wasm32 with SIMD128 (fused multiply-add with relaxed SIMD). Elsewhere
//! [`PackedB::of_weight`] gives `None` and the matmul stays on gemm.
//!
//! Layout: B = Wᵀ [K, N] cut into slices of [`KC`] rows and panels of
//! [`NR`] columns; for the slice starting at k0 (kc rows), panel p holds
//! B[k0 + k][p·NR + j] at `k0·Np·NR + p·kc·NR + k·NR + j` (Np panels),
//! zeros past N: one slice's panels follow each other, so a task that
//! walks them reads memory in order. One micro-kernel call multiplies
//! [`MR`] rows of A by one panel of one slice (which stays in L1 while
//! every row block of the task passes over it) and adds into C. The tasks
//! are blocks of rows × groups of panels, each on its own part of C, over
//! rayon.

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
#[cfg(target_arch = "x86_64")]
mod x86;

use rayon::prelude::*;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use wasm::{kernel, MR, NR};
#[cfg(target_arch = "x86_64")]
use x86::{kernel, MR, NR};
/// Targets without a micro-kernel build no panels; any width would do.
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
const NR: usize = 16;

/// K per micro-kernel call: a panel's slice of 16 KiB (x86) fits L1.
const KC: usize = 256;
/// Rows per task, about, once A is tall (a block of A's rows × KC stays in L2).
const MC: usize = 96;
/// At most this many panels per task (the C block a task writes stays in L2).
const PANELS_PER_TASK: usize = 16;

/// A linear layer's weight W [N, K] packed as Bᵀ panels for [`matmul`].
#[derive(Debug)]
pub struct PackedB {
    n: usize,
    k: usize,
    panels: Vec<f32>,
}

impl PackedB {
    /// Packs W [N, K] (row-major, PyTorch's [out, in]); `None` where this
    /// CPU has no micro-kernel here.
    pub fn of_weight(w: &[f32], n: usize, k: usize) -> Option<Self> {
        if !available() || n == 0 || k == 0 || w.len() != n * k {
            return None;
        }
        let np = n.div_ceil(NR);
        let mut panels = vec![0f32; np * k * NR];
        panels
            .par_chunks_mut(KC * np * NR)
            .enumerate()
            .for_each(|(slice, out)| {
                let k0 = slice * KC;
                let kc = KC.min(k - k0);
                for (p, panel) in out.chunks_mut(kc * NR).enumerate() {
                    for j in 0..NR.min(n - p * NR) {
                        let row = &w[(p * NR + j) * k + k0..][..kc];
                        for (kk, &v) in row.iter().enumerate() {
                            panel[kk * NR + j] = v;
                        }
                    }
                }
            });
        Some(Self { n, k, panels })
    }

    /// (N, K): the product's columns and inner dimension.
    pub fn dims(&self) -> (usize, usize) {
        (self.n, self.k)
    }
}

/// Whether this CPU runs the packed kernels (detected at run time on x86;
/// `DNAGPU_CPU_PACKED=off` keeps every product on gemm, for comparisons).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let off = *OFF.get_or_init(|| std::env::var("DNAGPU_CPU_PACKED").is_ok_and(|v| v == "off"));
        !off && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && !is_x86_feature_detected!("avx512f")
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        true
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    {
        false
    }
}

/// C [M, N] = A [M, K] · B (+ C where `accumulate`: C holds the bias rows).
/// A's rows are `lda` apart (unit column stride); C is contiguous. Without
/// `accumulate` C may be uninitialised: every element is written before
/// it is read.
///
/// # Safety
/// `a` must be valid for reads of `(m - 1) · lda + K` floats, `c` for
/// writes (and, with `accumulate`, reads) of `m · N`; the caller checks
/// [`available`] (no `PackedB` exists otherwise).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
pub unsafe fn matmul(
    m: usize,
    a: *const f32,
    lda: usize,
    b: &PackedB,
    c: *mut f32,
    accumulate: bool,
) {
    let (n, k) = (b.n, b.k);
    if m == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    // One block of rows while A is short (each task then reads all of A,
    // which stays in L2), else blocks of about MC rows of equal size
    // (whole tiles, so no thread is left with a sliver).
    let row_tasks = if m <= 2 * MC { 1 } else { m.div_ceil(MC) };
    let rows_per_task = m.div_ceil(row_tasks).next_multiple_of(MR);
    let row_tasks = m.div_ceil(rows_per_task);
    // Groups of panels: at least four tasks per thread in all, at most
    // PANELS_PER_TASK panels each, their count rounded up to a multiple of
    // the threads' before it sets the group size (short A: shares close to
    // equal).
    let threads = rayon::current_num_threads();
    let groups = (4 * threads)
        .div_ceil(row_tasks)
        .max(panels.div_ceil(PANELS_PER_TASK))
        .next_multiple_of(threads)
        .min(panels);
    let panels_per_task = panels.div_ceil(groups);
    let tasks: Vec<(usize, usize)> = (0..m)
        .step_by(rows_per_task)
        .flat_map(|m0| (0..panels).step_by(panels_per_task).map(move |p0| (m0, p0)))
        .collect();
    // Raw addresses, shared by the tasks (each writes its own block of C).
    let (a, c) = (a as usize, c as usize);
    tasks.par_iter().for_each(|&(m0, p0)| {
        let (a, c) = (a as *const f32, c as *mut f32);
        let m1 = (m0 + rows_per_task).min(m);
        let p1 = (p0 + panels_per_task).min(panels);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let overwrite = k0 == 0 && !accumulate;
            for p in p0..p1 {
                let cols = NR.min(n - p * NR);
                // SAFETY: p < panels, k0 + kc <= K: inside the panels; rows
                // r..r+rows < m and columns p·NR..+cols <= N: inside A and C
                // (the caller's contract).
                let panel = b.panels.as_ptr().add(k0 * panels * NR + p * kc * NR);
                let mut r = m0;
                while r < m1 {
                    let rows = MR.min(m1 - r);
                    let ar = a.add(r * lda + k0);
                    let cr = c.add(r * n + p * NR);
                    match rows {
                        6 => kernel::<6>(kc, ar, lda, panel, cr, n, cols, overwrite),
                        5 => kernel::<5>(kc, ar, lda, panel, cr, n, cols, overwrite),
                        4 => kernel::<4>(kc, ar, lda, panel, cr, n, cols, overwrite),
                        3 => kernel::<3>(kc, ar, lda, panel, cr, n, cols, overwrite),
                        2 => kernel::<2>(kc, ar, lda, panel, cr, n, cols, overwrite),
                        _ => kernel::<1>(kc, ar, lda, panel, cr, n, cols, overwrite),
                    }
                    r += rows;
                }
            }
        }
    });
}

/// Without a micro-kernel no [`PackedB`] is ever built.
///
/// # Safety
/// Never called: [`PackedB::of_weight`] gives `None` on this target.
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
pub unsafe fn matmul(_: usize, _: *const f32, _: usize, _: &PackedB, _: *mut f32, _: bool) {
    unreachable!("no PackedB without a micro-kernel")
}

/// Writes one micro-tile's sums (R rows of `NR` lanes, `cols` of them
/// valid) into C, adding to what C holds unless `overwrite`.
///
/// # Safety
/// `c` valid for `R` rows of `cols` floats, `ldc` apart.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
#[inline(always)]
unsafe fn store_partial<const R: usize>(
    sums: &[[f32; NR]; R],
    c: *mut f32,
    ldc: usize,
    cols: usize,
    overwrite: bool,
) {
    for (r, row) in sums.iter().enumerate() {
        let cr = c.add(r * ldc);
        for (j, &v) in row.iter().take(cols).enumerate() {
            *cr.add(j) = if overwrite { v } else { *cr.add(j) + v };
        }
    }
}
