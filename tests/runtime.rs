//! The GPU runtime: buffers are reused, pipelines compiled once, and many
//! dispatches recorded before one submission still give the right values.

mod common;

use dnagpu::testing::Rng;
use dnagpu::{ops, Device};

#[test]
fn buffers_are_reused_and_pipelines_compiled_once() {
    let Some(dev) = common::gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!() };
    let x = dev
        .tensor_f32(&[1000], &Rng::new(1).vec(1000, 3.0))
        .unwrap();
    let first = dev
        .read_f32_blocking(&ops::gelu(&dev, &x).unwrap())
        .unwrap();
    let (bytes, pipelines) = (g.memory().device_bytes, g.pipeline_count());
    for _ in 0..20 {
        let y = ops::gelu(&dev, &x).unwrap();
        assert_eq!(
            dev.read_f32_blocking(&y).unwrap(),
            first,
            "a reused buffer gave other values"
        );
    }
    assert_eq!(
        g.memory().device_bytes,
        bytes,
        "repeating an op must reuse its output buffer"
    );
    assert_eq!(
        g.pipeline_count(),
        pipelines,
        "repeating an op must not compile a new pipeline"
    );
    ops::tanh(&dev, &x).unwrap();
    assert_eq!(
        g.pipeline_count(),
        pipelines + 1,
        "another override value is another pipeline"
    );
    let live = g.memory().live_bytes;
    g.trim();
    assert!(
        g.memory().device_bytes <= live + 4096,
        "trim frees the pooled buffers"
    );
}

#[test]
fn a_long_chain_of_dispatches_matches_the_cpu() {
    let Some(dev) = common::gpu() else { return };
    let mut rng = Rng::new(2);
    let (x, w) = (rng.vec(33 * 40, 1.0), rng.vec(40 * 40, 0.2));
    let run = |d: &Device| {
        let mut h = d.tensor_f32(&[33, 40], &x).unwrap();
        let w = d.tensor_f32(&[40, 40], &w).unwrap();
        let ones = d.tensor_f32(&[40], &[1.0; 40]).unwrap();
        let zeros = d.tensor_f32(&[40], &[0.0; 40]).unwrap();
        // 300 dispatches recorded, read once at the end.
        for _ in 0..100 {
            let y = ops::linear(d, &h, &w, None, ops::Epilogue::Gelu).unwrap();
            let z = ops::add(d, &y, &h).unwrap();
            h = ops::layer_norm(d, &z, None, &ones, &zeros, 1e-12)
                .unwrap()
                .y;
        }
        pollster::block_on(d.read_f32(&h)).unwrap()
    };
    let got = run(&dev);
    let want: Vec<f64> = run(&Device::Cpu).iter().map(|&v| v as f64).collect();
    // 100 layers compound rounding: a looser, stated tolerance.
    let tol = dnagpu::testing::Tol {
        rtol: 2e-3,
        atol_rel: 2e-4,
    };
    dnagpu::testing::check_close("100-layer chain, GPU vs CPU", &got, &want, tol).unwrap();
}
