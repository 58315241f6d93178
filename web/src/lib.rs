//! dnagpu in the browser: a thin wasm-bindgen layer over the library, run
//! by the page's Web Worker (`web/www/worker.js`). Every call returns
//! `Result<_, JsError>`; nothing on this path panics on input.

#![cfg(target_arch = "wasm32")]

mod analysis;
mod bench;
mod finetune;
mod model;
mod results;
mod runtime;
mod streamed;

pub use analysis::{AttentionMap, PerBase, VepScores};
pub use finetune::FineTune;
pub use model::Model;
pub use results::{Classified, Embeddings, Evaluation};
pub use runtime::Runtime;
pub use streamed::{StreamedClassified, StreamedEmbeddings};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Any library error as a JS `Error` carrying its message.
pub(crate) fn js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Calls the page's `onProgress(done, total)`, if it gave one; a throwing
/// callback is ignored (progress must not stop the work).
pub(crate) fn report(callback: Option<&js_sys::Function>, done: usize, total: usize) {
    if let Some(f) = callback {
        let _ = f.call2(
            &JsValue::NULL,
            &JsValue::from(done as f64),
            &JsValue::from(total as f64),
        );
    }
}

/// [`report`] for work in stages: `onProgress(done, total, stage)`.
pub(crate) fn report_stage(
    callback: Option<&js_sys::Function>,
    done: usize,
    total: usize,
    stage: &str,
) {
    if let Some(f) = callback {
        let _ = f.call3(
            &JsValue::NULL,
            &JsValue::from(done as f64),
            &JsValue::from(total as f64),
            &JsValue::from(stage),
        );
    }
}

/// Reads `text` (FASTA, a `sequence,label` CSV or one sequence per line,
/// sniffed; validated as the CLI does).
pub(crate) fn read_input(text: &str, origin: &str) -> Result<dnagpu::data::ReadOutput, JsError> {
    let (format, gzip) = dnagpu::data::sniff(text.as_bytes());
    let out = dnagpu::data::read_records(
        text.as_bytes(),
        origin,
        format,
        gzip,
        dnagpu::data::InvalidPolicy::Error,
    )
    .map_err(js)?;
    if out.records.is_empty() {
        return Err(JsError::new(&format!("{origin}: no sequences")));
    }
    Ok(out)
}

/// `initThreadPool(n)` in the threaded build: starts the CPU backend's
/// rayon pool on `n` Web Workers sharing this module's memory.
#[cfg(target_feature = "atomics")]
pub use wasm_bindgen_rayon::init_thread_pool;
