// softmax.wgsl — row softmax: x: [R, N] f32 -> y: [R, N],
//   y[r, j] = exp(x[r, j] - max_r) / sum_j exp(x[r, j] - max_r).
// Bindings: 0 x, 1 y, 2 params (rows R, cols N).
// Grid: one workgroup of 256 per row, rows folded into 2-D:
//   r = wg.y * num_wg.x + wg.x. Entry point and reductions (max_all,
//   sum_all) come from a prepended reduce_workgroup.wgsl or
//   reduce_subgroup.wgsl.

struct Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// Called by `main` (reduce_workgroup.wgsl / reduce_subgroup.wgsl).
fn run(wg: vec3<u32>, nwg: vec3<u32>, li: u32) {
    let r = wg.y * nwg.x + wg.x;
    // No early return: every invocation must reach the barriers.
    let live = r < params.rows;
    let n = select(0u, params.cols, live);
    let base = r * params.cols;
    var m = -0x1.fffffep+127f;
    for (var j = li; j < n; j += WG) {
        m = max(m, x[base + j]);
    }
    m = max_all(m);
    var s = 0.0;
    for (var j = li; j < n; j += WG) {
        s += exp(x[base + j] - m);
    }
    s = sum_all(s);
    let inv = 1.0 / s;
    for (var j = li; j < n; j += WG) {
        y[base + j] = exp(x[base + j] - m) * inv;
    }
}
