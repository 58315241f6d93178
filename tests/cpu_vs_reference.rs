//! The CPU backend (the GPU tests' oracle) against plain f64 references.

mod common;

use common::run;
use dnagpu::ops::{Epilogue, Matmul};
use dnagpu::Device;

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
            run(dnagpu::ops::matmul::check::check_matmul(
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
        run(dnagpu::ops::matmul::check::check_matmul_f16_b(
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

/// f16 tensors hold the values rounded to nearest (ties to even), read back
/// exactly, on every backend; a value beyond f16's range is an error.
#[test]
fn f16_tensors_round_to_nearest_and_read_back() {
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    let x = [
        1.0f32,
        1.0 + 1.0 / 2048.0,
        1.0 + 3.0 / 2048.0,
        -0.1,
        65504.0,
    ];
    let want = [1.0f32, 1.0, 1.0 + 4.0 / 2048.0, -0.099975586, 65504.0];
    for dev in &devices {
        let t = dev.tensor_f16(&[5], &x).unwrap();
        assert_eq!(t.dtype(), dnagpu::DType::F16);
        assert_eq!(dev.read_f32_blocking(&t).unwrap(), want, "{}", dev.name());
        let err = dev.tensor_f16(&[2], &[1.0, 7e4]).unwrap_err().to_string();
        assert!(err.contains("element 1") && err.contains("f16"), "{err}");
    }
}

#[test]
fn attention_matches_f64() {
    let mut rng = dnagpu::testing::Rng::new(3);
    for (seed, &(b, tt, heads, d)) in [
        (1, 1, 1, 4),
        (3, 33, 12, 8),
        (2, 96, 2, 64),
        (2, 40, 3, 128),
    ]
    .iter()
    .enumerate()
    {
        let lens = dnagpu::testing::random_lengths(&mut rng, b, tt, false);
        run(dnagpu::ops::attention::check::check_attention(
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
    run(
        dnagpu::ops::attention::check::check_attention_padding_invariance(
            &Device::Cpu,
            &[50, 3, 17],
            12,
            8,
            4,
        ),
    );
}

#[test]
fn layer_norm_matches_f64() {
    for (i, &(rows, h)) in [(1, 1), (9, 768), (33, 1000)].iter().enumerate() {
        run(dnagpu::ops::layer_norm::check::check_layer_norm(
            &Device::Cpu,
            rows,
            h,
            i % 2 == 0,
            i as u64,
        ));
    }
}

#[test]
fn other_ops_match_f64() {
    run(dnagpu::ops::softmax::check::check_softmax(
        &Device::Cpu,
        9,
        300,
        1,
    ));
    run(dnagpu::ops::elementwise::check::check_elementwise(
        &Device::Cpu,
        33,
        258,
        2,
    ));
    run(dnagpu::ops::embedding::check::check_embedding(
        &Device::Cpu,
        40,
        100,
        17,
        3,
    ));
    run(dnagpu::ops::pool::check::check_pool(
        &Device::Cpu,
        &[4, 0, 9],
        9,
        33,
        4,
    ));
}

#[test]
fn rotary_matches_f64() {
    for (seed, &(b, tt, heads, d)) in [(1, 5, 2, 4), (2, 130, 3, 64)].iter().enumerate() {
        run(dnagpu::ops::rotary::check::check_rotary(
            &Device::Cpu,
            b,
            tt,
            heads,
            d,
            95 + seed as u64,
        ));
    }
}
