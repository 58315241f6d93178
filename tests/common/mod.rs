//! Shared by the integration tests: the GPU device under test.

#![allow(unused_imports)]

pub use dnagpu::testing::{gpu, run};
