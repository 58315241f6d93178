//! Shared by the integration tests: the GPU device under test, random DNA.

#![allow(unused_imports, dead_code)]

pub use dnagpu::testing::{gpu, run};

/// `count` random sequences of `min` to `min + spread - 1` symbols drawn
/// from `alphabet`, from `seed`.
pub fn random_sequences(
    seed: u64,
    count: usize,
    min: usize,
    spread: u32,
    alphabet: &[u8],
) -> Vec<String> {
    let mut rng = dnagpu::testing::Rng::new(seed);
    (0..count)
        .map(|_| {
            let n = min + rng.below(spread) as usize;
            (0..n)
                .map(|_| alphabet[rng.below(alphabet.len() as u32) as usize] as char)
                .collect()
        })
        .collect()
}
