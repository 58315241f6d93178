//! Per-kernel GPU time for `dnagpu bench --profile`. Where the adapter has
//! timestamp queries, each dispatch's compute pass writes a begin and end
//! timestamp (GPU time only, nothing synchronised); elsewhere each dispatch
//! is submitted alone and waited for, which adds its launch latency to its
//! wall time (upper bounds). Native only.

use std::collections::HashMap;
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
use super::context::GpuDevice;
use super::Kernel;
#[cfg(not(target_arch = "wasm32"))]
use crate::error::Result;

/// Dispatches timed before the timestamps are read back and the set reused.
const CAPACITY: u32 = 1024;

/// (kernel file, dispatches, seconds) per kernel, slowest first.
pub type KernelTimes = Vec<(&'static str, u32, f64)>;

/// Accumulated time and dispatch count per kernel.
#[derive(Default)]
pub struct Profile {
    pub enabled: bool,
    pub per_kernel: HashMap<Kernel, (u32, Duration)>,
    /// The query set and the kernels whose timestamps it holds, in order.
    pub(crate) queries: Option<wgpu::QuerySet>,
    pub(crate) pending: Vec<Kernel>,
    /// Whether the times come from GPU timestamps (else synchronised wall time).
    pub timestamps: bool,
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
impl Profile {
    pub(crate) fn add(&mut self, kernel: Kernel, took: Duration) {
        let e = self.per_kernel.entry(kernel).or_default();
        e.0 += 1;
        e.1 += took;
    }

    /// (kernel file, dispatches, seconds), slowest first.
    pub fn rows(&self) -> KernelTimes {
        let mut v: Vec<_> = self
            .per_kernel
            .iter()
            .map(|(k, (n, d))| (k.name(), *n, d.as_secs_f64()))
            .collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    /// The timestamp slots for the next dispatch of `kernel`, if timing by
    /// timestamps and a slot is free.
    pub(crate) fn next_slots(&mut self, kernel: Kernel) -> Option<(wgpu::QuerySet, u32)> {
        let qs = self.queries.clone()?;
        let i = self.pending.len() as u32;
        if i >= CAPACITY {
            return None;
        }
        self.pending.push(kernel);
        Some((qs, 2 * i))
    }

    pub(crate) fn full(&self) -> bool {
        self.pending.len() as u32 >= CAPACITY
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl GpuDevice {
    fn profile_state(&self) -> Result<std::sync::MutexGuard<'_, Profile>> {
        self.profile.lock().map_err(|_| super::record::poisoned())
    }

    /// Starts (clearing earlier totals) or stops per-kernel timing.
    pub fn set_profiling(&self, on: bool) -> Result<()> {
        if !on {
            self.collect_timestamps()?;
        }
        let queries = (on && self.has_feature(wgpu::Features::TIMESTAMP_QUERY)).then(|| {
            self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("dnagpu profile"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * CAPACITY,
            })
        });
        *self.profile_state()? = Profile {
            enabled: on,
            timestamps: queries.is_some(),
            queries,
            ..Default::default()
        };
        Ok(())
    }

    /// (kernel file, dispatches, seconds) since profiling started, slowest
    /// first, and whether they are GPU timestamps.
    pub fn profile_rows(&self) -> Result<(KernelTimes, bool)> {
        self.collect_timestamps()?;
        let p = self.profile_state()?;
        Ok((p.rows(), p.timestamps))
    }

    /// Reads the pending dispatches' timestamps and adds them to the totals.
    pub(crate) fn collect_timestamps(&self) -> Result<()> {
        let (qs, kernels) = {
            let mut p = self.profile_state()?;
            match &p.queries {
                Some(qs) if !p.pending.is_empty() => (qs.clone(), std::mem::take(&mut p.pending)),
                _ => return Ok(()),
            }
        };
        let n = 2 * kernels.len() as u64;
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dnagpu timestamps"),
            size: n * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut enc = self.take_encoder()?;
        enc.resolve_query_set(&qs, 0..n as u32, &resolve, 0);
        self.queue.submit([enc.finish()]);
        let bytes = pollster::block_on(self.read_raw(&resolve, n * 8))?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period = self.queue.get_timestamp_period() as f64;
        let mut p = self.profile_state()?;
        for (i, k) in kernels.into_iter().enumerate() {
            let ns = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period;
            p.add(k, Duration::from_nanos(ns as u64));
        }
        Ok(())
    }
}
