//! Out of GPU memory. A buffer larger than the device allows (its limits,
//! or a lower cap: `DNAGPU_MAX_BUFFER_BYTES`, `set_max_buffer_bytes`, which
//! tests use to make lavapipe small) and wgpu's own out-of-memory errors
//! both become `Error::OutOfMemory`; `recover` clears what the failed work
//! left, so that the same work in smaller pieces can run next.
//!
//! wgpu's errors are classified where they reach the uncaptured-error
//! handler rather than caught by error scopes: a scope around buffer
//! creation has to be popped (`ErrorScopeGuard::pop`), which in the browser
//! is a JS promise, and allocation is synchronous (ops are), so it could not
//! be read there without blocking. The handler gets the same typed
//! `wgpu::Error::OutOfMemory` natively and in the browser. Natively it runs
//! inside `create_buffer`, so `alloc` reports the failure at once; in the
//! browser the error arrives later and the next readback returns it.

use std::sync::atomic::Ordering;

use super::context::GpuDevice;
use crate::error::{Error, Result};

/// An error wgpu reported outside any call that returns one.
pub(crate) enum Fault {
    OutOfMemory(String),
    Other(String),
}

impl Fault {
    pub(crate) fn of(e: &wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { source } => {
                // wgpu's message is the context; the causes follow it.
                let mut msg = source.to_string();
                let mut cause = source.source();
                while let Some(c) = cause {
                    msg = format!("{msg}: {c}");
                    cause = c.source();
                }
                Fault::OutOfMemory(msg)
            }
            other => Fault::Other(other.to_string()),
        }
    }
}

/// The largest buffer `limits` allow (every buffer is bound as storage).
pub(crate) fn device_limit(limits: &wgpu::Limits) -> u64 {
    limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size)
}

/// `DNAGPU_MAX_BUFFER_BYTES`, if set: a cap on buffer sizes below the
/// device's own.
pub(crate) fn cap_from_env() -> Result<Option<u64>> {
    match std::env::var("DNAGPU_MAX_BUFFER_BYTES") {
        Ok(s) if !s.trim().is_empty() => match s.trim().parse::<u64>() {
            Ok(b) if b > 0 => Ok(Some(b)),
            _ => Err(Error::Invalid(format!(
                "DNAGPU_MAX_BUFFER_BYTES={s}: expected a positive number of bytes"
            ))),
        },
        _ => Ok(None),
    }
}

impl GpuDevice {
    /// The largest buffer this device makes, in bytes.
    pub fn max_buffer_bytes(&self) -> u64 {
        self.buffer_cap.load(Ordering::Relaxed)
    }

    /// Caps buffers at `bytes` (never above the device's limits): larger
    /// requests from now on fail as out of memory. Tests use it to run
    /// lavapipe as a small GPU (`DNAGPU_MAX_BUFFER_BYTES` does it at start).
    pub fn set_max_buffer_bytes(&self, bytes: u64) {
        let bytes = bytes.min(device_limit(&self.limits));
        self.buffer_cap.store(bytes, Ordering::Relaxed);
    }

    /// A buffer of `bytes` for `what` is within the cap.
    pub(crate) fn check_buffer(&self, bytes: u64, what: &str) -> Result<()> {
        let cap = self.max_buffer_bytes();
        if bytes <= cap {
            return Ok(());
        }
        Err(self.out_of_memory(format!(
            "{what} needs {bytes} bytes, more than the largest buffer it allows ({cap} bytes)"
        )))
    }

    /// After `create_buffer` for `what`: the out-of-memory error wgpu just
    /// reported for it, if any (natively the handler has run by now).
    pub(crate) fn check_created(&self, bytes: u64, what: &str) -> Result<()> {
        let mut slot = self.error.lock().map_err(|_| super::record::poisoned())?;
        match slot.take() {
            Some(Fault::OutOfMemory(msg)) => {
                Err(self.out_of_memory(format!("{what} ({bytes} bytes) could not be made: {msg}")))
            }
            other => {
                *slot = other;
                Ok(())
            }
        }
    }

    pub(crate) fn out_of_memory(&self, what: String) -> Error {
        Error::OutOfMemory {
            what,
            device: self.summary.name.clone(),
        }
    }

    /// After work failed for memory: drops the commands recorded since the
    /// last submission (the failed work's: after a real out-of-memory they
    /// name a buffer that was never made, so the encoder is invalid),
    /// forgets the error wgpu reported and any that followed from it, and
    /// frees the pooled buffers (sized for the failed work) so that smaller
    /// work starts from the memory tensors hold.
    pub fn recover(&self) {
        if let Ok(mut r) = self.recording.lock() {
            r.take();
        }
        if let Ok(mut e) = self.error.lock() {
            e.take();
        }
        self.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn wgpu_out_of_memory_is_told_apart_from_other_errors() {
        let oom = wgpu::Error::OutOfMemory {
            source: Box::new(std::io::Error::other("no room for 4 GiB")),
        };
        assert!(matches!(Fault::of(&oom), Fault::OutOfMemory(m) if m.contains("4 GiB")));
        let invalid = wgpu::Error::Validation {
            source: Box::new(std::io::Error::other("bad")),
            description: "bind group is wrong".into(),
        };
        assert!(matches!(Fault::of(&invalid), Fault::Other(m) if m.contains("bind group")));
    }
}
