//! The measurements behind `dnagpu bench`: encoder inference, MLM training
//! and fine-tuning steps on random-init models ([`model`]), the matmul and
//! attention kernels ([`kernels`]) and variant scoring ([`vep`]). Each
//! returns numbers; the CLI prints them and writes the JSON.

pub mod kernels;
pub mod model;
pub mod vep;

use serde::Serialize;

use crate::model::Config;
use crate::rng::Rng;
use crate::train::schedule::{Decay, Schedule};
use crate::{Device, Result};

/// The training benchmarks' learning rate: constant, as the rate does not
/// change a step's cost.
pub const SCHEDULE: Schedule = Schedule {
    peak: 1e-4,
    warmup: 0,
    total: 1000,
    decay: Decay::Constant,
};

/// Forward FLOPs of `b` sequences of `t` tokens (2 per multiply-add), with
/// a gated feed-forward (GeGLU, SwiGLU: 3 I H per token) or not (2 I H).
pub fn flops_of(cfg: &Config, b: usize, t: usize, gated: bool) -> f64 {
    let (h, i) = (cfg.hidden_size as f64, cfg.intermediate_size as f64);
    let ffn = if gated { 3.0 * i * h } else { 2.0 * i * h };
    let per_token = 2.0 * (3.0 * h * h + h * h + ffn) + 4.0 * t as f64 * h;
    per_token * (b * t) as f64 * cfg.num_hidden_layers as f64
}

/// Peak memory: the GPU pool's peak, or the process's peak RSS on the CPU.
pub fn peak_bytes(dev: &Device) -> Option<u64> {
    match dev {
        Device::Gpu(g) => Some(g.memory().peak_bytes),
        Device::Cpu => {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let kb: u64 = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(kb * 1024)
        }
    }
}

/// [`peak_bytes`] in MiB; NaN where unknown.
pub fn peak_mib(dev: &Device) -> f64 {
    peak_bytes(dev).map_or(f64::NAN, |p| p as f64 / (1u64 << 20) as f64)
}

/// `b` random sequences of `t` tokens: [CLS], regular tokens, [SEP].
pub fn random_sequences(rng: &mut Rng, b: usize, t: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..b)
        .map(|_| {
            let mut s: Vec<u32> = (0..t).map(|_| 5 + rng.below(vocab as u32 - 5)).collect();
            s[0] = 1;
            s[t - 1] = 2;
            s
        })
        .collect()
}

/// One kernel's share of a profiled run.
#[derive(Serialize)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub dispatches: u32,
    pub seconds: f64,
}

/// Per-kernel times of one run.
pub struct Profile {
    pub rows: Vec<KernelTime>,
    /// How the times were taken, for the printed header.
    pub how: &'static str,
    /// Rows are ops of the CPU backend (counting outputs), not GPU kernels.
    pub cpu: bool,
}

/// Runs `f` once with per-kernel timing on: GPU timestamps where the adapter
/// has them (see [`crate::gpu::profile`]), else each dispatch synchronised;
/// on the CPU backend each op's wall time (see [`crate::cpu_profile`]).
pub fn profile_once(dev: &Device, f: impl FnOnce() -> Result<()>) -> Result<Profile> {
    let (rows, how) = match dev {
        Device::Cpu => {
            crate::cpu_profile::set_enabled(true);
            let run = f();
            let rows = crate::cpu_profile::rows();
            crate::cpu_profile::set_enabled(false);
            run?;
            (
                rows,
                "CPU backend: each op's wall time, the glue before it included",
            )
        }
        Device::Gpu(g) => {
            g.set_profiling(true)?;
            let run = f();
            let (rows, timestamps) = g.profile_rows()?;
            g.set_profiling(false)?;
            run?;
            let how = if timestamps {
                "GPU timestamps"
            } else {
                "no timestamp queries: each dispatch synchronised, launch latency included"
            };
            (rows, how)
        }
    };
    let rows = rows
        .into_iter()
        .map(|(kernel, dispatches, seconds)| KernelTime {
            kernel,
            dispatches,
            seconds,
        })
        .collect();
    Ok(Profile {
        rows,
        how,
        cpu: matches!(dev, Device::Cpu),
    })
}
