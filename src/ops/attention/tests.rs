//! The native tests of `ops::attention`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::alibi_slopes;
use super::check::*;
use crate::ops::AttentionKernel;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn attention_padded_batches_and_head_counts() {
    let Some(dev) = gpu() else { return };
    let mut rng = crate::testing::Rng::new(7);
    for (seed, &(b, tt, heads, d)) in [
        (3, 1, 1, 8),
        (3, 7, 2, 16),
        (4, 65, 2, 32),
        (2, 129, 1, 64),
        (2, 63, 12, 8),
        (2, 200, 12, 16),
        (1, 70, 3, 128),
    ]
    .iter()
    .enumerate()
    {
        let lens = crate::testing::random_lengths(&mut rng, b, tt, true);
        run(check_attention(&dev, &lens, tt, heads, d, seed as u64));
    }
}

/// (valid lengths, T, heads) at head dim 64: one token; a padded pair; a
/// row of only padding with lengths off the tiles; a long pair, 12 heads.
fn head_dim_64_cases() -> [(Vec<usize>, usize, usize); 4] {
    [
        (vec![1], 1, 1),
        (vec![5, 3], 5, 2),
        (vec![97, 40, 0], 97, 3),
        (vec![130, 129], 130, 12),
    ]
}

/// Both forward kernels at the model's head dim: padded batches (a row of
/// only padding included), lengths that are not multiples of the 64-row and
/// 32-key tiles, several heads.
#[test]
fn attention_kernels_at_head_dim_64() {
    let Some(dev) = gpu() else { return };
    for kernel in [AttentionKernel::Rows, AttentionKernel::Tiled] {
        for (seed, (lens, tt, heads)) in head_dim_64_cases().into_iter().enumerate() {
            run(check_attention_on(
                &dev,
                Some(kernel),
                &lens,
                tt,
                heads,
                64,
                80 + seed as u64,
            ));
        }
    }
}

#[test]
fn attention_long_sequences() {
    let Some(dev) = gpu() else { return };
    for (seed, &tt) in [1000usize, 4096].iter().enumerate() {
        run(check_attention(&dev, &[tt], tt, 1, 8, 40 + seed as u64));
    }
    run(check_attention(&dev, &[2048, 1500], 2048, 2, 4, 50));
    // The model's head dim at a length where lavapipe's loop limiter bit an
    // earlier version of the kernel.
    run(check_attention(&dev, &[2048], 2048, 1, 64, 51));
}

#[test]
fn attention_padding_does_not_change_real_tokens() {
    let Some(dev) = gpu() else { return };
    run(check_attention_padding_invariance(
        &dev,
        &[70, 3, 64, 1],
        12,
        8,
        9,
    ));
    run(check_attention_padding_invariance(
        &dev,
        &[130, 0, 65],
        2,
        32,
        10,
    ));
}

#[test]
fn attention_matches_f64() {
    let mut rng = crate::testing::Rng::new(3);
    for (seed, &(b, tt, heads, d)) in [
        (1, 1, 1, 4),
        (3, 33, 12, 8),
        (2, 96, 2, 64),
        (2, 40, 3, 128),
    ]
    .iter()
    .enumerate()
    {
        let lens = crate::testing::random_lengths(&mut rng, b, tt, false);
        run(check_attention(
            &Device::Cpu,
            &lens,
            tt,
            heads,
            d,
            seed as u64,
        ));
    }
}

#[test]
fn attention_cpu_padding_invariance() {
    run(check_attention_padding_invariance(
        &Device::Cpu,
        &[50, 3, 17],
        12,
        8,
        4,
    ));
}

#[test]
fn slopes_follow_the_model_doc() {
    let want: Vec<f32> = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.5, 1.5, 2.5, 3.5]
        .iter()
        .map(|e: &f64| 2f64.powf(-e) as f32)
        .collect();
    assert_eq!(alibi_slopes(12), want);
    let eight: Vec<f32> = (1..=8).map(|e| 2f64.powi(-e) as f32).collect();
    assert_eq!(alibi_slopes(8), eight);
    assert_eq!(alibi_slopes(1), vec![2f32.powi(-8)]);
}

/// The cooperative-matrix forward (f16 q, k, v and probabilities, f32 sums
/// and statistics) against the CPU backend on f16-valued inputs, within the
/// bound of rounding the probabilities (`check_attention_on`): padded
/// batches with a row of only padding, lengths off its tiles (4 and 2
/// blocks: 64 x 32 or 32 x 16), several heads. Runs where the adapter has
/// cooperative matrices (scripts/test.sh runs it on a lavapipe that has
/// them).
#[test]
fn coop_attention_padded_batches_and_partial_tiles() {
    let Some(dev) = crate::testing::coop_gpu() else {
        return;
    };
    for (seed, (lens, tt, heads)) in head_dim_64_cases().into_iter().enumerate() {
        run(check_attention_on(
            &dev,
            Some(AttentionKernel::Cooperative),
            &lens,
            tt,
            heads,
            64,
            1800 + seed as u64,
        ));
    }
}

/// The cooperative forward on half-precision activations. Besides its
/// output it rounds the probabilities to f16 (2^-11 relative each), which
/// moves an output by up to 2^-11 max|v|: held to 2^-7 of the largest
/// output (these outputs are at least a sixteenth of max|v|).
#[test]
fn coop_attention_half_activations() {
    let Some(dev) = crate::testing::coop_gpu() else {
        return;
    };
    let tol = crate::testing::Tol {
        rtol: crate::testing::Tol::F16_STORED.rtol,
        atol_rel: 1.0 / 128.0,
    };
    for (i, &(b, t, heads)) in [(2, 70, 2), (1, 33, 3)].iter().enumerate() {
        let mut rng = crate::testing::Rng::new(1650 + i as u64);
        let qkv = rng.vec(b * t * 3 * heads * 64, 1.0);
        let mask: Vec<u32> = (0..b * t)
            .map(|j| u32::from(j % t < t - 3 * (j / t)))
            .collect();
        let slopes = alibi_slopes(heads);
        let what = format!("cooperative attention B {b} T {t} heads {heads}");
        let inputs = [(vec![b, t, 3 * heads * 64], qkv)];
        run(crate::testing::half::check_half_op_within(
            &what,
            &dev,
            &inputs,
            tol,
            |dv, x| {
                let m = dv.tensor_u32(&[b, t], &mask)?;
                let s = dv.tensor_f32(&[heads], &slopes)?;
                let kernel = dv.is_gpu().then_some(AttentionKernel::Cooperative);
                Ok(crate::ops::attention_with(dv, &x[0], &m, &s, heads, kernel)?.out)
            },
        ));
    }
}

/// The materialised probabilities: odd sizes, padded batches with a row of
/// only padding, head subsets, ALiBi and plain, head dims up to 128, a long
/// row (the kernel's strided key loop and lavapipe's loop limiter).
#[test]
fn attention_probs_padded_batches_and_head_subsets() {
    let mut rng = crate::testing::Rng::new(17);
    let cases: [(usize, usize, usize, usize, std::ops::Range<usize>, bool); 7] = [
        (1, 1, 1, 4, 0..1, true),
        (3, 7, 2, 16, 0..2, true),
        (2, 33, 12, 8, 3..7, true),
        (3, 65, 3, 64, 1..3, false),
        (2, 40, 3, 128, 0..3, true),
        (2, 300, 2, 32, 1..2, true),
        (1, 257, 1, 64, 0..1, false),
    ];
    for dev in [Some(Device::Cpu), gpu()].into_iter().flatten() {
        for (seed, (b, tt, heads, d, range, alibi)) in cases.iter().cloned().enumerate() {
            let lens = crate::testing::random_lengths(&mut rng, b, tt, true);
            run(check_attention_probs(
                &dev,
                &lens,
                tt,
                heads,
                d,
                range,
                alibi,
                seed as u64,
            ));
        }
        run(check_attention_probs(
            &dev,
            &[5, 0, 3],
            5,
            2,
            8,
            0..2,
            true,
            99,
        ));
    }
}

#[test]
fn attention_probs_long_row() {
    let Some(dev) = gpu() else { return };
    run(check_attention_probs(
        &dev,
        &[2048, 1031],
        2048,
        2,
        64,
        1..2,
        true,
        61,
    ));
}

/// A head range outside the model's heads is an error naming the op.
#[test]
fn attention_probs_bad_head_range_is_an_error() {
    let dev = Device::Cpu;
    let qkv = dev.tensor_f32(&[1, 2, 24], &[0.0; 48]).unwrap();
    let mask = dev.tensor_u32(&[1, 2], &[1, 1]).unwrap();
    let slopes = dev.tensor_f32(&[2], &[0.0; 2]).unwrap();
    for range in [1..3, 1..1] {
        let err = crate::ops::attention_probs(&dev, &qkv, &mask, &slopes, 2, range)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("attention_probs") && err.contains("0..2"),
            "{err}"
        );
    }
}

/// Half-precision activations: f16 qkv in, f16 context out (log-sum-exp
/// f32), on the tiled kernel (head dim 64) and the row kernel (other head
/// dims), with padded batches and ALiBi.
#[test]
fn attention_half_activations() {
    let devices = crate::testing::half_devices();
    for dev in &devices {
        for (i, &(b, t, heads, d, kernel)) in [
            (2, 70, 2, 64, AttentionKernel::Tiled),
            (3, 33, 3, 64, AttentionKernel::Rows),
            (2, 65, 2, 20, AttentionKernel::Rows),
        ]
        .iter()
        .enumerate()
        {
            let mut rng = crate::testing::Rng::new(1600 + i as u64);
            let qkv = rng.vec(b * t * 3 * heads * d, 1.0);
            // Padding at the end of every sequence but the first.
            let mask: Vec<u32> = (0..b * t)
                .map(|j| u32::from(j / t == 0 || j % t < t - 5 * (j / t)))
                .collect();
            let slopes = alibi_slopes(heads);
            let what = format!("attention B {b} T {t} heads {heads} D {d} {kernel:?}");
            let inputs = [(vec![b, t, 3 * heads * d], qkv)];
            run(crate::testing::half::check_half_op(
                &what,
                dev,
                &inputs,
                |dv, x| {
                    let m = dv.tensor_u32(&[b, t], &mask)?;
                    let s = dv.tensor_f32(&[heads], &slopes)?;
                    Ok(crate::ops::attention_with(dv, &x[0], &m, &s, heads, Some(kernel))?.out)
                },
            ));
        }
    }
}
