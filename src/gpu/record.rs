//! Buffers in and commands out: allocation from the pool, uploads, and
//! recording dispatches into one command encoder that is submitted only when
//! results are read back (or a recording grows long).

use wgpu::util::DeviceExt;

use super::context::GpuDevice;
use super::kernel::{Kernel, PipelineKey};
use super::pool::{size_class, GpuBuffer, USAGE};
use crate::error::Result;

/// Dispatches after which a recording is submitted even without a readback:
/// the GPU starts on them while the rest of a long run (a training step is
/// ~1,000 dispatches) is recorded, and their per-dispatch uniforms do not
/// pile up. A forward pass of DNABERT-2-117M (~115) stays one submission.
const MAX_DISPATCHES_PER_SUBMIT: u32 = 128;

pub(crate) struct Recording {
    encoder: wgpu::CommandEncoder,
    dispatches: u32,
}

/// Work groups for `n` items in groups of `group`, folded into two
/// dimensions so that no dimension passes the device limit. Kernels rebuild
/// the linear index as `(wg.y * num_wg.x + wg.x) * group + local`.
pub(crate) fn grid_1d(n: u64, group: u32, max_dim: u32) -> [u32; 3] {
    let groups = n.div_ceil(group as u64).max(1);
    let x = groups.min(max_dim as u64);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

impl GpuDevice {
    /// A buffer for `bytes` bytes (contents undefined), from the pool when possible.
    /// Past the device's largest buffer, or when wgpu has no memory left
    /// for it, the error is `Error::OutOfMemory` (`gpu/oom.rs`).
    pub(crate) fn alloc(&self, bytes: u64, what: &str) -> Result<GpuBuffer> {
        let what = format!("the buffer for {what}");
        self.check_buffer(bytes, &what)?;
        let class = size_class(bytes).min(self.max_buffer_bytes().max(bytes));
        let mut pool = self.pool.lock().map_err(|_| poisoned())?;
        let (buffer, fresh) = match pool.take(class) {
            Some(b) => (b, false),
            None => {
                let b = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("dnagpu tensor"),
                    size: class,
                    usage: USAGE,
                    mapped_at_creation: false,
                });
                self.check_created(class, &what)?;
                (b, true)
            }
        };
        pool.note_alloc(bytes, class, fresh);
        Ok(GpuBuffer::new(buffer, bytes, class, &self.pool))
    }

    /// A new buffer holding `data`. Never a pooled one: a queue write into a
    /// reused buffer would land before commands already recorded that read it.
    pub(crate) fn upload(&self, data: &[u8], what: &str) -> Result<GpuBuffer> {
        let bytes = data.len() as u64;
        let what = format!("the upload of {what}");
        self.check_buffer(bytes, &what)?;
        let class = size_class(bytes).min(self.max_buffer_bytes().max(bytes));
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dnagpu upload"),
            size: class,
            usage: USAGE,
            mapped_at_creation: true,
        });
        self.check_created(class, &what)?;
        {
            let mut view = buffer
                .slice(..)
                .get_mapped_range_mut()
                .map_err(|e| crate::Error::Gpu(format!("mapping an upload buffer: {e:?}")))?;
            view.slice(..data.len()).copy_from_slice(data);
        }
        buffer.unmap();
        let mut pool = self.pool.lock().map_err(|_| poisoned())?;
        pool.note_alloc(bytes, class, true);
        Ok(GpuBuffer::new(buffer, bytes, class, &self.pool))
    }

    /// Records one dispatch of `kernel`. Binding convention (every kernel):
    /// `buffers` in order at bindings 0.. (inputs, then outputs), then the
    /// uniform `params` at the next binding, all in group 0.
    pub(crate) fn dispatch<P: bytemuck::Pod>(
        &self,
        kernel: Kernel,
        constants: &[(&'static str, u32)],
        buffers: &[&GpuBuffer],
        params: &P,
        groups: [u32; 3],
    ) -> Result<()> {
        let kernel = if self.subgroup_reductions() {
            kernel.with_subgroups()
        } else {
            kernel
        };
        let max = self.limits.max_compute_workgroups_per_dimension;
        if let Some(&g) = groups.iter().find(|&&g| g > max) {
            return Err(self.limit_err(
                format!("{} dispatch ({groups:?} workgroups)", kernel.name()),
                g as u64,
                max as u64,
            ));
        }
        let (invocations, shared) = kernel.workgroup_with(constants);
        if invocations > self.limits.max_compute_invocations_per_workgroup {
            let limit = self.limits.max_compute_invocations_per_workgroup;
            return Err(self.limit_err(
                format!("{} invocations per workgroup", kernel.name()),
                invocations as u64,
                limit as u64,
            ));
        }
        if shared > self.limits.max_compute_workgroup_storage_size {
            let limit = self.limits.max_compute_workgroup_storage_size;
            return Err(self.limit_err(
                format!("{} workgroup memory (bytes)", kernel.name()),
                shared as u64,
                limit as u64,
            ));
        }
        if groups.contains(&0) {
            return Ok(());
        }
        let key = PipelineKey {
            kernel,
            constants: constants.to_vec(),
        };
        let pipeline = self
            .pipelines
            .lock()
            .map_err(|_| poisoned())?
            .get(&self.device, &key);
        let uniform = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("dnagpu params"),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.binding(),
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: buffers.len() as u32,
            resource: uniform.as_entire_binding(),
        });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name()),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });

        // Profiling is native only.
        #[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
        let (profiling, slots) = match self.profile.lock() {
            Ok(mut p) if p.enabled => (true, p.next_slots(kernel)),
            _ => (false, None),
        };
        let mut rec = self.recording.lock().map_err(|_| poisoned())?;
        let r = rec.get_or_insert_with(|| Recording {
            encoder: self.device.create_command_encoder(&Default::default()),
            dispatches: 0,
        });
        {
            let timestamp_writes = slots
                .as_ref()
                .map(|(qs, i)| wgpu::ComputePassTimestampWrites {
                    query_set: qs,
                    beginning_of_pass_write_index: Some(*i),
                    end_of_pass_write_index: Some(i + 1),
                });
            let mut pass = r.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name()),
                timestamp_writes,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        r.dispatches += 1;
        if r.dispatches >= MAX_DISPATCHES_PER_SUBMIT {
            let r = rec.take().expect("recording present");
            self.queue.submit([r.encoder.finish()]);
        }
        drop(rec);
        #[cfg(not(target_arch = "wasm32"))]
        if profiling {
            match slots {
                // No timestamp queries: this dispatch alone, waited for.
                None => {
                    let start = std::time::Instant::now();
                    self.synchronize()?;
                    if let Ok(mut p) = self.profile.lock() {
                        p.add(kernel, start.elapsed());
                    }
                }
                Some(_) if self.profile.lock().map(|p| p.full()).unwrap_or(false) => {
                    self.collect_timestamps()?;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Takes the recording in progress (or a new encoder) to append to.
    pub(crate) fn take_encoder(&self) -> Result<wgpu::CommandEncoder> {
        let rec = self.recording.lock().map_err(|_| poisoned())?.take();
        Ok(match rec {
            Some(r) => r.encoder,
            None => self.device.create_command_encoder(&Default::default()),
        })
    }

    /// Submits everything recorded so far.
    pub fn flush(&self) -> Result<()> {
        let enc = self.take_encoder()?;
        self.queue.submit([enc.finish()]);
        self.take_error()
    }

    /// Submits and waits until the GPU is idle (native only; in the browser
    /// read a result back instead).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn synchronize(&self) -> Result<()> {
        self.flush()?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| crate::Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.take_error()
    }
}

pub(crate) fn poisoned() -> crate::Error {
    crate::Error::Gpu("a previous GPU call panicked; the device state is unusable".into())
}
