//! The fuzz targets' short seeded run, on stable in the normal `cargo test`:
//! every committed input of `fuzz/corpus/<target>/` (the regressions of
//! fixed crashes among them) and a fixed batch of seeded mutations of them
//! go through the very functions libFuzzer drives in `fuzz/fuzz_targets/`
//! (`dnagpu::testing::fuzz`). docs/fuzzing.md tells how to fuzz for longer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use dnagpu::testing::fuzz::mutate::{read_dict, Mutator};
use dnagpu::testing::fuzz::{Target, TARGETS};

/// Mutated inputs per target: a few seconds each in a debug build.
const MUTATIONS: usize = 2000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The names of the entries of `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `input` through `target`; a panic names the input and keeps it
/// (mutated inputs exist nowhere else) for `cargo fuzz run <target> <file>`.
fn run(name: &str, target: Target, what: &str, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        let keep = std::env::temp_dir().join(format!("fuzz-replay-{name}-{what}"));
        std::fs::write(&keep, input).unwrap();
        panic!("{name}: {what} fails (the input is in {})", keep.display());
    }
}

fn replay(name: &str) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let dir = fuzz_dir().join("corpus").join(name);
    let corpus: Vec<(String, Vec<u8>)> = names_in(&dir)
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            (file, bytes)
        })
        .collect();
    assert!(!corpus.is_empty(), "{}: no inputs", dir.display());
    for (file, bytes) in &corpus {
        run(name, *target, file, bytes);
    }
    let dict_path = fuzz_dir().join("dicts").join(format!("{name}.dict"));
    let dict = match std::fs::read_to_string(&dict_path) {
        Ok(text) => read_dict(&text).unwrap_or_else(|e| panic!("{}: {e}", dict_path.display())),
        Err(_) => Vec::new(),
    };
    let seed = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let mut mutator = Mutator::new(seed, dict);
    for i in 0..MUTATIONS {
        let (_, input) = &corpus[i % corpus.len()];
        let (_, other) = &corpus[(i * 7 + 3) % corpus.len()];
        let mutated = mutator.mutate(input, other);
        run(name, *target, &format!("mutation-{i}"), &mutated);
    }
}

macro_rules! replay {
    ($($name:ident),* $(,)?) => {
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

replay!(
    fasta,
    csv,
    text,
    safetensors,
    torch_bin,
    torch_pickle,
    tokenizer_json,
    vocab_txt,
    config_json,
    adapter_config,
    adapter,
    checkpoint_state,
    vcf,
);

#[test]
fn every_target_is_replayed_and_fuzzed() {
    let mut targets: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    targets.sort();
    let mut replayed = REPLAYED.to_vec();
    replayed.sort();
    assert_eq!(replayed, targets, "replay!() lists other targets");
    let dir = fuzz_dir();
    assert_eq!(names_in(&dir.join("corpus")), targets, "fuzz/corpus/");
    let sources = names_in(&dir.join("fuzz_targets"));
    let fuzzed: Vec<&str> = sources
        .iter()
        .filter_map(|f| f.strip_suffix(".rs"))
        .collect();
    assert_eq!(fuzzed, targets, "fuzz/fuzz_targets/");
}
