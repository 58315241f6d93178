// clip.wgsl — the step's gradient-clipping factor, computed on the device
// so that no value is read back before the optimizer runs:
//   total: [1] f32, the sum of every gradient's squares; loss: [1] f32, the
//   step's summed loss -> out: [4] f32 =
//   (scale, ok, loss, total) where ok = 1 when loss and total are finite
//   (else 0: AdamW then leaves every tensor as it was), and scale =
//   min(1, max_norm / (sqrt(total) + 1e-6)) as PyTorch's clip_grad_norm_
//   forms it in f32 (1 when max_norm <= 0 or not ok).
// Bindings: 0 total, 1 loss, 2 out, 3 params (max_norm). Grid: 1 x 1 x 1.

struct Params {
    max_norm: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> total: array<f32>;
@group(0) @binding(1) var<storage, read> loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// By the bits, which no fast-math assumption can fold away.
fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1)
fn main() {
    let t = total[0];
    let l = loss[0];
    let ok = finite(t) && finite(l);
    var scale = 1.0;
    if (ok && params.max_norm > 0.0) {
        scale = min(1.0, params.max_norm / (sqrt(t) + 1e-6));
    }
    out[0] = scale;
    out[1] = select(0.0, 1.0, ok);
    out[2] = l;
    out[3] = t;
}
