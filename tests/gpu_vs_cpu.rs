//! Every op on the GPU (lavapipe in CI) against the CPU backend, on random
//! inputs with sizes that are not multiples of the tiles (64 and 128 for the
//! matmuls, 64 for attention rows, 256 for element-wise and row kernels).

mod common;

use common::{gpu, run};
use dnagpu::ops::{AttentionKernel, Epilogue, Matmul, MatmulKernel};
use dnagpu::Device;

const ODD: [usize; 6] = [1, 7, 63, 65, 127, 129];

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

#[test]
fn matmul_all_layouts_and_odd_sizes() {
    let Some(dev) = gpu() else { return };
    let mut seed = 0;
    for spec in LAYOUTS {
        for &m in &ODD {
            for &(n, k) in &[(65, 17), (1, 129), (127, 64), (64, 1)] {
                seed += 1;
                run(dnagpu::ops::matmul::check::check_matmul(
                    &dev, None, m, n, k, spec, false, seed,
                ));
            }
        }
    }
}

#[test]
fn matmul_batched_bias_and_gelu() {
    let Some(dev) = gpu() else { return };
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        run(dnagpu::ops::matmul::check::check_matmul(
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
        run(dnagpu::ops::matmul::check::check_matmul(
            &dev,
            Some(2),
            7,
            129,
            33,
            gelu,
            true,
            200 + i as u64,
        ));
        run(dnagpu::ops::matmul::check::check_matmul(
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
                run(dnagpu::ops::matmul::check::check_matmul_on(
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
        run(dnagpu::ops::matmul::check::check_matmul_on(
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
        run(dnagpu::ops::matmul::check::check_matmul_on(
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
        run(dnagpu::ops::matmul::check::check_matmul_on(
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
            run(dnagpu::ops::matmul::check::check_matmul_f16_b(
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
            run(dnagpu::ops::matmul::check::check_matmul_f16_b(
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
        run(dnagpu::ops::matmul::check::check_matmul_f16_b(
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

/// Few output tiles and a long K: the tiled kernel splits K into ranges and
/// sums the partial products (weight gradients), on every layout, with a
/// last range shorter than the others.
#[test]
fn tiled_matmul_split_k() {
    let Some(dev) = gpu() else { return };
    let d = dnagpu::ops::matmul::MatmulDims::of(&[2052, 132], &[2052, 124], Matmul::TN).unwrap();
    assert_eq!(dnagpu::ops::matmul::split_k(&d, false), 4);
    for (i, spec) in [Matmul::NN, Matmul::NT, Matmul::TN].into_iter().enumerate() {
        for bk in [8, 16] {
            run(dnagpu::ops::matmul::check::check_matmul_on(
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
        run(dnagpu::ops::matmul::check::check_matmul_on(
            &dev, tiled, None, 132, 124, 2052, spec, true, seed,
        ));
        run(dnagpu::ops::matmul::check::check_matmul_f16_b(
            &dev, tiled, None, 132, 124, 2052, spec, true, seed,
        ));
    }
}

/// What `matmul` picks on its own gives the same results, and sizes the
/// tiled kernel cannot take are refused when it is asked for.
#[test]
fn tiled_matmul_chosen_and_refused() {
    let Some(dev) = gpu() else { return };
    let d = dnagpu::ops::matmul::MatmulDims::of(&[256, 64], &[128, 64], Matmul::NT).unwrap();
    assert_eq!(MatmulKernel::pick(&d, Matmul::NT), MatmulKernel::TILED);
    run(dnagpu::ops::matmul::check::check_matmul(
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
    let err = dnagpu::ops::matmul_with(&dev, &a, &b, None, Matmul::NN, Some(MatmulKernel::TILED))
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiples of 4"), "{err}");
}

#[test]
fn attention_padded_batches_and_head_counts() {
    let Some(dev) = gpu() else { return };
    let mut rng = dnagpu::testing::Rng::new(7);
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
        let lens = dnagpu::testing::random_lengths(&mut rng, b, tt, true);
        run(dnagpu::ops::attention::check::check_attention(
            &dev,
            &lens,
            tt,
            heads,
            d,
            seed as u64,
        ));
    }
}

/// Both forward kernels at the model's head dim: padded batches (a row of
/// only padding included), lengths that are not multiples of the 64-row and
/// 32-key tiles, several heads.
#[test]
fn attention_kernels_at_head_dim_64() {
    let Some(dev) = gpu() else { return };
    for kernel in [AttentionKernel::Rows, AttentionKernel::Tiled] {
        for (seed, (lens, tt, heads)) in [
            (vec![1], 1, 1),
            (vec![5, 3], 5, 2),
            (vec![97, 40, 0], 97, 3),
            (vec![130, 129], 130, 12),
        ]
        .into_iter()
        .enumerate()
        {
            run(dnagpu::ops::attention::check::check_attention_on(
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
fn column_blocks() {
    let Some(dev) = gpu() else { return };
    for (seed, &(rows, width, start, block)) in
        [(1, 3, 0, 3), (7, 12, 4, 4), (300, 96, 64, 32), (5, 9, 8, 1)]
            .iter()
            .enumerate()
    {
        run(dnagpu::ops::columns::check::check_columns(
            &dev,
            rows,
            width,
            start,
            block,
            seed as u64,
        ));
        run(dnagpu::ops::columns::check::check_columns(
            &dnagpu::Device::Cpu,
            rows,
            width,
            start,
            block,
            seed as u64,
        ));
    }
}

#[test]
fn rotary_on_packed_qkv() {
    let Some(dev) = gpu() else { return };
    for (seed, &(b, tt, heads, d)) in [
        (1, 1, 1, 2),
        (2, 7, 3, 8),
        (3, 300, 2, 64),
        (1, 2048, 1, 16),
    ]
    .iter()
    .enumerate()
    {
        run(dnagpu::ops::rotary::check::check_rotary(
            &dev,
            b,
            tt,
            heads,
            d,
            90 + seed as u64,
        ));
    }
}

#[test]
fn attention_long_sequences() {
    let Some(dev) = gpu() else { return };
    for (seed, &tt) in [1000usize, 4096].iter().enumerate() {
        run(dnagpu::ops::attention::check::check_attention(
            &dev,
            &[tt],
            tt,
            1,
            8,
            40 + seed as u64,
        ));
    }
    run(dnagpu::ops::attention::check::check_attention(
        &dev,
        &[2048, 1500],
        2048,
        2,
        4,
        50,
    ));
    // The model's head dim at a length where lavapipe's loop limiter bit an
    // earlier version of the kernel.
    run(dnagpu::ops::attention::check::check_attention(
        &dev,
        &[2048],
        2048,
        1,
        64,
        51,
    ));
}

#[test]
fn matmul_long_inner_dimension() {
    let Some(dev) = gpu() else { return };
    run(dnagpu::ops::matmul::check::check_matmul(
        &dev,
        None,
        5,
        7,
        40000,
        Matmul::NT,
        true,
        60,
    ));
    run(dnagpu::ops::matmul::check::check_matmul(
        &dev,
        None,
        3,
        9,
        3072,
        Matmul::TN,
        false,
        61,
    ));
}

#[test]
fn attention_padding_does_not_change_real_tokens() {
    let Some(dev) = gpu() else { return };
    run(
        dnagpu::ops::attention::check::check_attention_padding_invariance(
            &dev,
            &[70, 3, 64, 1],
            12,
            8,
            9,
        ),
    );
    run(
        dnagpu::ops::attention::check::check_attention_padding_invariance(
            &dev,
            &[130, 0, 65],
            2,
            32,
            10,
        ),
    );
}

#[test]
fn layer_norm_with_and_without_residual() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, h)) in [(1, 1), (7, 63), (65, 257), (3, 768), (129, 1000)]
        .iter()
        .enumerate()
    {
        run(dnagpu::ops::layer_norm::check::check_layer_norm(
            &dev, rows, h, false, i as u64,
        ));
        run(dnagpu::ops::layer_norm::check::check_layer_norm(
            &dev,
            rows,
            h,
            true,
            50 + i as u64,
        ));
    }
}

#[test]
fn softmax_rows() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, cols)) in [(1, 1), (7, 63), (65, 257), (3, 4096)].iter().enumerate() {
        run(dnagpu::ops::softmax::check::check_softmax(
            &dev, rows, cols, i as u64,
        ));
    }
}

/// The row kernels' two kinds of reduction: workgroup trees everywhere,
/// subgroup operations where the device has them (lavapipe has; its
/// subgroups are narrower than NVIDIA's 32, so several combine).
#[test]
fn row_kernels_with_and_without_subgroups() {
    let Some(dev) = gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!() };
    for on in [false, true] {
        if g.set_subgroup_reductions(on) != on {
            eprintln!("SKIPPED: {} has no subgroups", g.summary().name);
            continue;
        }
        for (i, &(rows, h)) in [(1, 1), (7, 63), (65, 257), (3, 768)].iter().enumerate() {
            let seed = 100 * u64::from(on) + i as u64;
            run(dnagpu::ops::layer_norm::check::check_layer_norm(
                &dev,
                rows,
                h,
                i % 2 == 0,
                seed,
            ));
            run(dnagpu::ops::softmax::check::check_softmax(
                &dev, rows, h, seed,
            ));
            run(
                dnagpu::ops::layer_norm_backward::check::check_layer_norm_backward(
                    &dev,
                    rows,
                    h,
                    i % 2 == 1,
                    seed,
                ),
            );
        }
    }
}

#[test]
fn elementwise_ops() {
    let Some(dev) = gpu() else { return };
    for (i, &(rows, cols)) in [(1, 2), (7, 63), (65, 258), (300, 257)].iter().enumerate() {
        run(dnagpu::ops::elementwise::check::check_elementwise(
            &dev, rows, cols, i as u64,
        ));
    }
}

#[test]
fn embedding_gather() {
    let Some(dev) = gpu() else { return };
    run(dnagpu::ops::embedding::check::check_embedding(
        &dev, 1, 5, 3, 1,
    ));
    run(dnagpu::ops::embedding::check::check_embedding(
        &dev, 129, 4096, 65, 2,
    ));
}

#[test]
fn pooling_over_valid_rows() {
    let Some(dev) = gpu() else { return };
    run(dnagpu::ops::pool::check::check_pool(
        &dev,
        &[5, 0, 1, 3],
        5,
        65,
        1,
    ));
    run(dnagpu::ops::pool::check::check_pool(
        &dev,
        &[129, 64],
        129,
        257,
        2,
    ));
}
