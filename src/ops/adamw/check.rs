//! The checks of `ops::adamw` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::{self, AdamWStep};
use crate::testing::{check_close, check_vs_f64_and_twin, e, read, widen, Check, Rng, Tol};
use crate::{Device, Tensor};

/// One AdamW step in f64 (PyTorch's formula; hyper-parameters widened
/// through their decimals as the op does). Returns (param, m, v).
pub fn ref_adamw(
    param: &[f32],
    grad: &[f32],
    m: &[f32],
    v: &[f32],
    s: &AdamWStep,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let widen = crate::ops::adamw::cpu::decimal_f64;
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
    check_vs_f64_and_twin(dev, &format!("{what}: param"), &out.param, &wp, || {
        Ok(run(&Device::Cpu)?.param)
    })
    .await?;
    check_vs_f64_and_twin(dev, &format!("{what}: m"), &out.m, &wm, || {
        Ok(run(&Device::Cpu)?.m)
    })
    .await?;
    check_vs_f64_and_twin(dev, &format!("{what}: v"), &out.v, &wv, || {
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
