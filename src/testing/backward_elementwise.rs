//! Checks of the element-wise backward ops, dropout and AdamW: f64
//! references (each derivative confirmed by central finite differences of
//! the f64 forward), and one check per op that runs it on any device and
//! compares with them (and, on a GPU, with the CPU twin).

use super::{check_close, e, read, ref_gelu, widen, Check, Rng, Tol};
use crate::ops::{self, AdamWStep, Glu};
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

/// One AdamW step in f64 (PyTorch's formula; hyper-parameters widened
/// through their decimals as the op does). Returns (param, m, v).
pub fn ref_adamw(
    param: &[f32],
    grad: &[f32],
    m: &[f32],
    v: &[f32],
    s: &AdamWStep,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let widen = crate::cpu::adamw::decimal_f64;
    let [lr, b1, b2, wd] = [s.lr, s.beta1, s.beta2, s.weight_decay].map(widen);
    let (eps, gs) = (s.eps as f64, s.grad_scale as f64);
    let bc1 = 1.0 - b1.powf(s.step as f64);
    let bc2 = 1.0 - b2.powf(s.step as f64);
    let n = param.len();
    let (mut po, mut mo, mut vo) = (vec![0f64; n], vec![0f64; n], vec![0f64; n]);
    for i in 0..n {
        let g = grad[i] as f64 * gs;
        let mi = m[i] as f64 * b1 + (1.0 - b1) * g;
        let vi = v[i] as f64 * b2 + (1.0 - b2) * g * g;
        let p = param[i] as f64 * (1.0 - lr * wd);
        po[i] = p - lr / bc1 * mi / (vi.sqrt() / bc2.sqrt() + eps);
        mo[i] = mi;
        vo[i] = vi;
    }
    (po, mo, vo)
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

// ---------------------------------------------------------------- device checks

/// `got` on `dev` vs the f64 reference, and on a GPU also vs the CPU twin.
async fn compare(
    dev: &Device,
    what: &str,
    got: &Tensor,
    want: &[f64],
    cpu: impl FnOnce() -> Result<Tensor, String>,
) -> Check {
    let got = read(dev, got).await?;
    check_close(
        &format!("{what} on {} vs f64", dev.name()),
        &got,
        want,
        Tol::F32,
    )?;
    if dev.is_gpu() {
        let twin = read(&Device::Cpu, &cpu()?).await?;
        check_close(
            &format!("{what} on {} vs the CPU backend", dev.name()),
            &got,
            &widen(&twin),
            Tol::F32,
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
    compare(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
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
    compare(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
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
    compare(dev, &what, &run(dev)?, &want, || run(&Device::Cpu)).await
}

// ---------------------------------------------------------------- dropout

async fn dropout_values(
    dev: &Device,
    shape: &[usize],
    x: &[f32],
    p: f32,
    seed: u64,
    stream: u32,
) -> Result<Vec<f32>, String> {
    let t = dev.tensor_f32(shape, x).map_err(e)?;
    read(dev, &ops::dropout(dev, &t, p, seed, stream).map_err(e)?).await
}

/// Dropout on `dev` is bit-identical to the CPU backend, and every output
/// is 0 or exactly x * f32(1 / (1 - p)) with the mask of `dropout_uniform`.
pub async fn check_dropout_matches_cpu(
    dev: &Device,
    shape: &[usize],
    p: f32,
    seed: u64,
    stream: u32,
) -> Check {
    let n: usize = shape.iter().product();
    let x = Rng::new(seed ^ 0xD0).vec(n, 2.0);
    let got = dropout_values(dev, shape, &x, p, seed, stream).await?;
    let cpu = dropout_values(&Device::Cpu, shape, &x, p, seed, stream).await?;
    let what = format!(
        "dropout {shape:?} p {p} seed {seed} stream {stream} on {}",
        dev.name()
    );
    if let Some(i) = (0..n).find(|&i| got[i].to_bits() != cpu[i].to_bits()) {
        return Err(format!(
            "{what}: element {i} is {} but the CPU backend gives {} (masks must be identical)",
            got[i], cpu[i]
        ));
    }
    let scale = crate::cpu::dropout::keep_scale(p);
    for i in (0..n).step_by((n / 4096).max(1)) {
        let keep = crate::cpu::dropout::dropout_uniform(seed, stream, i as u32) >= p;
        let want = if keep { x[i] * scale } else { 0.0 };
        if got[i].to_bits() != want.to_bits() {
            return Err(format!(
                "{what}: element {i} is {} but uniform(seed, stream, i) gives {want}",
                got[i]
            ));
        }
    }
    Ok(())
}

/// Dropout of ones over n elements: the kept fraction is within 4 sigma of
/// 1 - p, and so is the fraction of neighbouring pairs both kept (which
/// would drift if neighbouring indices were correlated).
pub async fn check_dropout_keep_fraction(dev: &Device, n: usize, p: f32, seed: u64) -> Check {
    let y = dropout_values(dev, &[n], &vec![1.0; n], p, seed, 7).await?;
    let kept: Vec<bool> = y.iter().map(|&v| v != 0.0).collect();
    let q = 1.0 - p as f64;
    let within = |what: &str, count: usize, trials: usize, prob: f64| -> Check {
        let (mean, sigma) = (
            trials as f64 * prob,
            (trials as f64 * prob * (1.0 - prob)).sqrt(),
        );
        if (count as f64 - mean).abs() > 4.0 * sigma {
            return Err(format!(
                "dropout p {p} over {n} elements on {}: {what} {count}, expected {mean:.0} ± {:.0} (4 sigma)",
                dev.name(),
                4.0 * sigma
            ));
        }
        Ok(())
    };
    within("kept", kept.iter().filter(|&&k| k).count(), n, q)?;
    // Disjoint pairs (0, 1), (2, 3), ...: independent trials, so binomial.
    let disjoint = kept.chunks_exact(2).filter(|w| w[0] && w[1]).count();
    within(
        "disjoint neighbouring pairs both kept",
        disjoint,
        n / 2,
        q * q,
    )
}

/// Masks of different seeds and of different streams are different and
/// agree on about p² + (1 - p)² of the elements (as independent masks do).
pub async fn check_dropout_masks_differ(dev: &Device, n: usize, p: f32) -> Check {
    let ones = vec![1.0f32; n];
    let mask = |seed: u64, stream: u32| {
        let ones = &ones;
        async move {
            let y = dropout_values(dev, &[n], ones, p, seed, stream).await?;
            Ok::<Vec<bool>, String>(y.iter().map(|&v| v != 0.0).collect())
        }
    };
    let base = mask(42, 0).await?;
    let pf = p as f64;
    let agree_want = pf * pf + (1.0 - pf) * (1.0 - pf);
    for (seed, stream) in [
        (43, 0),
        (42, 1),
        (0, 0),
        (42 + (1 << 32), 0),
        (42, u32::MAX),
    ] {
        let other = mask(seed, stream).await?;
        let agree = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        let sigma = (n as f64 * agree_want * (1.0 - agree_want)).sqrt();
        if agree == n || (agree as f64 - n as f64 * agree_want).abs() > 4.0 * sigma {
            return Err(format!(
                "dropout p {p} on {}: the mask of (seed {seed}, stream {stream}) agrees with (42, 0) on {agree} of {n} elements, expected {:.0} ± {:.0}",
                dev.name(),
                n as f64 * agree_want,
                4.0 * sigma
            ));
        }
    }
    Ok(())
}

/// The backward is the same call on dy: y = D x and dx = D dy with one
/// diagonal D, so the kept elements coincide and <dy, y> = <dx, x>.
pub async fn check_dropout_backward(
    dev: &Device,
    n: usize,
    p: f32,
    seed: u64,
    stream: u32,
) -> Check {
    let mut rng = Rng::new(seed);
    // Nonzero inputs, so that a zero output means a dropped element.
    let x: Vec<f32> = rng.vec(n, 1.0).iter().map(|v| v + 2.0).collect();
    let dy: Vec<f32> = rng.vec(n, 1.0).iter().map(|v| v - 2.0).collect();
    let y = dropout_values(dev, &[n], &x, p, seed, stream).await?;
    let dx = dropout_values(dev, &[n], &dy, p, seed, stream).await?;
    let what = format!("dropout backward n {n} p {p} on {}", dev.name());
    if let Some(i) = (0..n).find(|&i| (y[i] == 0.0) != (dx[i] == 0.0)) {
        return Err(format!(
            "{what}: element {i} is {} forward but {} backward: the masks differ",
            y[i], dx[i]
        ));
    }
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum::<f64>()
    };
    let (lhs, rhs) = (dot(&dy, &y), dot(&dx, &x));
    if (lhs - rhs).abs() > 1e-6 * lhs.abs().max(1.0) {
        return Err(format!(
            "{what}: <dy, dropout(x)> = {lhs} but <dropout(dy), x> = {rhs}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- clipping

/// `clip_scale` on `dev`, then AdamW reading it: the factor against the
/// formula in f64 (PyTorch's `clip_grad_norm_`: max / (norm + 1e-6), at
/// most 1; 1 without a limit), the update against the f64 AdamW of the
/// scaled gradient; a non-finite loss or gradient total leaves param, m and
/// v exactly as they were.
pub async fn check_clip(dev: &Device, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let n = 300;
    let (param, grad) = (rng.vec(n, 1.0), rng.vec(n, 2.0));
    let (m, v): (Vec<f32>, Vec<f32>) = (
        rng.vec(n, 0.3),
        rng.vec(n, 0.5).iter().map(|x| x * x).collect(),
    );
    let s = AdamWStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 3,
        grad_scale: 1.0,
    };
    let t = |v: &[f32]| dev.tensor_f32(&[v.len()], v).map_err(e);
    let total: f32 = grad.iter().map(|g| g * g).sum();
    for (max_norm, loss) in [
        (1.0f32, 2.5f32),
        (1e4, 2.5),
        (0.0, 2.5),
        (1.0, f32::NAN),
        (1.0, f32::INFINITY),
    ] {
        let clip = ops::clip_scale(dev, &t(&[total])?, &t(&[loss])?, max_norm).map_err(e)?;
        let got = read(dev, &clip).await?;
        let ok = loss.is_finite();
        let norm = (total as f64).sqrt();
        let want_scale = if ok && max_norm > 0.0 {
            (max_norm as f64 / (norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        let what = format!("clip_scale max {max_norm} loss {loss} on {}", dev.name());
        check_close(&what, &got[..1], &[want_scale], Tol::F32)?;
        if got[1] != f32::from(u8::from(ok)) || got[3] != total {
            return Err(format!("{what}: {got:?}"));
        }
        let out = ops::adamw(
            dev,
            &t(&param)?,
            &t(&grad)?,
            &t(&m)?,
            &t(&v)?,
            &s,
            Some(&clip),
        )
        .map_err(e)?;
        let (p1, m1, v1) = (
            read(dev, &out.param).await?,
            read(dev, &out.m).await?,
            read(dev, &out.v).await?,
        );
        if !ok {
            if (p1, m1, v1) != (param.clone(), m.clone(), v.clone()) {
                return Err(format!("{what}: a non-finite step changed the state"));
            }
            continue;
        }
        let scaled: Vec<f32> = grad.iter().map(|g| g * got[0]).collect();
        let (wp, wm, wv) = ref_adamw(&param, &scaled, &m, &v, &s);
        check_close(&format!("{what}: param"), &p1, &wp, Tol::F32)?;
        check_close(&format!("{what}: m"), &m1, &wm, Tol::F32)?;
        check_close(&format!("{what}: v"), &v1, &wv, Tol::F32)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- AdamW

/// One AdamW step on `dev` vs the f64 reference (and the CPU twin on a GPU):
/// param in [-1, 1], grad in [-2, 2]; m, v zero at step 1 (as PyTorch
/// starts them), else random (v >= 0).
pub async fn check_adamw(dev: &Device, n: usize, s: &AdamWStep, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let param = rng.vec(n, 1.0);
    let grad = rng.vec(n, 2.0);
    let (m, v) = if s.step == 1 {
        (vec![0.0; n], vec![0.0; n])
    } else {
        let m = rng.vec(n, 0.3);
        let v = rng.vec(n, 0.5).iter().map(|x| x * x).collect();
        (m, v)
    };
    let inputs = |d: &Device| -> Result<[Tensor; 4], String> {
        let t = |v: &[f32]| d.tensor_f32(&[n], v).map_err(e);
        Ok([t(&param)?, t(&grad)?, t(&m)?, t(&v)?])
    };
    let step =
        |d: &Device, [p, g, m, v]: &[Tensor; 4]| ops::adamw(d, p, g, m, v, s, None).map_err(e);
    let run = |d: &Device| step(d, &inputs(d)?);
    let ins = inputs(dev)?;
    let out = step(dev, &ins)?;
    let (wp, wm, wv) = ref_adamw(&param, &grad, &m, &v, s);
    let what = format!("adamw n {n} {s:?}");
    compare(dev, &format!("{what}: param"), &out.param, &wp, || {
        Ok(run(&Device::Cpu)?.param)
    })
    .await?;
    compare(dev, &format!("{what}: m"), &out.m, &wm, || {
        Ok(run(&Device::Cpu)?.m)
    })
    .await?;
    compare(dev, &format!("{what}: v"), &out.v, &wv, || {
        Ok(run(&Device::Cpu)?.v)
    })
    .await?;
    for (name, t, want) in [
        ("param", &ins[0], &param),
        ("m", &ins[2], &m),
        ("v", &ins[3], &v),
    ] {
        if read(dev, t).await? != *want {
            return Err(format!("{what}: the input {name} changed"));
        }
    }
    Ok(())
}

fn json_f32s(v: &serde_json::Value, what: &str) -> Result<Vec<f32>, String> {
    v.as_array()
        .ok_or(format!("adamw fixture: `{what}` is not an array"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|x| x as f32)
                .ok_or(format!("adamw fixture: `{what}` holds a non-number"))
        })
        .collect()
}

fn json_f32(v: &serde_json::Value, key: &str) -> Result<f32, String> {
    v[key]
        .as_f64()
        .map(|x| x as f32)
        .ok_or(format!("adamw fixture: no number `{key}`"))
}

/// Same operations in the same order as PyTorch, so a few ulp apart (f32
/// ulp = 6e-8 relative). Widening the f32 hyper-parameters as they are,
/// instead of through their decimals, would already be 1.3e-5 off (v, via
/// 1 - beta2).
const ULPS: Tol = Tol {
    rtol: 2e-6,
    atol_rel: 1e-6,
};

/// `scripts/reference/adamw_fixture.py`'s PyTorch run replayed on `dev`:
/// every case's tensors stepped with their gradients, then param, m (exp_avg)
/// and v (exp_avg_sq) compared with PyTorch's within a few ulp ([`ULPS`]), and
/// so is the f64 reference replayed the same way. `json` is the fixture
/// file's bytes.
pub async fn check_adamw_fixture(dev: &Device, json: &[u8]) -> Check {
    let root: serde_json::Value = serde_json::from_slice(json).map_err(|err| err.to_string())?;
    let cases = root["cases"]
        .as_array()
        .ok_or("adamw fixture: no `cases`")?;
    if cases.is_empty() {
        return Err("adamw fixture: no cases".into());
    }
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let base = AdamWStep {
            lr: json_f32(case, "lr")?,
            beta1: json_f32(case, "beta1")?,
            beta2: json_f32(case, "beta2")?,
            eps: json_f32(case, "eps")?,
            weight_decay: json_f32(case, "weight_decay")?,
            step: 1,
            grad_scale: json_f32(case, "grad_scale")?,
        };
        let tensors = case["tensors"]
            .as_array()
            .ok_or("adamw fixture: no `tensors`")?;
        for (ti, t) in tensors.iter().enumerate() {
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .ok_or("adamw fixture: no `shape`")?
                .iter()
                .map(|d| d.as_u64().unwrap_or(0) as usize)
                .collect();
            let n: usize = shape.iter().product();
            let p0 = json_f32s(&t["param0"], "param0")?;
            let grads = t["grads"].as_array().ok_or("adamw fixture: no `grads`")?;
            let zeros = vec![0f32; n];
            let up = |v: &[f32]| dev.tensor_f32(&shape, v).map_err(e);
            let (mut p, mut m, mut v) = (up(&p0)?, up(&zeros)?, up(&zeros)?);
            let (mut rp, mut rm, mut rv) = (p0.clone(), zeros.clone(), zeros.clone());
            for (k, g) in grads.iter().enumerate() {
                let g = json_f32s(g, "grads")?;
                let s = AdamWStep {
                    step: k as u32 + 1,
                    ..base
                };
                let out = ops::adamw(dev, &p, &up(&g)?, &m, &v, &s, None).map_err(e)?;
                (p, m, v) = (out.param, out.m, out.v);
                // The f64 reference, rounded to f32 between steps as the
                // state is stored in f32.
                let (a, b, c) = ref_adamw(&rp, &g, &rm, &rv, &s);
                let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
                (rp, rm, rv) = (f(a), f(b), f(c));
            }
            for (key, got, reference) in [("param", &p, &rp), ("m", &m, &rm), ("v", &v, &rv)] {
                let want = widen(&json_f32s(&t[key], key)?);
                let got = read(dev, got).await?;
                let what = format!(
                    "adamw fixture `{name}` tensor {ti} {shape:?} after {} steps: {key}",
                    grads.len()
                );
                check_close(
                    &format!("{what} on {} vs PyTorch", dev.name()),
                    &got,
                    &want,
                    ULPS,
                )?;
                check_close(
                    &format!("{what}: f64 reference vs PyTorch"),
                    reference,
                    &want,
                    ULPS,
                )?;
            }
        }
    }
    Ok(())
}
