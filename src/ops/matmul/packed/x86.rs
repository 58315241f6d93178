//! The AVX2+FMA micro-kernel: 6 rows × 16 columns, twelve ymm
//! accumulators, two loads of B and one broadcast of A per six FMA pairs
//! (the 6×16 shape of BLIS's and MLAS's Haswell kernels).

use std::arch::x86_64::*;

/// Columns per panel: two ymm registers of f32.
pub(super) const NR: usize = 16;
/// Rows of A per call.
pub(super) const MR: usize = 6;

/// C[R, cols] (+)= A[R, kc] · panel[kc, NR]: A's rows `lda` apart, the
/// panel `NR` floats per k, C's rows `ldc` apart.
///
/// # Safety
/// AVX2 and FMA present (`packed::available`); the pointers valid for the
/// rows, columns and `kc` given.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
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
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    for k in 0..kc {
        let b0 = _mm256_loadu_ps(panel.add(k * NR));
        let b1 = _mm256_loadu_ps(panel.add(k * NR + 8));
        for r in 0..R {
            let av = _mm256_broadcast_ss(&*a.add(r * lda + k));
            lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
            hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
        }
    }
    if cols == NR {
        for r in 0..R {
            let cr = c.add(r * ldc);
            let (l, h) = if overwrite {
                (lo[r], hi[r])
            } else {
                (
                    _mm256_add_ps(_mm256_loadu_ps(cr), lo[r]),
                    _mm256_add_ps(_mm256_loadu_ps(cr.add(8)), hi[r]),
                )
            };
            _mm256_storeu_ps(cr, l);
            _mm256_storeu_ps(cr.add(8), h);
        }
    } else {
        let mut sums = [[0f32; NR]; R];
        for r in 0..R {
            _mm256_storeu_ps(sums[r].as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(sums[r].as_mut_ptr().add(8), hi[r]);
        }
        super::store_partial(&sums, c, ldc, cols, overwrite);
    }
}
