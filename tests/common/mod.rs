//! Shared by the integration tests: the GPU device under test.

#![allow(dead_code)]

use dnagpu::Device;

/// The wgpu device (a software adapter such as lavapipe is fine), or `None`
/// with the reason printed when this machine has no adapter at all.
/// `DNAGPU_REQUIRE_GPU=1` (set by CI) turns the skip into a failure.
pub fn gpu() -> Option<Device> {
    match pollster::block_on(Device::gpu()) {
        Ok(d) => Some(d),
        Err(e) if std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers for lavapipe)");
            None
        }
        Err(e) => panic!("DNAGPU_REQUIRE_GPU=1 but {e}"),
    }
}

/// Runs an async check to completion and fails the test with its message.
pub fn run(check: impl std::future::Future<Output = Result<(), String>>) {
    if let Err(msg) = pollster::block_on(check) {
        panic!("{msg}");
    }
}
