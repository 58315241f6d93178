//! Reading a buffer back to the host: copy into a staging buffer, submit,
//! map asynchronously. Native code polls the device; in the browser the
//! event loop completes the map, so nothing blocks.

use super::context::GpuDevice;
use super::pool::GpuBuffer;
use crate::error::{Error, Result};

impl GpuDevice {
    /// The first `bytes` bytes of `buf`, after everything recorded so far.
    pub async fn read_bytes(&self, buf: &GpuBuffer, bytes: u64) -> Result<Vec<u8>> {
        self.read_raw(buf.raw(), bytes).await
    }

    /// [`GpuDevice::read_bytes`] of any buffer with `COPY_SRC` usage.
    pub(crate) async fn read_raw(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.div_ceil(4) * 4;
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dnagpu readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.take_encoder()?;
        enc.copy_buffer_to_buffer(buf, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        self.take_error()?;

        let slice = staging.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Gpu("readback was cancelled (device lost?)".into()))?
            .map_err(|e| Error::Gpu(format!("mapping the readback buffer: {e}")))?;
        self.take_error()?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading the mapped buffer: {e:?}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}
