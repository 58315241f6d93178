//! The checks of `ops::dropout` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{e, read, Check, Rng};
use crate::Device;

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
    let scale = crate::ops::dropout::cpu::keep_scale(p);
    for i in (0..n).step_by((n / 4096).max(1)) {
        let keep = crate::ops::dropout::cpu::dropout_uniform(seed, stream, i as u32) >= p;
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
