//! A buffer pool: storage buffers are returned to the pool when their last
//! tensor is dropped and handed out again for a request of the same size
//! class, so a forward pass allocates once and then reuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Every pooled buffer has the same usage, so any can serve any request.
pub(crate) const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Bytes live, at peak, and requested in total since the device was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes of buffers owned by tensors now (pooled free buffers excluded).
    pub live_bytes: u64,
    /// Highest `live_bytes` seen.
    pub peak_bytes: u64,
    /// Bytes of all buffer requests (logical sizes), pool hits included.
    pub requested_bytes: u64,
    /// Bytes held by the device, free pool buffers included.
    pub device_bytes: u64,
}

#[derive(Default)]
pub(crate) struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    pub(crate) stats: MemoryStats,
}

/// Rounds a request up to its size class: 256-byte steps up to 64 KiB,
/// then eighths of a power of two (less than 256 bytes or 12.5% of slack).
pub(crate) fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(4);
    if b <= 65536 {
        return b.div_ceil(256) * 256;
    }
    // For b in (2^k, 2^(k+1)] the step is 2^k / 8.
    let step = (b.next_power_of_two() / 16).max(256);
    b.div_ceil(step) * step
}

/// A storage buffer of at least `bytes` bytes; returns to its pool on drop.
#[derive(Debug)]
pub struct GpuBuffer {
    buffer: wgpu::Buffer,
    bytes: u64,
    class: u64,
    pool: Weak<Mutex<PoolState>>,
}

impl GpuBuffer {
    pub(crate) fn new(
        buffer: wgpu::Buffer,
        bytes: u64,
        class: u64,
        pool: &Arc<Mutex<PoolState>>,
    ) -> Self {
        Self {
            buffer,
            bytes,
            class,
            pool: Arc::downgrade(pool),
        }
    }

    pub fn raw(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Logical size in bytes (the buffer itself may be larger).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The binding covering exactly the logical bytes.
    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: wgpu::BufferSize::new(self.bytes.max(4)),
        })
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            if let Ok(mut p) = pool.lock() {
                p.stats.live_bytes -= self.class;
                p.free
                    .entry(self.class)
                    .or_default()
                    .push(self.buffer.clone());
            }
        }
    }
}

impl PoolState {
    /// A free buffer of `class` bytes, if one is pooled.
    pub(crate) fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        self.free.get_mut(&class).and_then(Vec::pop)
    }

    pub(crate) fn note_alloc(&mut self, bytes: u64, class: u64, fresh: bool) {
        let s = &mut self.stats;
        s.requested_bytes += bytes;
        s.live_bytes += class;
        s.peak_bytes = s.peak_bytes.max(s.live_bytes);
        if fresh {
            s.device_bytes += class;
        }
    }

    /// Drops every free buffer, giving the memory back to the driver.
    pub(crate) fn trim(&mut self) {
        let freed: u64 = self
            .free
            .iter()
            .map(|(class, v)| class * v.len() as u64)
            .sum();
        self.stats.device_bytes -= freed;
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_requests_with_bounded_slack() {
        for b in [
            1u64,
            4,
            255,
            256,
            257,
            65536,
            65537,
            1 << 20,
            (1 << 20) + 1,
            123_456_789,
        ] {
            let c = size_class(b);
            assert!(c >= b, "class {c} < request {b}");
            assert!(
                c - b < 256 || c as f64 <= b as f64 * 1.125,
                "class {c} too big for {b}"
            );
            assert_eq!(size_class(c), c, "class of a class must be itself");
        }
    }
}
