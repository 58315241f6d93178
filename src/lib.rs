//! dnagpu: DNA language models (DNABERT-2 first) on any GPU through WebGPU
//! (wgpu + hand-written WGSL), with a multi-threaded CPU backend that is both
//! the fallback on machines without a usable GPU and the oracle for the GPU
//! kernels' tests.
//!
//! Layout: [`gpu`] owns the wgpu device, buffers and pipelines; [`ops`] is
//! the seam model code is written against: one folder per operation with its
//! contract, shape checks, the launch code of both backends and the op's CPU
//! twin (`ops/<op>/cpu.rs`); [`params`] holds the plain structs both
//! backends take. docs/design.md maps every folder.

pub mod attention_maps;
pub mod baseline;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod cpu_profile;
pub mod data;
pub mod device;
pub mod embed;
pub mod error;
pub mod export;
#[cfg(not(target_arch = "wasm32"))]
pub mod fs;
pub mod gpu;
pub mod metrics;
pub mod model;
pub mod ops;
mod parallel;
pub mod params;
pub mod plot;
pub mod rng;
pub(crate) mod simd;
pub mod tensor;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod tokenize;
pub mod train;
pub mod vep;

pub use device::{BackendChoice, Device};
pub use error::{Error, Result};
pub use tensor::{DType, Tensor};
