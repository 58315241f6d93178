//! The checks of `ops::cast` (feature `test-utils`) that its native tests
//! (`tests.rs`) drive: the op on any device against `half`'s rounding.

use crate::ops;
use crate::testing::{e, Check, Rng};
use crate::Device;

/// Values that probe every branch of the rounding: random normals of each
/// scale, ties (halfway between two f16 values) in the normal and the
/// subnormal range, subnormals, values just under and past the largest f16
/// (65504; 65520 rounds to inf), ±0, ±inf and NaN; `n` of them (odd counts
/// end mid-word).
fn probes(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let fixed = [
        0.0,
        -0.0,
        1.0 + 2f32.powi(-11),       // tie, even below: 1.0
        1.0 + 3.0 * 2f32.powi(-11), // tie, odd below: rounds up
        2f32.powi(-25),             // half the smallest subnormal: 0
        1.5 * 2f32.powi(-25),       // above it: the smallest subnormal
        3.0 * 2f32.powi(-25),       // tie between subnormals 1 and 2: 2
        2f32.powi(-14) * 0.999,     // just under the smallest normal
        65504.0,
        65519.0,
        65520.0,
        -1e9,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-30,
    ];
    (0..n)
        .map(|i| match fixed.get(i) {
            Some(&v) => v,
            None => {
                let scale = 2f32.powi((i % 40) as i32 - 26);
                rng.vec(1, 1.0)[0] * scale
            }
        })
        .collect()
}

/// `to_f32` on `dev` gives back exactly the f32 values of `to_f16`'s
/// output (every rounding branch), at `n` elements.
pub async fn check_to_f32(dev: &Device, n: usize, seed: u64) -> Check {
    let x = probes(n, seed);
    let t = dev.tensor_f32(&[n], &x).map_err(e)?;
    let h = ops::to_f16(dev, &t).map_err(e)?;
    let y = ops::to_f32(dev, &h).map_err(e)?;
    let got = dev.read_f32(&y).await.map_err(e)?;
    for (i, (&v, &g)) in x.iter().zip(&got).enumerate() {
        let want = half::f16::from_f32(v).to_f32();
        if !(want.to_bits() == g.to_bits() || want.is_nan() && g.is_nan()) {
            return Err(format!(
                "to_f32 on {}: element {i} of {n}: {g} from {v}, expected {want}",
                dev.name()
            ));
        }
    }
    Ok(())
}

/// `to_f16` on `dev` equals `half::f16::from_f32` bit for bit (NaN: any
/// NaN), at `n` elements.
pub async fn check_to_f16(dev: &Device, n: usize, seed: u64) -> Check {
    let x = probes(n, seed);
    let t = dev.tensor_f32(&[n], &x).map_err(e)?;
    let y = ops::to_f16(dev, &t).map_err(e)?;
    let got = dev.read_f32(&y).await.map_err(e)?;
    for (i, (&v, &g)) in x.iter().zip(&got).enumerate() {
        let want = half::f16::from_f32(v);
        let same = if want.is_nan() {
            g.is_nan()
        } else {
            half::f16::from_f32(g).to_bits() == want.to_bits()
                && g.to_bits() == want.to_f32().to_bits()
        };
        if !same {
            return Err(format!(
                "to_f16 on {}: element {i} ({v:e}) became {g:e}, expected {:e}",
                dev.name(),
                want.to_f32()
            ));
        }
    }
    Ok(())
}
