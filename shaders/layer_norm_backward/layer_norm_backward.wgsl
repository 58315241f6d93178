// layer_norm_backward.wgsl — dx of y = LN(x + residual) * weight + bias, per row:
//   s = x + residual (residual only when params.has_residual == 1)
//   xhat = (s - mean[r]) * rstd[r]     (mean, rstd saved by the forward)
//   g = dy * weight
//   dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat))
// dx is also the residual's gradient. The weight and bias gradients are
// column sums, computed by layer_norm_param_grads.wgsl + sum_rows.wgsl.
// dy, dx: [R, H] f32; x, residual: [R, H] act (the forward's saved inputs:
// f32, or f16 in the half-precision variant, act_f16.wgsl); mean, rstd: [R];
// weight: [H].
// Bindings: 0 dy, 1 x, 2 residual (bind x when unused), 3 mean, 4 rstd,
//           5 weight, 6 dx, 7 params (rows R, hidden H, has_residual).
// Grid: one workgroup of 256 per row, rows folded into 2-D:
//   r = wg.y * num_wg.x + wg.x. Each invocation loops 2 * ceil(H / 256) + 8 times.
// Entry point and reduction (sum2_all) come from a prepended
// reduce_workgroup.wgsl or reduce_subgroup.wgsl.

struct Params {
    rows: u32,
    hidden: u32,
    has_residual: u32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> residual: array<act>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
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
    // No early return: every invocation must reach the barriers.
    let live = r < params.rows;
    let h = select(0u, params.hidden, live);
    let base = r * params.hidden;
    var mu = 0.0;
    var rs = 0.0;
    if (live) {
        mu = mean[r];
        rs = rstd[r];
    }
    var acc = vec2<f32>(0.0, 0.0);
    for (var j = li; j < h; j += WG) {
        let xhat = (load(base + j) - mu) * rs;
        let g = dy[base + j] * weight[j];
        acc += vec2<f32>(g, g * xhat);
    }
    let m = sum2_all(acc) / f32(params.hidden);
    for (var j = li; j < h; j += WG) {
        let xhat = (load(base + j) - mu) * rs;
        let g = dy[base + j] * weight[j];
        dx[base + j] = rs * (g - m.x - xhat * m.y);
    }
}
