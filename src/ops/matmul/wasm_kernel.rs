//! The matmul's GEMM on wasm32 (issue 24): gemm's SIMD128 kernels multiply
//! and add apart; this one uses `f32x4_relaxed_madd` (one fused
//! multiply-add where the CPU has FMA) when the wasm is built with
//! relaxed-simd, else `f32x4_mul` + `f32x4_add`. B is packed in panels of
//! KC x NR (so the inner loop reads it contiguously); each MR x NR block of
//! C is held in MR * NR / 4 vector accumulators.

use core::arch::wasm32::*;

/// Rows of C per micro-kernel call.
const MR: usize = 6;
/// Columns of C per micro-kernel call (two vectors).
const NR: usize = 8;
/// Depth of one packed panel of B (KC x NR floats: 8 KiB).
const KC: usize = 256;

#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

/// A matrix at `ptr` with (row, column) strides.
#[derive(Clone, Copy)]
pub struct Strided {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// C (row-major, row stride `n`) = (C if `accumulate`, else 0) + A · B for
/// A [m, k] and B [k, n].
///
/// # Safety
/// Every A[i, l] and B[l, j] for i < m, l < k, j < n must be readable and
/// `c` must be valid for m * n writes (and reads when `accumulate`).
pub unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    accumulate: bool,
    a: Strided,
    b: Strided,
) {
    if k == 0 {
        if !accumulate {
            std::ptr::write_bytes(c, 0, m * n);
        }
        return;
    }
    let mut panel = vec![0f32; KC * NR];
    for j0 in (0..n).step_by(NR) {
        let nr = NR.min(n - j0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            // Pack B[k0.., j0..] as kc rows of NR (zeros past column n).
            for l in 0..kc {
                let row = &mut panel[l * NR..(l + 1) * NR];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = if j < nr {
                        *b.ptr.add((k0 + l) * b.rs + (j0 + j) * b.cs)
                    } else {
                        0.0
                    };
                }
            }
            let add = accumulate || k0 > 0;
            let mut i0 = 0;
            while i0 + MR <= m {
                block::<MR>(i0, j0, nr, n, k0, kc, &panel, c, add, a);
                i0 += MR;
            }
            for i in i0..m {
                block::<1>(i, j0, nr, n, k0, kc, &panel, c, add, a);
            }
        }
    }
}

/// C[i0..i0+R, j0..j0+nr] (+)= A[i0.., k0..k0+kc] · panel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block<const R: usize>(
    i0: usize,
    j0: usize,
    nr: usize,
    n: usize,
    k0: usize,
    kc: usize,
    panel: &[f32],
    c: *mut f32,
    add: bool,
    a: Strided,
) {
    let mut acc = [[f32x4_splat(0.0); 2]; R];
    let p = panel.as_ptr();
    let arow: [*const f32; R] = std::array::from_fn(|r| a.ptr.add((i0 + r) * a.rs + k0 * a.cs));
    for l in 0..kc {
        let b0 = v128_load(p.add(l * NR) as *const v128);
        let b1 = v128_load(p.add(l * NR + 4) as *const v128);
        for (acc, row) in acc.iter_mut().zip(&arow) {
            let x = f32x4_splat(*row.add(l * a.cs));
            acc[0] = madd(x, b0, acc[0]);
            acc[1] = madd(x, b1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let dst = c.add((i0 + r) * n + j0);
        if nr == NR {
            let (d0, d1) = (dst as *mut v128, dst.add(4) as *mut v128);
            if add {
                v128_store(d0, f32x4_add(v128_load(d0), acc[0]));
                v128_store(d1, f32x4_add(v128_load(d1), acc[1]));
            } else {
                v128_store(d0, acc[0]);
                v128_store(d1, acc[1]);
            }
        } else {
            let mut tmp = [0f32; NR];
            v128_store(tmp.as_mut_ptr() as *mut v128, acc[0]);
            v128_store(tmp.as_mut_ptr().add(4) as *mut v128, acc[1]);
            for (j, &v) in tmp[..nr].iter().enumerate() {
                *dst.add(j) = if add { *dst.add(j) + v } else { v };
            }
        }
    }
}
