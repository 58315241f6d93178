//! The checks of `ops::attention_backward` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::ops::attention::check::ref_attention;
use crate::testing::{e, mask_from_lengths, read, widen, Check, Rng, Tol};
use crate::Device;

/// Attention forward in f64 on f64 inputs, padded keys excluded (P = 0) —
/// the function the finite differences differentiate. Returns (out, lse);
/// a row with no valid key gets out = 0 and lse = -inf.
#[allow(clippy::too_many_arguments)]
pub fn ref_attention_f64(
    qkv: &[f64],
    mask: &[u32],
    slopes: &[f32],
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let hid = heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0f64; b * t * hid];
    let mut lse = vec![f64::NEG_INFINITY; b * heads * t];
    for bi in 0..b {
        let keys: Vec<usize> = (0..t).filter(|&j| mask[bi * t + j] != 0).collect();
        if keys.is_empty() {
            continue;
        }
        for h in 0..heads {
            let col = |j: usize, part: usize, dd: usize| {
                qkv[(bi * t + j) * 3 * hid + part * hid + h * d + dd]
            };
            for i in 0..t {
                let s: Vec<f64> = keys
                    .iter()
                    .map(|&j| {
                        (0..d).map(|dd| col(i, 0, dd) * col(j, 1, dd)).sum::<f64>() * scale
                            - slopes[h] as f64 * i.abs_diff(j) as f64
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                lse[(bi * heads + h) * t + i] = m + z.ln();
                for dd in 0..d {
                    out[(bi * t + i) * hid + h * d + dd] = s
                        .iter()
                        .zip(&keys)
                        .map(|(sv, &j)| (sv - m).exp() / z * col(j, 2, dd))
                        .sum();
                }
            }
        }
    }
    (out, lse)
}

/// The f64 gradient of `L` w.r.t. `qkv`: dqkv [B, T, 3H] (dq | dk | dv per
/// token), straight from the chain rule with full score rows.
#[allow(clippy::too_many_arguments)]
pub fn ref_attention_backward_f64(
    qkv: &[f64],
    mask: &[u32],
    slopes: &[f32],
    dout: &[f64],
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
) -> Vec<f64> {
    let hid = heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let mut grad = vec![0f64; b * t * 3 * hid];
    let at =
        |bi: usize, j: usize, part: usize, h: usize| (bi * t + j) * 3 * hid + part * hid + h * d;
    for bi in 0..b {
        let keys: Vec<usize> = (0..t).filter(|&j| mask[bi * t + j] != 0).collect();
        for h in 0..heads {
            // Only real query rows (they are also the valid keys) carry loss.
            for &i in &keys {
                let q = &qkv[at(bi, i, 0, h)..][..d];
                let g = &dout[(bi * t + i) * hid + h * d..][..d];
                let s: Vec<f64> = keys
                    .iter()
                    .map(|&j| {
                        let k = &qkv[at(bi, j, 1, h)..][..d];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() * scale
                            - slopes[h] as f64 * i.abs_diff(j) as f64
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                let p: Vec<f64> = s.iter().map(|v| (v - m).exp() / z).collect();
                // D_i = dO_i · O_i.
                let mut o = vec![0f64; d];
                for (pj, &j) in p.iter().zip(&keys) {
                    for (od, vd) in o.iter_mut().zip(&qkv[at(bi, j, 2, h)..][..d]) {
                        *od += pj * vd;
                    }
                }
                let delta: f64 = g.iter().zip(&o).map(|(a, b)| a * b).sum();
                for (pj, &j) in p.iter().zip(&keys) {
                    let v = &qkv[at(bi, j, 2, h)..][..d];
                    let dp: f64 = g.iter().zip(v).map(|(a, b)| a * b).sum();
                    let ds = pj * (dp - delta);
                    for dd in 0..d {
                        let (qd, kd) = (q[dd], qkv[at(bi, j, 1, h) + dd]);
                        grad[at(bi, i, 0, h) + dd] += scale * ds * kd;
                        grad[at(bi, j, 1, h) + dd] += scale * ds * qd;
                        grad[at(bi, j, 2, h) + dd] += pj * g[dd];
                    }
                }
            }
        }
    }
    grad
}

/// [`ref_attention_backward_f64`] on f32 inputs.
#[allow(clippy::too_many_arguments)]
pub fn ref_attention_backward(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    dout: &[f32],
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
) -> Vec<f64> {
    ref_attention_backward_f64(&widen(qkv), mask, slopes, &widen(dout), b, t, heads, d)
}

/// `|got - want| <= atol_rel * max|want| + rtol * |want|` element-wise, f64.
fn close_f64(what: &str, got: &[f64], want: &[f64], tol: Tol) -> Check {
    let max = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > tol.atol_rel * max + tol.rtol * w.abs() {
            return Err(format!(
                "{what}: element {i} is {g:e} but should be {w:e} (error {err:.3e}; max |want| {max:.3e})"
            ));
        }
    }
    Ok(())
}

/// Checks [`ref_attention_backward_f64`] against central finite differences
/// (eps 1e-6) of `L` through [`ref_attention_f64`], on every element of
/// qkv, and [`ref_attention_f64`] against the project's [`ref_attention`]
/// on the real rows. Keep the case small: 2 forwards per element.
pub fn check_reference_backward_by_finite_differences(
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let hid = heads * d;
    let qkv32 = rng.vec(b * t * 3 * hid, 2.0);
    let dout = widen(&rng.vec(b * t * hid, 1.0));
    let mask = mask_from_lengths(lens, t);
    let slopes: Vec<f32> = ops::alibi_slopes(heads).iter().map(|s| s * 16.0).collect();
    let qkv = widen(&qkv32);
    let what = format!("reference attention backward lens {lens:?} T {t} heads {heads} D {d}");

    // The f64 forward is the project's reference on the real rows.
    let (out, lse) = ref_attention_f64(&qkv, &mask, &slopes, b, t, heads, d);
    let (r_out, r_lse) = ref_attention(&qkv32, &mask, &slopes, b, t, heads, d);
    let tight = Tol {
        rtol: 1e-12,
        atol_rel: 1e-12,
    };
    for (bi, &l) in lens.iter().enumerate() {
        let rows = bi * t * hid..(bi * t + l) * hid;
        close_f64(
            &format!("{what}: forward out, sequence {bi}"),
            &out[rows.clone()],
            &r_out[rows],
            tight,
        )?;
        for h in 0..heads {
            let rows = (bi * heads + h) * t..(bi * heads + h) * t + l;
            close_f64(
                &format!("{what}: forward lse, sequence {bi}"),
                &lse[rows.clone()],
                &r_lse[rows],
                tight,
            )?;
        }
    }

    let loss = |x: &[f64]| -> f64 {
        let (o, _) = ref_attention_f64(x, &mask, &slopes, b, t, heads, d);
        (0..b * t)
            .filter(|&r| mask[r] != 0)
            .map(|r| {
                (r * hid..(r + 1) * hid)
                    .map(|c| o[c] * dout[c])
                    .sum::<f64>()
            })
            .sum()
    };
    let grad = ref_attention_backward_f64(&qkv, &mask, &slopes, &dout, b, t, heads, d);
    let eps = 1e-6;
    let mut x = qkv.clone();
    let fd: Vec<f64> = (0..x.len())
        .map(|n| {
            let v = x[n];
            x[n] = v + eps;
            let up = loss(&x);
            x[n] = v - eps;
            let down = loss(&x);
            x[n] = v;
            (up - down) / (2.0 * eps)
        })
        .collect();
    // f64 central differences: truncation ~eps^2, rounding ~1e-16 |L| / eps.
    close_f64(
        &format!("{what}: analytic vs finite differences"),
        &grad,
        &fd,
        Tol {
            rtol: 1e-7,
            atol_rel: 1e-8,
        },
    )
}

/// `ops::attention_backward` on `dev` (padded batch with the given valid
/// lengths, forward also run on `dev`) vs the f64 reference, padded tokens
/// included (they must be exactly 0).
pub async fn check_attention_backward(
    dev: &Device,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let (got, want) = run_both(dev, lens, t, heads, d, seed, true).await?;
    let want = want.ok_or("no reference")?;
    compare(
        &format!(
            "attention_backward lens {lens:?} T {t} heads {heads} D {d} on {} vs f64",
            dev.name()
        ),
        &got,
        &want,
        &mask_from_lengths(lens, t),
        heads * d,
    )
}

/// Like [`check_attention_backward`] but against the CPU backend instead of
/// the f64 reference (for long sequences, where the O(T^2) f64 loop is slow).
pub async fn check_attention_backward_vs_cpu(
    dev: &Device,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let (got, _) = run_both(dev, lens, t, heads, d, seed, false).await?;
    let (cpu, _) = run_both(&Device::Cpu, lens, t, heads, d, seed, false).await?;
    compare(
        &format!(
            "attention_backward lens {lens:?} T {t} heads {heads} D {d} on {} vs the CPU",
            dev.name()
        ),
        &got,
        &widen(&cpu),
        &mask_from_lengths(lens, t),
        heads * d,
    )
}

/// The op's dqkv on `dev` and, if asked, the f64 reference's.
async fn run_both(
    dev: &Device,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
    reference: bool,
) -> Result<(Vec<f32>, Option<Vec<f64>>), String> {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let hid = heads * d;
    let qkv = rng.vec(b * t * 3 * hid, 2.0);
    let dout = rng.vec(b * t * hid, 1.0);
    let mask = mask_from_lengths(lens, t);
    let slopes = ops::alibi_slopes(heads);
    let tq = dev.tensor_f32(&[b, t, 3 * hid], &qkv).map_err(e)?;
    let tm = dev.tensor_u32(&[b, t], &mask).map_err(e)?;
    let ts = dev.tensor_f32(&[heads], &slopes).map_err(e)?;
    let tg = dev.tensor_f32(&[b, t, hid], &dout).map_err(e)?;
    let fwd = ops::attention(dev, &tq, &tm, &ts, heads).map_err(e)?;
    let dqkv =
        ops::attention_backward(dev, &tq, &tm, &ts, heads, &fwd.out, &fwd.lse, &tg).map_err(e)?;
    let got = read(dev, &dqkv).await?;
    let want =
        reference.then(|| ref_attention_backward(&qkv, &mask, &slopes, &dout, b, t, heads, d));
    Ok((got, want))
}

/// Compares the whole dqkv with `Tol::F32`, and requires exact zeros on
/// padded tokens. The absolute part of the tolerance comes from the whole
/// gradient, not from dq alone: dq_i = scale sum_j P_ij (dP_ij - D_i) k_j is
/// a sum of terms that cancel (exactly, for a row with one valid key, where
/// the true dq is 0 and f32 leaves ~1e-7 of rounding), so dq's own maximum
/// can be 0.
fn compare(what: &str, got: &[f32], want: &[f64], mask: &[u32], hid: usize) -> Check {
    let width = 3 * hid;
    if got.len() != mask.len() * width || want.len() != got.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            mask.len() * width
        ));
    }
    for (row, &m) in mask.iter().enumerate() {
        let values = &got[row * width..(row + 1) * width];
        if m == 0 {
            if let Some(c) = values.iter().position(|&v| v != 0.0) {
                return Err(format!(
                    "{what}: padded token row {row} has {} at column {c} (of dq | dk | dv, {hid} each), not 0",
                    values[c]
                ));
            }
        }
    }
    crate::testing::check_close(
        &format!("{what}: dqkv rows of dq | dk | dv, {hid} each"),
        got,
        want,
        Tol::F32,
    )
}
