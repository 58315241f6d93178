//! The wgpu side: adapter selection and device ([`context`]), pooled
//! buffers ([`pool`]), shaders and the pipeline cache ([`kernel`]), command
//! recording ([`record`]), async readback ([`readback`]), running out
//! of memory ([`oom`]) and cooperative matrices ([`coop`]).

pub mod context;
pub mod coop;
pub mod kernel;
pub mod oom;
pub mod pool;
pub mod profile;
pub mod readback;
pub mod record;

pub use context::{AdapterSummary, GpuDevice};
pub use kernel::Kernel;
pub use pool::{GpuBuffer, MemoryStats};
