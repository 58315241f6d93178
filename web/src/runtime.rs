//! `Runtime`: the device the page runs on, and why it was chosen.

use dnagpu::{BackendChoice, Device};
use wasm_bindgen::prelude::*;

use crate::js;

#[wasm_bindgen]
pub struct Runtime {
    pub(crate) device: Device,
    notice: String,
}

#[wasm_bindgen]
impl Runtime {
    /// Picks a device: `backend` is "auto" (WebGPU on a hardware adapter,
    /// else the WASM CPU backend), "gpu" (WebGPU, software adapters
    /// included) or "cpu".
    pub async fn create(backend: &str) -> Result<Runtime, JsError> {
        let choice: BackendChoice = backend.parse().map_err(js)?;
        let (device, notice) = Device::select(choice, None).await.map_err(js)?;
        Ok(Runtime { device, notice })
    }

    /// "WebGPU: <adapter>", or "CPU (WASM)" with its thread count where
    /// the threaded build runs a pool (`initThreadPool`).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        match &self.device {
            Device::Cpu => cpu_name(),
            Device::Gpu(_) => format!("WebGPU: {}", self.device.name()),
        }
    }

    /// Why this device was chosen.
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> String {
        self.notice.clone()
    }

    #[wasm_bindgen(getter, js_name = isGpu)]
    pub fn is_gpu(&self) -> bool {
        self.device.is_gpu()
    }
}

#[cfg(target_feature = "atomics")]
fn cpu_name() -> String {
    format!("CPU (WASM, {} threads)", rayon::current_num_threads())
}

#[cfg(not(target_feature = "atomics"))]
fn cpu_name() -> String {
    "CPU (WASM)".into()
}
