//! The checks of `ops::pool` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::{self, PoolMode};
use crate::testing::{check_close, e, mask_from_lengths, read, Check, Rng, Tol};
use crate::Device;

/// Mean and max pooling over valid rows on `dev` vs f64.
pub async fn check_pool(dev: &Device, lens: &[usize], t: usize, hidden: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let x = rng.vec(b * t * hidden, 1.0);
    let mask = mask_from_lengths(lens, t);
    let tx = dev.tensor_f32(&[b, t, hidden], &x).map_err(e)?;
    let tm = dev.tensor_u32(&[b, t], &mask).map_err(e)?;
    for mode in [PoolMode::Mean, PoolMode::Max] {
        let got = read(dev, &ops::pool(dev, &tx, &tm, mode).map_err(e)?).await?;
        let mut want = vec![0f64; b * hidden];
        for bi in 0..b {
            for h in 0..hidden {
                let vals: Vec<f64> = (0..lens[bi])
                    .map(|i| x[(bi * t + i) * hidden + h] as f64)
                    .collect();
                want[bi * hidden + h] = match (mode, vals.is_empty()) {
                    (_, true) => 0.0,
                    (PoolMode::Mean, _) => vals.iter().sum::<f64>() / vals.len() as f64,
                    (PoolMode::Max, _) => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                };
            }
        }
        check_close(
            &format!("pool {mode:?} lens {lens:?} H {hidden} on {}", dev.name()),
            &got,
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}
