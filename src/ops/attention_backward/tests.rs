//! The native tests of `ops::attention_backward`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

#[test]
fn reference_backward_matches_finite_differences() {
    check_reference_backward_by_finite_differences(&[5, 3, 0], 5, 2, 3, 1).unwrap();
    check_reference_backward_by_finite_differences(&[4], 4, 1, 8, 2).unwrap();
}

/// (lens, T, heads, D) cases: T around the tiles, head dims 64, 32 and 8,
/// padded batches with a sequence of length 0.
fn cases() -> Vec<(Vec<usize>, usize, usize, usize)> {
    let mut v = Vec::new();
    for (n, &t) in [1usize, 7, 63, 65, 129].iter().enumerate() {
        for (m, &d) in [64usize, 32, 8].iter().enumerate() {
            let lens = match (n + m) % 3 {
                0 => vec![t, 0, t.div_ceil(2)],
                1 => vec![t, t.saturating_sub(1), 0],
                _ => vec![t, 0],
            };
            v.push((lens, t, 1 + (n + m) % 3, d));
        }
    }
    v
}

#[test]
fn cpu_matches_f64_reference() {
    for (seed, (lens, t, heads, d)) in cases().into_iter().enumerate() {
        run(check_attention_backward(
            &Device::Cpu,
            &lens,
            t,
            heads,
            d,
            seed as u64,
        ));
    }
    run(check_attention_backward(
        &Device::Cpu,
        &[300, 17],
        300,
        2,
        16,
        90,
    ));
}

#[test]
fn gpu_matches_f64_reference() {
    let Some(dev) = gpu() else { return };
    for (seed, (lens, t, heads, d)) in cases().into_iter().enumerate() {
        run(check_attention_backward(
            &dev,
            &lens,
            t,
            heads,
            d,
            100 + seed as u64,
        ));
    }
}

#[test]
fn gpu_matches_f64_reference_at_t300() {
    let Some(dev) = gpu() else { return };
    run(check_attention_backward(&dev, &[300, 211], 300, 2, 64, 200));
}

/// T = 4096 at D = 8, and the model's head dim at T = 2048: past the 65,535
/// loop iterations per invocation that lavapipe allows, if a kernel looped
/// per key and feature with runtime bounds.
#[test]
fn gpu_long_sequences_match_cpu() {
    let Some(dev) = gpu() else { return };
    run(check_attention_backward_vs_cpu(
        &dev,
        &[4096],
        4096,
        1,
        8,
        300,
    ));
    run(check_attention_backward_vs_cpu(
        &dev,
        &[2048],
        2048,
        1,
        64,
        301,
    ));
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let dev = Device::Cpu;
    let (b, t, heads, d) = (2, 5, 2, 4);
    let hid = heads * d;
    let f = |shape: &[usize]| {
        dev.tensor_f32(shape, &vec![0.0; shape.iter().product()])
            .unwrap()
    };
    let qkv = f(&[b, t, 3 * hid]);
    let mask = dev.tensor_u32(&[b, t], &[1; 10]).unwrap();
    let slopes = f(&[heads]);
    let (out, lse, dout) = (f(&[b, t, hid]), f(&[b, heads, t]), f(&[b, t, hid]));
    let bad_mask = f(&[b, t]);
    let cases = [
        (&f(&[b, t, 3 * hid + 1]), &mask, &slopes, &out, &lse, &dout),
        (&qkv, &mask, &f(&[heads + 1]), &out, &lse, &dout),
        (&qkv, &mask, &slopes, &f(&[b, t, hid + 1]), &lse, &dout),
        (&qkv, &mask, &slopes, &out, &f(&[b, t, heads]), &dout),
        (&qkv, &mask, &slopes, &out, &lse, &f(&[b, t + 1, hid])),
        (&qkv, &bad_mask, &slopes, &out, &lse, &dout),
    ];
    for (i, (q, m, s, o, l, g)) in cases.into_iter().enumerate() {
        let err = crate::ops::attention_backward(&dev, q, m, s, heads, o, l, g)
            .err()
            .unwrap_or_else(|| panic!("case {i} was accepted"));
        assert!(
            err.to_string().contains("attention_backward"),
            "case {i}: {err}"
        );
    }
    let fine = crate::ops::attention_backward(&dev, &qkv, &mask, &slopes, heads, &out, &lse, &dout);
    assert_eq!(fine.unwrap().shape(), [b, t, 3 * hid]);
}

/// Training with half-precision activations: qkv and the output O are the
/// forward's saved f16 activations; lse, dO and dqkv f32. O and lse come
/// from the CPU forward on the rounded qkv.
#[test]
fn attention_backward_f16_saved() {
    use crate::ops;
    use crate::testing::half::{check_saved_half_op, SavedInput};
    use crate::testing::{mask_from_lengths, Rng, Tol};
    for dev in &crate::testing::half_devices() {
        for (seed, (lens, t, heads, d)) in cases().into_iter().enumerate() {
            let mut rng = Rng::new(1900 + seed as u64);
            let (b, hid) = (lens.len(), heads * d);
            let qkv: Vec<f32> = rng
                .vec(b * t * 3 * hid, 2.0)
                .into_iter()
                .map(|x| half::f16::from_f32(x).to_f32())
                .collect();
            let mask = mask_from_lengths(&lens, t);
            let slopes = ops::alibi_slopes(heads);
            let cpu = &Device::Cpu;
            let fwd = ops::attention(
                cpu,
                &cpu.tensor_f32(&[b, t, 3 * hid], &qkv).unwrap(),
                &cpu.tensor_u32(&[b, t], &mask).unwrap(),
                &cpu.tensor_f32(&[heads], &slopes).unwrap(),
                heads,
            )
            .unwrap();
            let out = pollster::block_on(cpu.read_f32(&fwd.out)).unwrap();
            let lse = pollster::block_on(cpu.read_f32(&fwd.lse)).unwrap();
            let inputs = [
                SavedInput::saved(&[b, t, 3 * hid], qkv),
                SavedInput::saved(&[b, t, hid], out),
                SavedInput::grad(&[b, heads, t], lse),
                SavedInput::grad(&[b, t, hid], rng.vec(b * t * hid, 1.0)),
            ];
            run(check_saved_half_op(
                &format!("attention_backward lens {lens:?} T {t} heads {heads} D {d}"),
                dev,
                &inputs,
                Tol::F32,
                |dv, x| {
                    let mask = dv.tensor_u32(&[b, t], &mask)?;
                    let slopes = dv.tensor_f32(&[heads], &slopes)?;
                    Ok(vec![ops::attention_backward(
                        dv, &x[0], &mask, &slopes, heads, &x[1], &x[2], &x[3],
                    )?])
                },
            ));
        }
    }
}

/// The backward on cooperative matrices (f16 q, k, v, dO, P and dS; f32
/// sums) against the CPU backend on the same f16-valued inputs, saved qkv
/// and O in f32 and in f16: padded batches with a sequence of only
/// padding, lengths off the tiles (2CS rows and keys), several heads.
/// Rounding P and dS to f16 (2^-11 relative each) moves a gradient by a
/// few 2^-11 of the terms it sums: held to 2^-9 of the largest gradient
/// (measured on lavapipe, 8 x 8 blocks: 5.2e-4).
/// Runs where the adapter has cooperative matrices (scripts/test.sh runs it
/// on a lavapipe that has them).
#[test]
fn coop_attention_backward_matches_the_cpu() {
    use crate::ops;
    use crate::testing::{check_close, coop_gpu, mask_from_lengths, read, widen, Rng, Tol};
    let Some(dev) = coop_gpu() else {
        return;
    };
    let tol = Tol {
        rtol: 1.0 / 512.0,
        atol_rel: 1.0 / 512.0,
    };
    let cpu = &Device::Cpu;
    let round = |v: Vec<f32>| -> Vec<f32> {
        v.into_iter()
            .map(|x| half::f16::from_f32(x).to_f32())
            .collect()
    };
    for (seed, (lens, t, heads)) in [
        (vec![70, 0, 33], 70, 2),
        (vec![33], 33, 3),
        (vec![5, 64], 64, 1),
        (vec![130, 129], 130, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = Rng::new(2100 + seed as u64);
        let (b, hid) = (lens.len(), heads * 64);
        let qkv = round(rng.vec(b * t * 3 * hid, 2.0));
        let dout = round(rng.vec(b * t * hid, 1.0));
        let mask = mask_from_lengths(&lens, t);
        let slopes = ops::alibi_slopes(heads);
        let fwd = ops::attention(
            cpu,
            &cpu.tensor_f32(&[b, t, 3 * hid], &qkv).unwrap(),
            &cpu.tensor_u32(&[b, t], &mask).unwrap(),
            &cpu.tensor_f32(&[heads], &slopes).unwrap(),
            heads,
        )
        .unwrap();
        let out = round(pollster::block_on(cpu.read_f32(&fwd.out)).unwrap());
        let lse = pollster::block_on(cpu.read_f32(&fwd.lse)).unwrap();
        for saved_half in [false, true] {
            let run = |d: &Device, coop: bool| -> Vec<f32> {
                let saved = |shape: &[usize], v: &[f32]| {
                    if saved_half && d.is_gpu() {
                        d.tensor_f16(shape, v)
                    } else {
                        d.tensor_f32(shape, v)
                    }
                };
                let dqkv = ops::attention_backward_with(
                    d,
                    &saved(&[b, t, 3 * hid], &qkv).unwrap(),
                    &d.tensor_u32(&[b, t], &mask).unwrap(),
                    &d.tensor_f32(&[heads], &slopes).unwrap(),
                    heads,
                    &saved(&[b, t, hid], &out).unwrap(),
                    &d.tensor_f32(&[b, heads, t], &lse).unwrap(),
                    &d.tensor_f32(&[b, t, hid], &dout).unwrap(),
                    coop,
                )
                .unwrap();
                pollster::block_on(read(d, &dqkv)).unwrap()
            };
            let want = run(cpu, false);
            let got = run(&dev, true);
            let what = format!(
                "cooperative attention backward lens {lens:?} T {t} heads {heads}, saved f16 {saved_half}"
            );
            // Padded tokens get exact zeros.
            for (row, &m) in mask.iter().enumerate() {
                let w = &got[row * 3 * hid..(row + 1) * 3 * hid];
                assert!(
                    m != 0 || w.iter().all(|&v| v == 0.0),
                    "{what}: padded token {row} has a nonzero gradient"
                );
            }
            check_close(&what, &got, &widen(&want), tol).unwrap();
        }
    }
}
