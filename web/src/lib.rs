//! dnagpu in the browser: a thin wasm-bindgen layer over the library. Every
//! call returns `Result<_, JsError>`; nothing on this path panics on input.
//! The page, its worker and the model API arrive with the browser issue;
//! today this exposes device selection, so a page can show what runs.

#![cfg(target_arch = "wasm32")]

use dnagpu::{BackendChoice, Device};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The device dnagpu runs on in this browser.
#[wasm_bindgen]
pub struct Runtime {
    device: Device,
    notice: String,
}

#[wasm_bindgen]
impl Runtime {
    /// Picks a device: `backend` is "auto" (WebGPU on a hardware adapter,
    /// else the WASM CPU backend), "gpu" (WebGPU, software adapters
    /// included) or "cpu".
    pub async fn create(backend: &str) -> Result<Runtime, JsError> {
        let choice: BackendChoice = backend
            .parse()
            .map_err(|e: dnagpu::Error| JsError::new(&e.to_string()))?;
        let (device, notice) = Device::select(choice, None)
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Runtime { device, notice })
    }

    /// "WebGPU: <adapter>" or "CPU (WASM)".
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        match &self.device {
            Device::Cpu => "CPU (WASM)".into(),
            Device::Gpu(_) => format!("WebGPU: {}", self.device.name()),
        }
    }

    /// Why this device was chosen.
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> String {
        self.notice.clone()
    }
}
