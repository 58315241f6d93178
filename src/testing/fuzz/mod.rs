//! The fuzz targets' bodies: one function per parser a user's file reaches,
//! each taking the raw bytes of one input. `fuzz/` (cargo-fuzz, nightly)
//! drives them with libFuzzer; `tests/fuzz_replay.rs` replays the committed
//! corpora and a seeded batch of mutations through the very same functions
//! on stable. Each asserts more than "no panic" where that is cheap: what a
//! successful parse promises (the alphabet, shapes that match the data, a
//! round trip through the writer). docs/fuzzing.md has the figures.

mod json;
pub mod mutate;
mod sequences;
mod tokenizers;
mod variants;
mod weights;

pub use json::{adapter, adapter_config, checkpoint_state, config_json};
pub use sequences::{csv, fasta, text};
pub use tokenizers::{tokenizer_json, vocab_txt};
pub use variants::vcf;
pub use weights::{safetensors, torch_bin, torch_pickle};

/// How the targets name their input: every error message must say it.
const ORIGIN: &str = "fuzz-input";

/// A target's body: the raw bytes of one input.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/<name>.rs` and
/// of its corpus folder `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("fasta", fasta),
    ("csv", csv),
    ("text", text),
    ("safetensors", safetensors),
    ("torch_bin", torch_bin),
    ("torch_pickle", torch_pickle),
    ("tokenizer_json", tokenizer_json),
    ("vocab_txt", vocab_txt),
    ("config_json", config_json),
    ("adapter_config", adapter_config),
    ("adapter", adapter),
    ("checkpoint_state", checkpoint_state),
    ("vcf", vcf),
];
