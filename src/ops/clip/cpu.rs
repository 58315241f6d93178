//! CPU twin of the clipping factor (shaders/clip/clip.wgsl).

/// `[scale, ok, loss, total]`: ok = 1 when `total` and `loss` are finite,
/// scale = min(1, max_norm / (sqrt(total) + 1e-6)), 1 when `max_norm` <= 0
/// or not ok.
pub fn clip_scale(total: f32, loss: f32, max_norm: f32) -> [f32; 4] {
    let ok = total.is_finite() && loss.is_finite();
    let scale = if ok && max_norm > 0.0 {
        (max_norm / (total.sqrt() + 1e-6)).min(1.0)
    } else {
        1.0
    };
    [scale, f32::from(u8::from(ok)), loss, total]
}
