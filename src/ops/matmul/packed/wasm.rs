//! The SIMD128 micro-kernel: 4 rows × 8 columns, eight v128 accumulators
//! (V8 maps v128 onto the 16 xmm registers of x86-64 and keeps one as
//! scratch: a 6 × 8 tile's twelve sums, two loads of B and a splat spilled).
//! With the `relaxed-simd` feature the multiply-add is one fused
//! `f32x4.relaxed_madd`, and only this function has the target feature, so
//! no other op's min/max or conversions take relaxed semantics.

use core::arch::wasm32::*;

/// Columns per panel: two v128 of f32.
pub(super) const NR: usize = 8;
/// Rows of A per call.
pub(super) const MR: usize = 4;

/// `acc + a·b` per lane: fused with relaxed SIMD, else a mul and an add.
macro_rules! madd {
    ($a:expr, $b:expr, $acc:expr) => {{
        #[cfg(feature = "relaxed-simd")]
        let sum = f32x4_relaxed_madd($a, $b, $acc);
        #[cfg(not(feature = "relaxed-simd"))]
        let sum = f32x4_add(f32x4_mul($a, $b), $acc);
        sum
    }};
}

/// C[R, cols] (+)= A[R, kc] · panel[kc, NR]: A's rows `lda` apart, the
/// panel `NR` floats per k, C's rows `ldc` apart.
///
/// # Safety
/// The pointers valid for the rows, columns and `kc` given.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
pub(super) unsafe fn kernel<const R: usize>(
    kc: usize,
    a: *const f32,
    lda: usize,
    panel: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    overwrite: bool,
) {
    let mut lo = [f32x4_splat(0.0); R];
    let mut hi = [f32x4_splat(0.0); R];
    for k in 0..kc {
        let b0 = v128_load(panel.add(k * NR) as *const v128);
        let b1 = v128_load(panel.add(k * NR + 4) as *const v128);
        for r in 0..R {
            let av = f32x4_splat(*a.add(r * lda + k));
            lo[r] = madd!(av, b0, lo[r]);
            hi[r] = madd!(av, b1, hi[r]);
        }
    }
    if cols == NR {
        for r in 0..R {
            let cr = c.add(r * ldc);
            let (l, h) = if overwrite {
                (lo[r], hi[r])
            } else {
                (
                    f32x4_add(v128_load(cr as *const v128), lo[r]),
                    f32x4_add(v128_load(cr.add(4) as *const v128), hi[r]),
                )
            };
            v128_store(cr as *mut v128, l);
            v128_store(cr.add(4) as *mut v128, h);
        }
    } else {
        let mut sums = [[0f32; NR]; R];
        for r in 0..R {
            v128_store(sums[r].as_mut_ptr() as *mut v128, lo[r]);
            v128_store(sums[r].as_mut_ptr().add(4) as *mut v128, hi[r]);
        }
        super::store_partial(&sums, c, ldc, cols, overwrite);
    }
}
