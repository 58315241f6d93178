//! Devices to benchmark: the CPU backend always, and the wgpu adapter when
//! there is one (full shape sets on hardware, small shapes on software
//! adapters such as lavapipe, which run near 1 GFLOP/s).

#![allow(dead_code)]

use dnagpu::Device;

pub struct BenchDevice {
    pub device: Device,
    /// Short label for bench ids: "cpu" or the adapter name.
    pub label: String,
    pub software: bool,
}

pub fn devices() -> Vec<BenchDevice> {
    let mut v = vec![BenchDevice {
        device: Device::Cpu,
        label: "cpu".into(),
        software: false,
    }];
    if std::env::var("DNAGPU_BENCH_CPU_ONLY").as_deref() == Ok("1") {
        return v;
    }
    match pollster::block_on(Device::gpu()) {
        Ok(dev) => {
            let Device::Gpu(g) = &dev else { unreachable!() };
            let s = g.summary();
            eprintln!(
                "benchmarking on {} ({}, {}) and the CPU backend",
                s.name, s.backend, s.driver
            );
            let label = s
                .name
                .split_whitespace()
                .next()
                .unwrap_or("gpu")
                .to_lowercase();
            let software = s.is_software;
            v.push(BenchDevice {
                device: dev,
                label,
                software,
            });
        }
        Err(e) => eprintln!("no GPU adapter ({e}): CPU backend only"),
    }
    v
}

/// Random data without pulling in a RNG crate.
pub fn data(n: usize) -> Vec<f32> {
    let mut rng = dnagpu::testing::Rng::new(n as u64);
    rng.vec(n, 1.0)
}
