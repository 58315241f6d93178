// sum_rows.wgsl — one pass of column sums over chunks of CHUNK = 256 rows:
//   out[c, j] = x[c*256, j] + x[c*256 + 1, j] + ... (rows c*256 .. min(R, (c+1)*256), in order)
// x: [R, N] f32 -> out: [C, N] f32 with C = max(1, ceil(R / 256)); R = 0 gives a zero row.
// The op repeats the pass on `out` until one row is left, so no invocation
// loops more than 256 times whatever R is (lavapipe stops loops silently
// past 65,535 iterations). Fixed order: deterministic.
// Bindings: 0 x, 1 out, 2 params (rows R, cols N, chunks C).
// Grid: one invocation per output element (c, j), groups of 256 folded into
//   2-D: i = (wg.y * num_wg.x + wg.x) * 256 + local, c = i / N, j = i % N.

struct Params {
    rows: u32,
    cols: u32,
    chunks: u32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const CHUNK: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.chunks * params.cols) {
        return;
    }
    let c = i / params.cols;
    let j = i % params.cols;
    let r1 = min(params.rows, (c + 1u) * CHUNK);
    var s = 0.0;
    for (var r = c * CHUNK; r < r1; r++) {
        s += x[r * params.cols + j];
    }
    out[i] = s;
}
