//! Baselines that give benchmark numbers (GUE) something to be compared
//! with: a softmax-regression classifier on k-mer frequencies, CPU only.

pub mod features;
pub mod kmer;
mod softmax_regression;

pub use kmer::{KmerBaseline, KmerOptions};
