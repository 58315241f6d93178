//! Per-kernel GPU time for `dnagpu bench --profile`: while profiling, every
//! dispatch is submitted alone and waited for, and its wall time is added to
//! its kernel's total. Synchronising each dispatch adds its launch latency,
//! so the totals are upper bounds; large kernels dominate them (native only).

use std::collections::HashMap;
use std::time::Duration;

use super::Kernel;

/// Accumulated time and dispatch count per kernel.
#[derive(Default)]
pub struct Profile {
    pub enabled: bool,
    pub per_kernel: HashMap<Kernel, (u32, Duration)>,
}

impl Profile {
    pub(crate) fn add(&mut self, kernel: Kernel, took: Duration) {
        let e = self.per_kernel.entry(kernel).or_default();
        e.0 += 1;
        e.1 += took;
    }

    /// (kernel file, dispatches, seconds), slowest first.
    pub fn rows(&self) -> Vec<(&'static str, u32, f64)> {
        let mut v: Vec<_> = self
            .per_kernel
            .iter()
            .map(|(k, (n, d))| (k.file(), *n, d.as_secs_f64()))
            .collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }
}
