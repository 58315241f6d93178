//! Flash attention forward throughput (elements/s = FLOP/s, counting
//! 4 T^2 D per head: QK^T and PV), 12 heads, D = 64, T = 128 / 512 / 2048,
//! one sequence. Small T only on software adapters.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnagpu::ops;

fn bench(c: &mut Criterion) {
    let (heads, d) = (12usize, 64usize);
    for bd in common::devices() {
        let mut g = c.benchmark_group(format!("attention/{}", bd.label));
        g.sample_size(10);
        let lengths: &[usize] = if bd.software {
            &[128]
        } else {
            &[128, 512, 2048]
        };
        for &t in lengths {
            let dev = &bd.device;
            let qkv = dev
                .tensor_f32(&[1, t, 3 * heads * d], &common::data(t * 3 * heads * d))
                .unwrap();
            let mask = dev.tensor_u32(&[1, t], &vec![1; t]).unwrap();
            let slopes = dev.tensor_f32(&[heads], &ops::alibi_slopes(heads)).unwrap();
            g.throughput(Throughput::Elements((4 * t * t * d * heads) as u64));
            g.bench_function(format!("T{t}_h{heads}_d{d}"), |bench| {
                bench.iter(|| {
                    let o = ops::attention(dev, &qkv, &mask, &slopes, heads).unwrap();
                    dev.synchronize().unwrap();
                    o
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
