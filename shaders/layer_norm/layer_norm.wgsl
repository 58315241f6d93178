// layer_norm.wgsl — LayerNorm over the last dimension, optionally fused with
// the residual add that precedes it in a post-norm block:
//   z = x + residual (residual only when params.has_residual == 1)
//   y = (z - mean) * rstd * weight + bias,  rstd = 1 / sqrt(var + eps)
// x, residual, y: [R, H] activations (`act`: f32, or f16 with act_f16.wgsl;
// statistics and arithmetic f32 either way); weight, bias: [H] f32;
// mean, rstd: [R] saved for the backward pass. Variance is biased (/H),
// computed in two passes around the mean for accuracy.
// Bindings: 0 x, 1 residual (bind x when unused), 2 weight, 3 bias,
//           4 y, 5 mean, 6 rstd, 7 params.
// Grid: one workgroup of 256 per row, rows folded into 2-D. Entry point and
// reductions (sum_all) come from a prepended reduce_workgroup.wgsl or
// reduce_subgroup.wgsl.

struct Params {
    rows: u32,
    hidden: u32,
    has_residual: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> residual: array<act>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<act>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

fn load(i: u32) -> f32 {
    var v = f32(x[i]);
    if (params.has_residual == 1u) {
        v += f32(residual[i]);
    }
    return v;
}

// Called by `main` (reduce_workgroup.wgsl / reduce_subgroup.wgsl).
fn run(wg: vec3<u32>, nwg: vec3<u32>, li: u32) {
    let r = wg.y * nwg.x + wg.x;
    let live = r < params.rows;
    let h = select(0u, params.hidden, live);
    let base = r * params.hidden;
    var s = 0.0;
    for (var j = li; j < h; j += WG) {
        s += load(base + j);
    }
    let mean = sum_all(s) / f32(params.hidden);
    var q = 0.0;
    for (var j = li; j < h; j += WG) {
        let d = load(base + j) - mean;
        q += d * d;
    }
    let rstd = inverseSqrt(sum_all(q) / f32(params.hidden) + params.eps);
    for (var j = li; j < h; j += WG) {
        y[base + j] = act((load(base + j) - mean) * rstd * weight[j] + bias[j]);
    }
    if (live && li == 0u) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}
