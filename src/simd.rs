//! Vector math for the CPU twins. The loops here are written so that the
//! compiler vectorises them (no branches, sums in eight independent lanes,
//! `exp` from a polynomial instead of libm's scalar call). Everything is
//! `#[inline(always)]`: it is compiled inside the twins, which carry
//! `#[multiversion(targets = "simd")]` so that each is built once per SIMD
//! level (AVX2+FMA, AVX-512 on x86-64; NEON; SIMD128 where the wasm is built
//! with it) and the best the CPU has is picked at run time. Closures inside a
//! multiversioned function (rayon's included) inherit its target features.
//!
//! Accuracy: [`exp`] is Cephes' `expf` polynomial (relative error below
//! 2e-7 over the range; 0 below -87.3, as f32 underflows there), [`gelu`] is
//! the same Numerical Recipes `erfcc` formulation as shaders/common/gelu.wgsl
//! (relative error below 1.2e-7 in erfc).

/// Lanes the sums are split into (one AVX2 register of f32; two SSE ones).
const LANES: usize = 8;

/// e^x for x up to 88 (saturates there; the callers' arguments are <= 0).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest through the 1.5 * 2^23 trick: `t`'s low mantissa
    // bits then hold n, which builds 2^n without a float-to-int conversion
    // (those do not vectorise on AVX2).
    const ROUND: f32 = 12_582_912.0;
    // max/min rather than clamp: clamp's NaN handling does not vectorise.
    #[allow(clippy::manual_clamp)]
    let xc = x.max(-87.3).min(88.0);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    // 0 below the range, through a mask rather than a branch.
    let keep = u32::from(x >= -87.3).wrapping_neg();
    f32::from_bits((e * scale).to_bits() & keep)
}

/// erfc(z) for z >= 0 (Numerical Recipes `erfcc`, as gelu.wgsl).
#[inline(always)]
fn erfc_nonneg(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -0.822_152_23 + t * 0.170_872_77;
    let p = 1.488_515_9 + t * p;
    let p = -1.135_204 + t * p;
    let p = 0.278_868_07 + t * p;
    let p = -0.186_288_06 + t * p;
    let p = 0.096_784_18 + t * p;
    let p = 0.374_091_96 + t * p;
    let p = 1.000_023_7 + t * p;
    let p = -1.265_512_2 + t * p;
    t * exp(-z * z + p)
}

/// Exact GELU, 0.5 x erfc(-x / sqrt 2), through erfc of |x| so that
/// negative x keep full relative precision.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let c = erfc_nonneg(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let half_c = 0.5 * c;
    x * if x >= 0.0 { 1.0 - half_c } else { half_c }
}

/// Σ xs, in eight lanes.
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ (xs - mu)², in eight lanes.
#[inline(always)]
pub fn sum_squared_deviations(xs: &[f32], mu: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - mu) * (v - mu)).sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += (v - mu) * (v - mu);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// max xs (−∞ for none), in eight lanes.
#[inline(always)]
pub fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter().fold(tail, |a, &b| if b > a { b } else { a })
}

/// xs ← e^(xs − m); returns their sum.
#[inline(always)]
pub fn exp_shifted(xs: &mut [f32], m: f32) -> f32 {
    xs.iter_mut().for_each(|v| *v = exp(*v - m));
    sum(xs)
}

/// xs ← softmax(xs); returns (max, Σ e^(x − max)) for the log-sum-exp.
#[inline(always)]
pub fn softmax_in_place(xs: &mut [f32]) -> (f32, f32) {
    let m = max(xs);
    let s = exp_shifted(xs, m);
    let inv = 1.0 / s;
    xs.iter_mut().for_each(|v| *v *= inv);
    (m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 5e-4)
    }

    #[test]
    fn exp_within_2e7_relative_of_f64() {
        for x in grid()
            .map(|x| x * 2.0)
            .filter(|x| (-87.3..=88.0).contains(x))
            .chain([-87.0, 88.0, 0.0])
        {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                (got - want).abs() <= 2e-7 * want,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn gelu_matches_f64_erfc() {
        for x in grid() {
            let x64 = x as f64;
            let want = 0.5 * x64 * libm::erfc(-x64 / std::f64::consts::SQRT_2);
            let got = gelu(x) as f64;
            // Beside erfcc's own 1.2e-7, f32's rounding of z and z² in
            // e^(-z² + p): a few ulps (6e-8 each) amplified by z², so 4e-7 z².
            let z2 = x64 * x64 / 2.0;
            let rel = 1e-6 + 4e-7 * z2;
            assert!(
                (got - want).abs() <= rel * want.abs() + 1e-37,
                "gelu({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn lane_reductions_match_sequential_ones() {
        for n in [0, 1, 7, 8, 9, 63, 768, 1001] {
            let xs: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.1)
                .collect();
            let s64: f64 = xs.iter().map(|&v| v as f64).sum();
            assert!(
                (sum(&xs) as f64 - s64).abs() <= 1e-4 * (1.0 + s64.abs()),
                "n {n}"
            );
            let mx = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            assert_eq!(max(&xs), mx, "n {n}");
            let mu = (s64 / n.max(1) as f64) as f32;
            let v64: f64 = xs.iter().map(|&v| ((v - mu) as f64).powi(2)).sum();
            let v = sum_squared_deviations(&xs, mu) as f64;
            assert!((v - v64).abs() <= 1e-4 * (1.0 + v64), "n {n}");
            let mut p = xs.clone();
            let (m, s) = softmax_in_place(&mut p);
            if n > 0 {
                let z: f64 = xs.iter().map(|&v| ((v - mx) as f64).exp()).sum();
                assert_eq!(m, mx);
                assert!((s as f64 - z).abs() <= 1e-5 * z);
                for (pv, &v) in p.iter().zip(&xs) {
                    let want = ((v - mx) as f64).exp() / z;
                    assert!((*pv as f64 - want).abs() <= 1e-6 * want + 1e-9);
                }
            }
        }
    }
}
