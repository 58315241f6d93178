//! Central finite differences of a whole model's loss, for the backward
//! pass tests: at the largest-gradient entry of every parameter tensor, and
//! the helpers of the row ops' checks (dyadic inputs, central differences).

use crate::testing::{Check, Rng, Tol};

/// For each parameter p: the entry i with the largest |grads[p][i]|, moved
/// by ±h through `loss_with(p, values)` (which installs `values` as
/// parameter p and returns the loss), compared with the backward's value:
/// `|fd - g| <= rtol |fd| + atol`. Parameter p is put back afterwards.
pub fn check_largest_entries(
    names: &[String],
    params: &[Vec<f32>],
    grads: &[Vec<f32>],
    h: f32,
    rtol: f64,
    atol: f64,
    mut loss_with: impl FnMut(usize, &[f32]) -> f64,
) -> Result<(), String> {
    let mut failures = Vec::new();
    for (p, name) in names.iter().enumerate() {
        let Some((i, &g)) = grads[p]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        else {
            continue;
        };
        let mut v = params[p].clone();
        v[i] += h;
        let plus = loss_with(p, &v);
        v[i] = params[p][i] - h;
        let minus = loss_with(p, &v);
        loss_with(p, &params[p]);
        let fd = (plus - minus) / (2.0 * h as f64);
        if (fd - g as f64).abs() > rtol * fd.abs() + atol {
            failures.push(format!(
                "{name}[{i}]: backward {g}, finite differences {fd}"
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

// ---------------------------------------------------------------- finite differences
/// Central-difference step, 2^-20 (about 1e-6): on [`dyadic_vec`] inputs
/// `v ± FD_STEP` is exact in f32, so the f32-taking references are
/// differentiated at exactly the perturbed points.
pub const FD_STEP: f64 = 1.0 / 1_048_576.0;

/// Tolerance of an f64 analytic gradient against central differences, plus
/// [`FD_ABS`]: rounding of the f64 loss (about 1e-16 |L| / 2^-20) makes an
/// absolute floor where every gradient is tiny (LayerNorm of 2 features).
pub const FD_TOL: Tol = Tol {
    rtol: 1e-6,
    atol_rel: 1e-6,
};

/// Absolute error allowed on top of [`FD_TOL`].
pub const FD_ABS: f64 = 1e-8;

/// Values k / 256 with |k| <= 256 * range (range <= 4): f32 keeps v ± 2^-20 exact.
pub fn dyadic_vec(rng: &mut Rng, n: usize, range: u32) -> Vec<f32> {
    let span = 256 * range.min(4);
    (0..n)
        .map(|_| (rng.below(2 * span + 1) as i64 - span as i64) as f32 / 256.0)
        .collect()
}

/// d f / d v[i] for every i by central differences (f evaluated in f64).
pub fn central_differences(v: &[f32], f: impl Fn(&[f32]) -> f64) -> Result<Vec<f64>, String> {
    let mut p = v.to_vec();
    let mut grad = Vec::with_capacity(v.len());
    for i in 0..v.len() {
        let (up, down) = (v[i] as f64 + FD_STEP, v[i] as f64 - FD_STEP);
        if up as f32 as f64 != up || down as f32 as f64 != down {
            return Err(format!("{} ± 2^-20 is not exact in f32", v[i]));
        }
        p[i] = up as f32;
        let fu = f(&p);
        p[i] = down as f32;
        let fd = f(&p);
        p[i] = v[i];
        grad.push((fu - fd) / (2.0 * FD_STEP));
    }
    Ok(grad)
}

/// [`check_close`] for f64 results, with an extra absolute tolerance `abs`.
pub fn check_close_f64(what: &str, got: &[f64], want: &[f64], tol: Tol, abs: f64) -> Check {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.len()
        ));
    }
    let atol = abs + tol.atol_rel * want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > atol + tol.rtol * w.abs() {
            return Err(format!(
                "{what}: element {i} is {g} but should be {w} (error {err:.3e}, tolerance rtol {:e} + atol {atol:.3e})",
                tol.rtol
            ));
        }
    }
    Ok(())
}

pub(crate) fn dot(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| a as f64 * b).sum()
}
