// softmax.wgsl — row softmax: x: [R, N] f32 -> y: [R, N],
//   y[r, j] = exp(x[r, j] - max_r) / sum_j exp(x[r, j] - max_r).
// Bindings: 0 x, 1 y, 2 params (rows R, cols N).
// Grid: one workgroup of 256 per row, rows folded into 2-D:
//   r = wg.y * num_wg.x + wg.x.

struct Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;

// Tree reduction over the workgroup; op 0 = max, 1 = sum. Uniform control flow.
fn reduce(v: f32, li: u32, op: u32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            if (op == 0u) {
                red[li] = max(red[li], red[li + s]);
            } else {
                red[li] = red[li] + red[li + s];
            }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = wg.y * nwg.x + wg.x;
    // No early return: every invocation must reach the barriers.
    let live = r < params.rows;
    let n = select(0u, params.cols, live);
    let base = r * params.cols;
    var m = -0x1.fffffep+127f;
    for (var j = li; j < n; j += WG) {
        m = max(m, x[base + j]);
    }
    m = reduce(m, li, 0u);
    var s = 0.0;
    for (var j = li; j < n; j += WG) {
        s += exp(x[base + j] - m);
    }
    s = reduce(s, li, 1u);
    let inv = 1.0 / s;
    for (var j = li; j < n; j += WG) {
        y[base + j] = exp(x[base + j] - m) * inv;
    }
}
