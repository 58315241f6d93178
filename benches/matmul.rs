//! Matmul throughput (criterion reports elements/s = FLOP/s): square
//! 512/1024/2048 and DNABERT-2's shapes at 32 x 128 tokens (Wqkv 768 -> 2304,
//! the gated MLP 768 -> 6144, mlp.wo 3072 -> 768), as linear layers (A · W^T).
//! Full set on the CPU backend and hardware GPUs; small shapes on software
//! adapters. On a GPU each shape runs on both kernels (basic, then tiled),
//! so the tuned variant is reported next to the previous one; the linears
//! also with their weight stored as f16 (`--precision f16`).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnagpu::ops::{self, Matmul, MatmulKernel};

fn bench(c: &mut Criterion) {
    // (name, M, N, K, layout)
    let full: &[(&str, usize, usize, usize, Matmul)] = &[
        ("square512", 512, 512, 512, Matmul::NN),
        ("square1024", 1024, 1024, 1024, Matmul::NN),
        ("square2048", 2048, 2048, 2048, Matmul::NN),
        ("wqkv_4096x768x2304", 4096, 2304, 768, Matmul::NT),
        ("gated_4096x768x6144", 4096, 6144, 768, Matmul::NT),
        ("wo_4096x3072x768", 4096, 768, 3072, Matmul::NT),
    ];
    let small: &[(&str, usize, usize, usize, Matmul)] = &[
        ("square128", 128, 128, 128, Matmul::NN),
        ("square256", 256, 256, 256, Matmul::NN),
        ("wqkv_128x768x2304", 128, 2304, 768, Matmul::NT),
    ];
    for bd in common::devices() {
        let mut g = c.benchmark_group(format!("matmul/{}", bd.label));
        g.sample_size(10);
        let shapes = if bd.software { small } else { full };
        for &(name, m, n, k, spec) in shapes {
            let dev = &bd.device;
            let a = dev.tensor_f32(&[m, k], &common::data(m * k)).unwrap();
            let b_shape = if spec.trans_b { [n, k] } else { [k, n] };
            let b_data = common::data(n * k);
            let b = dev.tensor_f32(&b_shape, &b_data).unwrap();
            g.throughput(Throughput::Elements((2 * m * n * k) as u64));
            let kernels: &[(&str, Option<MatmulKernel>)] = if dev.is_gpu() {
                &[
                    ("basic", Some(MatmulKernel::Basic)),
                    ("tiled", Some(MatmulKernel::TILED)),
                ]
            } else {
                &[("", None)]
            };
            let b16 = spec
                .trans_b
                .then(|| dev.tensor_f16(&b_shape, &b_data).unwrap());
            let weights = [Some(("", &b)), b16.as_ref().map(|w| ("f16", w))];
            for &(kname, kernel) in kernels {
                for (wname, w) in weights.iter().flatten() {
                    let parts: Vec<&str> = [name, kname, wname]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect();
                    g.bench_function(parts.join("/"), |bench| {
                        bench.iter(|| {
                            let c = ops::matmul_with(dev, &a, w, None, spec, kernel).unwrap();
                            dev.synchronize().unwrap();
                            c
                        })
                    });
                }
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
