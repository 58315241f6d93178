//! Inverted dropout with a counter-based RNG on slices, and the integer
//! code that decides the mask. The mask is a pure function of (seed,
//! stream, element index): shaders/dropout/dropout.wgsl runs the same 32-bit hash,
//! so every backend keeps exactly the same elements and the backward
//! recomputes the mask instead of storing it.

use rayon::prelude::*;

/// Chris Wellons' "lowbias32" integer mixer: a bijection on u32 with strong
/// avalanche. Written identically in dropout.wgsl.
pub fn lowbias32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// SplitMix64's finaliser, for the key (host side only: WGSL has no u64).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The two 32-bit round keys of (seed, stream): neighbouring seeds and
/// streams give unrelated keys.
pub fn dropout_key(seed: u64, stream: u32) -> [u32; 2] {
    let s = mix64(stream as u64 ^ 0x9E37_79B9_7F4A_7C15);
    let k = mix64(seed.wrapping_add(0x9E37_79B9_7F4A_7C15) ^ s);
    [k as u32, (k >> 32) as u32]
}

/// 24 random bits of element `i`: two keyed rounds of `lowbias32`.
pub fn dropout_bits(key: [u32; 2], i: u32) -> u32 {
    lowbias32(lowbias32(i ^ key[0]) ^ key[1]) >> 8
}

/// uniform(seed, stream, i) in [0, 1): the 24 bits times 2^-24.
pub fn dropout_uniform(seed: u64, stream: u32, i: u32) -> f32 {
    dropout_bits(dropout_key(seed, stream), i) as f32 * (1.0 / 16_777_216.0)
}

/// The integer form of `uniform >= p`: bits >= ceil(p * 2^24), exact for
/// every f32 p in [0, 1).
pub fn keep_threshold(p: f32) -> u32 {
    (p as f64 * 16_777_216.0).ceil() as u32
}

/// 1 / (1 - p), computed in f64 and rounded once.
pub fn keep_scale(p: f32) -> f32 {
    (1.0 / (1.0 - p as f64)) as f32
}

const CHUNK: usize = 16384;

/// y[i] = x[i] / (1 - p) if element i is kept, else 0. p in [0, 1);
/// element indices are u32 (the op checks the size).
pub fn dropout(x: &[f32], p: f32, seed: u64, stream: u32) -> Vec<f32> {
    let key = dropout_key(seed, stream);
    let (threshold, scale) = (keep_threshold(p), keep_scale(p));
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (y, x))| {
            let off = (c * CHUNK) as u32;
            for (j, (y, &x)) in y.iter_mut().zip(x).enumerate() {
                let keep = dropout_bits(key, off.wrapping_add(j as u32)) >= threshold;
                *y = if keep { x * scale } else { 0.0 };
            }
        });
    y
}
