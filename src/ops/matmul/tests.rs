//! The native tests of `ops::matmul`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::ops::{self, Epilogue, Matmul, MatmulKernel};
use crate::testing::{coop_gpu, gpu, run};
use crate::Device;

/// Every operand layout: A and B each as stored or transposed.
const LAYOUTS: [Matmul; 4] = [
    Matmul::NN,
    Matmul::NT,
    Matmul::TN,
    Matmul {
        trans_a: true,
        trans_b: true,
        epilogue: Epilogue::None,
    },
];

const ODD: [usize; 6] = [1, 7, 63, 65, 127, 129];

#[test]
fn matmul_all_layouts_and_odd_sizes() {
    let Some(dev) = gpu() else { return };
    let mut seed = 0;
    for spec in LAYOUTS {
        for &m in &ODD {
            for &(n, k) in &[(65, 17), (1, 129), (127, 64), (64, 1)] {
                seed += 1;
                run(check_matmul(&dev, None, m, n, k, spec, false, seed));
            }
        }
    }
}

#[test]
fn matmul_batched_bias_and_gelu() {
    let Some(dev) = gpu() else { return };
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        run(check_matmul(
            &dev,
            Some(3),
            65,
            63,
            129,
            spec,
            true,
            100 + i as u64,
        ));
        let gelu = Matmul {
            epilogue: Epilogue::Gelu,
            ..spec
        };
        run(check_matmul(
            &dev,
            Some(2),
            7,
            129,
            33,
            gelu,
            true,
            200 + i as u64,
        ));
        run(check_matmul(
            &dev,
            None,
            127,
            65,
            31,
            gelu,
            false,
            300 + i as u64,
        ));
    }
}

/// The tiled kernel (vec4 operands) on every layout, at multiples of 4 that
/// are not multiples of its 128 x 128 x 8 tile, one below, one above.
#[test]
fn tiled_matmul_all_layouts_and_partial_tiles() {
    let Some(dev) = gpu() else { return };
    let mut seed = 400;
    for bk in [8, 16] {
        let tiled = Some(MatmulKernel::Tiled { bk });
        for spec in LAYOUTS {
            for &(m, n, k) in &[(4, 4, 4), (132, 124, 12), (128, 256, 8), (260, 132, 36)] {
                seed += 1;
                run(check_matmul_on(
                    &dev, tiled, None, m, n, k, spec, false, seed,
                ));
            }
        }
    }
    let tiled = Some(MatmulKernel::TILED);
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        let gelu = Matmul {
            epilogue: Epilogue::Gelu,
            ..spec
        };
        let seed = 500 + i as u64;
        run(check_matmul_on(
            &dev,
            tiled,
            Some(3),
            68,
            136,
            20,
            spec,
            true,
            seed,
        ));
        run(check_matmul_on(
            &dev,
            tiled,
            Some(2),
            132,
            8,
            44,
            gelu,
            true,
            seed,
        ));
        run(check_matmul_on(
            &dev, tiled, None, 8, 132, 1028, gelu, false, seed,
        ));
    }
}

/// B stored as f16 (weights at half the size) through both kernels: every
/// layout, odd sizes (an odd count of f16s ends mid-word) on the basic
/// kernel, partial tiles, a batch, bias and GELU on the tiled one.
#[test]
fn matmul_with_f16_b_all_layouts() {
    let Some(dev) = gpu() else { return };
    let mut seed = 900;
    for spec in LAYOUTS {
        for &(m, n, k) in &[(7, 65, 17), (65, 1, 129), (1, 127, 63)] {
            seed += 1;
            run(check_matmul_f16_b(
                &dev,
                Some(MatmulKernel::Basic),
                None,
                m,
                n,
                k,
                spec,
                false,
                seed,
            ));
        }
        for &(m, n, k) in &[(132, 124, 12), (260, 132, 36)] {
            seed += 1;
            run(check_matmul_f16_b(
                &dev,
                Some(MatmulKernel::TILED),
                None,
                m,
                n,
                k,
                spec,
                false,
                seed,
            ));
        }
    }
    let gelu = Matmul {
        epilogue: Epilogue::Gelu,
        ..Matmul::NT
    };
    for kernel in [MatmulKernel::Basic, MatmulKernel::TILED] {
        run(check_matmul_f16_b(
            &dev,
            Some(kernel),
            Some(3),
            68,
            136,
            20,
            gelu,
            true,
            950,
        ));
    }
}

/// Half-precision activations (A, B and C f16) on the tiled and the basic
/// kernel: every layout, odd sizes (basic), partial tiles, a batch, bias
/// and GELU, split K (partial sums in f32, the epilogue after them, then
/// rounded), and the kernel `matmul` picks.
#[test]
fn matmul_half_activations() {
    let devices = crate::testing::half_devices();
    let tiled = Some(MatmulKernel::TILED);
    let gelu = Matmul {
        epilogue: Epilogue::Gelu,
        ..Matmul::NT
    };
    for dev in &devices {
        let mut seed = 1300;
        // M x K = 4: an f16 A of 8 bytes, under a vec4 binding's 16.
        run(check_matmul_half(
            dev,
            tiled,
            None,
            1,
            4,
            4,
            Matmul::NT,
            false,
            1299,
        ));
        for spec in LAYOUTS {
            for &(m, n, k) in &[(4, 4, 4), (8, 68, 20), (132, 124, 12), (260, 132, 36)] {
                seed += 1;
                run(check_matmul_half(
                    dev, tiled, None, m, n, k, spec, false, seed,
                ));
            }
        }
        let basic = Some(MatmulKernel::Basic);
        for spec in LAYOUTS {
            for &(m, n, k) in &[(1, 1, 1), (7, 65, 17), (65, 3, 129)] {
                seed += 1;
                run(check_matmul_half(
                    dev, basic, None, m, n, k, spec, false, seed,
                ));
            }
        }
        run(check_matmul_half(
            dev,
            basic,
            Some(2),
            7,
            9,
            5,
            gelu,
            true,
            1349,
        ));
        run(check_matmul_half(
            dev,
            None,
            Some(3),
            68,
            136,
            20,
            gelu,
            true,
            1350,
        ));
        run(check_matmul_half(
            dev, None, None, 3, 136, 20, gelu, true, 1351,
        ));
        // Split K with and without the epilogue.
        for (i, spec) in [Matmul::TN, Matmul::NT, gelu].into_iter().enumerate() {
            let bias = i > 0;
            run(check_matmul_half(
                dev,
                tiled,
                None,
                132,
                124,
                2052,
                spec,
                bias,
                1360 + i as u64,
            ));
        }
    }
}

/// Half-precision activations on cooperative matrices (A, B, C f16; the
/// operands are already f16, so the tolerance is the f16 store's), with
/// split K, bias and GELU; devices with them only (the Mesa 26 root in CI).
#[test]
fn coop_matmul_half_activations() {
    let Some(dev) = coop_gpu() else { return };
    let coop = Some(MatmulKernel::Cooperative);
    let gelu = Matmul {
        epilogue: Epilogue::Gelu,
        ..Matmul::NT
    };
    for (i, spec) in LAYOUTS.into_iter().enumerate() {
        run(check_matmul_half(
            &dev,
            coop,
            None,
            68,
            132,
            36,
            spec,
            false,
            1370 + i as u64,
        ));
    }
    run(check_matmul_half(
        &dev,
        coop,
        Some(2),
        36,
        68,
        20,
        gelu,
        true,
        1375,
    ));
    run(check_matmul_half(
        &dev, coop, None, 132, 124, 2052, gelu, true, 1376,
    ));
}

/// Half-precision activations are refused with an f32 B (they multiply f16
/// weights).
#[test]
fn matmul_half_activations_refused() {
    let Some(dev) = crate::testing::half_devices()
        .into_iter()
        .find(Device::is_gpu)
    else {
        return;
    };
    let a4 = dev.tensor_f16(&[4, 4], &[0.5; 16]).unwrap();
    let b32 = dev.tensor_f32(&[4, 4], &[0.25; 16]).unwrap();
    let err = ops::matmul(&dev, &a4, &b32, None, Matmul::NN)
        .unwrap_err()
        .to_string();
    assert!(err.contains("F16"), "{err}");
}

/// Few output tiles and a long K: the tiled kernel splits K into ranges and
/// sums the partial products (weight gradients), on every layout, with a
/// last range shorter than the others.
#[test]
fn tiled_matmul_split_k() {
    let Some(dev) = gpu() else { return };
    let d = crate::ops::matmul::MatmulDims::of(&[2052, 132], &[2052, 124], Matmul::TN).unwrap();
    assert_eq!(crate::ops::matmul::split_k(&d, false), 4);
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        for bk in [8, 16] {
            run(check_matmul_on(
                &dev,
                Some(MatmulKernel::Tiled { bk }),
                None,
                132,
                124,
                2052,
                spec,
                false,
                700 + i as u64,
            ));
        }
    }
    // The epilogue (bias, then GELU) follows the sum of the ranges, also
    // with f16 weights.
    let tiled = Some(MatmulKernel::TILED);
    let gelu = Matmul {
        epilogue: Epilogue::Gelu,
        ..Matmul::NT
    };
    for (i, spec) in [Matmul::NT, gelu].into_iter().enumerate() {
        let seed = 710 + i as u64;
        run(check_matmul_on(
            &dev, tiled, None, 132, 124, 2052, spec, true, seed,
        ));
        run(check_matmul_f16_b(
            &dev, tiled, None, 132, 124, 2052, spec, true, seed,
        ));
    }
}

/// What `matmul` picks on its own gives the same results, and sizes the
/// tiled kernel cannot take are refused when it is asked for.
#[test]
fn tiled_matmul_chosen_and_refused() {
    let Some(dev) = gpu() else { return };
    let d = crate::ops::matmul::MatmulDims::of(&[256, 64], &[128, 64], Matmul::NT).unwrap();
    assert_eq!(MatmulKernel::pick(&d, Matmul::NT), MatmulKernel::TILED);
    run(check_matmul(
        &dev,
        None,
        256,
        132,
        64,
        Matmul::NT,
        true,
        600,
    ));
    let a = dev.tensor_f32(&[8, 6], &[0.0; 48]).unwrap();
    let b = dev.tensor_f32(&[6, 8], &[0.0; 48]).unwrap();
    let err = crate::ops::matmul_with(&dev, &a, &b, None, Matmul::NN, Some(MatmulKernel::TILED))
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiples of 4"), "{err}");
}

#[test]
fn matmul_long_inner_dimension() {
    let Some(dev) = gpu() else { return };
    run(check_matmul(&dev, None, 5, 7, 40000, Matmul::NT, true, 60));
    run(check_matmul(&dev, None, 3, 9, 3072, Matmul::TN, false, 61));
}

#[test]
fn matmul_matches_f64() {
    let mut seed = 0;
    for spec in [
        Matmul::NN,
        Matmul::NT,
        Matmul::TN,
        Matmul {
            epilogue: Epilogue::Gelu,
            ..Matmul::NT
        },
    ] {
        for &(b, m, n, k) in &[
            (None, 1, 1, 1),
            (None, 63, 65, 129),
            (Some(3), 17, 5, 300),
            (None, 200, 300, 257),
        ] {
            seed += 1;
            run(check_matmul(
                &Device::Cpu,
                b,
                m,
                n,
                k,
                spec,
                seed % 2 == 0,
                seed,
            ));
        }
    }
}

/// The CPU backend's matmul with B stored as f16 against the f64 product
/// of the f16 values.
#[test]
fn matmul_with_f16_b_matches_f64() {
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        run(check_matmul_f16_b(
            &Device::Cpu,
            None,
            Some(2),
            63,
            65,
            129,
            spec,
            i == 1,
            40 + i as u64,
        ));
    }
}

/// The cooperative-matrix kernel (f16 operands, f32 sums) on every layout,
/// at multiples of 4 around its tile (4 blocks a side: 32 or 64), with B in
/// f32 and in f16, a batch, bias and GELU, and a split K. Runs where the
/// adapter has cooperative matrices (scripts/test.sh runs it on a lavapipe
/// that has them; `DNAGPU_REQUIRE_COOP=1` fails rather than skips).
#[test]
fn coop_matmul_all_layouts_partial_tiles_and_epilogues() {
    let Some(dev) = coop_gpu() else { return };
    let coop = Some(MatmulKernel::Cooperative);
    let mut seed = 1300;
    for spec in LAYOUTS {
        for &(m, n, k) in &[(4, 4, 4), (36, 28, 12), (68, 132, 20), (132, 68, 100)] {
            seed += 1;
            run(check_matmul_on(
                &dev, coop, None, m, n, k, spec, false, seed,
            ));
            run(check_matmul_f16_b(
                &dev, coop, None, m, n, k, spec, false, seed,
            ));
        }
    }
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        let gelu = Matmul {
            epilogue: Epilogue::Gelu,
            ..spec
        };
        let seed = 1400 + i as u64;
        run(check_matmul_on(
            &dev,
            coop,
            Some(3),
            68,
            136,
            20,
            spec,
            true,
            seed,
        ));
        run(check_matmul_f16_b(
            &dev,
            coop,
            Some(2),
            36,
            8,
            44,
            gelu,
            true,
            seed,
        ));
        run(check_matmul_on(
            &dev, coop, None, 8, 68, 1028, gelu, false, seed,
        ));
    }
    // A long K over few tiles: split into ranges, summed, then the bias.
    let d = crate::ops::matmul::MatmulDims::of(&[2052, 36], &[2052, 28], Matmul::TN).unwrap();
    assert!(crate::ops::matmul::split_k(&d, true) > 1);
    run(check_matmul_on(
        &dev,
        coop,
        None,
        36,
        28,
        2052,
        Matmul::TN,
        true,
        1500,
    ));
}

/// Unrounded f32 operands: the kernel rounds them to f16, within the bound
/// of that rounding (`check_matmul_coop_rounding`).
#[test]
fn coop_matmul_rounds_operands_to_f16() {
    let Some(dev) = coop_gpu() else { return };
    run(check_matmul_coop_rounding(&dev, 68, 36, 200, 1600));
}

/// Weights stored in f16 (`--precision f16`) take the cooperative kernel
/// where the device has it, as does `matmul_half` with f32 operands; f32
/// weights take the tiled or basic one, and with the kernels switched off
/// (`DNAGPU_COOP=off`) f16 weights too.
#[test]
fn coop_matmul_is_chosen_for_f16_weights_only() {
    let Some(dev) = coop_gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!() };
    let mut rng = crate::testing::Rng::new(1701);
    let x = dev.tensor_f32(&[40, 36], &rng.vec(40 * 36, 1.0)).unwrap();
    let w32 = rng.vec(68 * 36, 1.0);
    let w16 = dev.tensor_f16(&[68, 36], &w32).unwrap();
    let w32 = dev.tensor_f32(&[68, 36], &w32).unwrap();
    let kernels_of = |w: &crate::Tensor| {
        g.set_profiling(true).unwrap();
        crate::ops::matmul(&dev, &x, w, None, Matmul::NT).unwrap();
        let (rows, _) = g.profile_rows().unwrap();
        g.set_profiling(false).unwrap();
        rows.iter().map(|r| r.0).collect::<Vec<_>>()
    };
    let cooperative = |names: &[&str]| names.iter().any(|n| n.contains("cooperative"));
    g.set_profiling(true).unwrap();
    crate::ops::matmul_half(&dev, &x, &w32, None, Matmul::NT).unwrap();
    let (half_rows, _) = g.profile_rows().unwrap();
    g.set_profiling(false).unwrap();
    let half_names: Vec<&str> = half_rows.iter().map(|r| r.0).collect();
    assert!(cooperative(&half_names), "matmul_half: {half_names:?}");
    assert!(
        cooperative(&kernels_of(&w16)),
        "f16 weights: {:?}",
        kernels_of(&w16)
    );
    assert!(
        !cooperative(&kernels_of(&w32)),
        "f32 weights: {:?}",
        kernels_of(&w32)
    );
    assert!(!g.set_cooperative_matrices(false));
    let off = kernels_of(&w16);
    assert!(g.set_cooperative_matrices(true));
    assert!(!cooperative(&off), "switched off: {off:?}");
}
