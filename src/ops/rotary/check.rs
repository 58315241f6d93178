//! The checks of `ops::rotary` (feature `test-utils`) that its native tests
//! (`tests.rs`) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, read, widen, Check, Rng, Tol};
use crate::Device;

/// f64 rotary on packed QKV [B*T, 3H] (angles formed in f32 as PyTorch
/// does); `sign` -1 turns back by -θ (the backward).
fn ref_rotary(x: &[f64], t: usize, heads: usize, d: usize, sign: f64) -> Vec<f64> {
    let (half, hidden) = (d / 2, heads * d);
    let mut y = x.to_vec();
    for row in 0..x.len() / (3 * hidden) {
        let pos = (row % t) as f32;
        for vec in 0..2 * heads {
            let base = row * 3 * hidden + vec * d;
            for j in 0..half {
                let inv = 1.0 / 10000f32.powf((2 * j) as f32 / d as f32);
                let theta = (pos * inv) as f64;
                let (c, s) = (theta.cos(), sign * theta.sin());
                let (u1, u2) = (x[base + j], x[base + j + half]);
                y[base + j] = u1 * c - u2 * s;
                y[base + j + half] = u2 * c + u1 * s;
            }
        }
    }
    y
}

/// Rotary embedding of packed QKV [B, T, 3H] and its backward on `dev`
/// against an f64 rotation of each head's halves. The f64 backward is
/// first shown to be the forward's transpose (`<R x, g> = <x, R^T g>`,
/// which for a linear map is what finite differences would check).
pub async fn check_rotary(
    dev: &Device,
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let hidden = heads * d;
    let shape = [b, t, 3 * hidden];
    let x = rng.vec(b * t * 3 * hidden, 2.0);
    let dy = rng.vec(b * t * 3 * hidden, 1.0);
    let (xw, dyw) = (widen(&x), widen(&dy));
    let want = ref_rotary(&xw, t, heads, d, 1.0);
    let want_back = ref_rotary(&dyw, t, heads, d, -1.0);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let (lhs, rhs) = (dot(&want, &dyw), dot(&xw, &want_back));
    if (lhs - rhs).abs() > 1e-9 * (1.0 + lhs.abs()) {
        return Err(format!(
            "the f64 rotary backward is not the forward's transpose: {lhs} vs {rhs}"
        ));
    }
    let what = format!("B {b} T {t} heads {heads} D {d} on {}", dev.name());
    let tx = dev.tensor_f32(&shape, &x).map_err(e)?;
    let got = read(dev, &ops::rotary(dev, &tx, heads).map_err(e)?).await?;
    check_close(&format!("rotary {what}"), &got, &want, Tol::F32)?;
    let tdy = dev.tensor_f32(&shape, &dy).map_err(e)?;
    let got = read(dev, &ops::rotary_backward(dev, &tdy, heads).map_err(e)?).await?;
    check_close(
        &format!("rotary_backward {what}"),
        &got,
        &want_back,
        Tol::F32,
    )
}
