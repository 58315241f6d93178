//! The checks of `ops::activation_backward` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::elementwise::check::ref_gelu;
use crate::ops::{self, Glu};
use crate::testing::{check_vs_f64_and_twin, e, widen, Check, Rng};
use crate::{Device, Tensor};

// ---------------------------------------------------------------- f64 references
/// gelu'(x) = Phi(x) + x phi(x) in f64.
pub fn ref_gelu_grad(x: f64) -> f64 {
    let cdf = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    cdf + x * pdf
}

/// tanh'(x) as a function of the output y = tanh(x): 1 - y².
pub fn ref_tanh_grad_from_output(y: f64) -> f64 {
    1.0 - y * y
}

/// silu(u) = u sigmoid(u) in f64.
pub fn ref_silu(u: f64) -> f64 {
    u / (1.0 + (-u).exp())
}

/// silu'(u) = s (1 + u (1 - s)), s = sigmoid(u), in f64.
pub fn ref_silu_grad(u: f64) -> f64 {
    let s = 1.0 / (1.0 + (-u).exp());
    s * (1.0 + u * (1.0 - s))
}

/// A gated unit's activation and its derivative in f64 (GeGLU: GELU,
/// SwiGLU: SiLU).
type F64Fn = fn(f64) -> f64;

fn ref_act(act: Glu) -> (F64Fn, F64Fn) {
    match act {
        Glu::Gelu => (ref_gelu, ref_gelu_grad),
        Glu::Silu => (ref_silu, ref_silu_grad),
    }
}

/// GeGLU / SwiGLU forward in f64: g [R, 2I] -> act(u) * v, [R, I].
pub fn ref_glu(g: &[f64], inner: usize, act: Glu) -> Vec<f64> {
    let (f, _) = ref_act(act);
    g.chunks(2 * inner)
        .flat_map(|row| (0..inner).map(move |c| f(row[c]) * row[inner + c]))
        .collect()
}

/// GeGLU / SwiGLU backward in f64: dg[:, :I] = df v act'(u),
/// dg[:, I:] = df act(u).
pub fn ref_glu_backward(g: &[f64], df: &[f64], inner: usize, act: Glu) -> Vec<f64> {
    let (f, f_grad) = ref_act(act);
    let mut dg = vec![0f64; g.len()];
    for (r, row) in g.chunks(2 * inner).enumerate() {
        for c in 0..inner {
            let (u, v, d) = (row[c], row[inner + c], df[r * inner + c]);
            dg[r * 2 * inner + c] = d * v * f_grad(u);
            dg[r * 2 * inner + inner + c] = d * f(u);
        }
    }
    dg
}

// ---------------------------------------------------------------- finite differences
/// Central-difference step and tolerance of the f64 checks: with eps 1e-6
/// the truncation error is ~1e-13 and the rounding error ~1e-9 for values
/// of order 10, so 1e-7 (relative to 1 + |derivative|) is tight.
const FD_EPS: f64 = 1e-6;

const FD_TOL: f64 = 1e-7;

fn central_difference(mut f: impl FnMut(f64) -> f64, x: f64) -> f64 {
    (f(x + FD_EPS) - f(x - FD_EPS)) / (2.0 * FD_EPS)
}

fn fd_close(what: &str, at: usize, fd: f64, analytic: f64) -> Check {
    if (fd - analytic).abs() > FD_TOL * (1.0 + analytic.abs()) {
        return Err(format!(
            "{what}: at point {at}, finite differences give {fd:e} but the f64 derivative is {analytic:e} (difference {:.3e})",
            (fd - analytic).abs()
        ));
    }
    Ok(())
}

/// Points where the activations' derivatives are checked: a grid over
/// [-8, 8], GELU's stationary point near -0.7518, and random points.
fn fd_points(seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut xs: Vec<f64> = (-32..=32).map(|i| i as f64 * 0.25).collect();
    xs.extend([-0.751_791_524_693_564_5, 1e-3, -1e-3, 12.0, -12.0]);
    xs.extend((0..64).map(|_| rng.normal() * 3.0));
    xs
}

/// gelu' (f64) against central differences of `ref_gelu`.
pub fn check_gelu_grad_fd(seed: u64) -> Check {
    for (i, x) in fd_points(seed).into_iter().enumerate() {
        fd_close(
            "gelu'",
            i,
            central_difference(ref_gelu, x),
            ref_gelu_grad(x),
        )?;
    }
    Ok(())
}

/// 1 - tanh(x)² (f64) against central differences of tanh.
pub fn check_tanh_grad_fd(seed: u64) -> Check {
    for (i, x) in fd_points(seed).into_iter().enumerate() {
        let analytic = ref_tanh_grad_from_output(x.tanh());
        fd_close("tanh'", i, central_difference(f64::tanh, x), analytic)?;
    }
    Ok(())
}

/// The GeGLU backward (f64) against central differences of the scalar
/// `L(g) = sum(df * glu(g))` (GeGLU or SwiGLU), for every element of g.
pub fn check_glu_backward_fd(rows: usize, inner: usize, act: Glu, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let g: Vec<f64> = (0..rows * 2 * inner).map(|_| rng.normal() * 2.0).collect();
    let df: Vec<f64> = (0..rows * inner).map(|_| rng.normal()).collect();
    let loss = |g: &[f64]| -> f64 {
        ref_glu(g, inner, act)
            .iter()
            .zip(&df)
            .map(|(y, d)| y * d)
            .sum()
    };
    let dg = ref_glu_backward(&g, &df, inner, act);
    let mut probe = g.clone();
    for k in 0..g.len() {
        let fd = central_difference(
            |x| {
                probe[k] = x;
                loss(&probe)
            },
            g[k],
        );
        probe[k] = g[k];
        fd_close(
            &format!("{act:?} GLU backward R {rows} I {inner}"),
            k,
            fd,
            dg[k],
        )?;
    }
    Ok(())
}

/// Random values of the given scale with `specials` written over the first ones.
fn with_specials(rng: &mut Rng, n: usize, scale: f32, specials: &[f32]) -> Vec<f32> {
    let mut v = rng.vec(n, scale);
    for (v, &s) in v.iter_mut().zip(specials) {
        *v = s;
    }
    v
}

/// `gelu_backward` of a random x in [-6, 6] (plus a few extreme values) and
/// dy in [-1, 1], of the given shape.
pub async fn check_gelu_backward(dev: &Device, shape: &[usize], seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    let x = with_specials(
        &mut rng,
        n,
        6.0,
        &[0.3, -0.7518, 30.0, -30.0, 0.0, 9.0, -9.0],
    );
    let dy = rng.vec(n, 1.0);
    let run = |d: &Device| -> Result<Tensor, String> {
        let tx = d.tensor_f32(shape, &x).map_err(e)?;
        let tdy = d.tensor_f32(shape, &dy).map_err(e)?;
        ops::gelu_backward(d, &tx, &tdy).map_err(e)
    };
    let want: Vec<f64> = x
        .iter()
        .zip(&dy)
        .map(|(&x, &d)| d as f64 * ref_gelu_grad(x as f64))
        .collect();
    let what = format!("gelu_backward {shape:?}");
    check_vs_f64_and_twin(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
}

/// `tanh_backward` from y = tanh(x) (x in [-6, 6], so |y| up to 1 - 1e-5,
/// plus y = ±1 and y = 0) and dy in [-1, 1], of the given shape.
pub async fn check_tanh_backward(dev: &Device, shape: &[usize], seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    let x = with_specials(&mut rng, n, 6.0, &[0.5, 20.0, -20.0, 0.0, 8.0]);
    let y: Vec<f32> = x.iter().map(|&x| (x as f64).tanh() as f32).collect();
    let dy = rng.vec(n, 1.0);
    let run = |d: &Device| -> Result<Tensor, String> {
        let ty = d.tensor_f32(shape, &y).map_err(e)?;
        let tdy = d.tensor_f32(shape, &dy).map_err(e)?;
        ops::tanh_backward(d, &ty, &tdy).map_err(e)
    };
    let want: Vec<f64> = y
        .iter()
        .zip(&dy)
        .map(|(&y, &d)| d as f64 * ref_tanh_grad_from_output(y as f64))
        .collect();
    let what = format!("tanh_backward {shape:?}");
    check_vs_f64_and_twin(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
}

/// `geglu_backward` / `swiglu_backward` with g: lead ++ [2I] in [-4, 4]
/// and df: lead ++ [I].
pub async fn check_glu_backward(
    dev: &Device,
    lead: &[usize],
    inner: usize,
    act: Glu,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let rows: usize = lead.iter().product();
    let g_shape: Vec<usize> = lead.iter().copied().chain([2 * inner]).collect();
    let f_shape: Vec<usize> = lead.iter().copied().chain([inner]).collect();
    let g = rng.vec(rows * 2 * inner, 4.0);
    let df = rng.vec(rows * inner, 1.0);
    let run = |d: &Device| -> Result<Tensor, String> {
        let tg = d.tensor_f32(&g_shape, &g).map_err(e)?;
        let tdf = d.tensor_f32(&f_shape, &df).map_err(e)?;
        match act {
            Glu::Gelu => ops::geglu_backward(d, &tg, &tdf),
            Glu::Silu => ops::swiglu_backward(d, &tg, &tdf),
        }
        .map_err(e)
    };
    let want = ref_glu_backward(&widen(&g), &widen(&df), inner, act);
    let what = format!("{act:?} GLU backward g {g_shape:?}");
    check_vs_f64_and_twin(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
}
