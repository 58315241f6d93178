//! CPU twin of `to_f16` (shaders/cast/to_f16.wgsl).

/// f16 bit patterns of `x`, rounded to nearest with ties to even.
pub fn to_f16(x: &[f32]) -> Vec<u16> {
    x.iter()
        .map(|&v| half::f16::from_f32(v).to_bits())
        .collect()
}
