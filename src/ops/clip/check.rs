//! The checks of `ops::clip` (feature `test-utils`) that its native tests
//! (`tests.rs`) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::adamw::check::ref_adamw;
use crate::ops::{self, AdamWStep};
use crate::testing::{check_close, e, read, Check, Rng, Tol};
use crate::Device;

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
