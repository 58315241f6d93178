// layer_norm_param_grads.wgsl — first stage of LayerNorm's weight and bias
// gradients, per chunk of CHUNK = 256 rows (no atomics, no [R, H] temporary):
//   dweight_part[c, j] = sum over rows r of chunk c (in order) of dy[r, j] * xhat[r, j]
//   dbias_part[c, j]   = sum over rows r of chunk c (in order) of dy[r, j]
//   xhat = (x + residual - mean[r]) * rstd[r]  (residual only when has_residual == 1)
// sum_rows.wgsl then adds the C = max(1, ceil(R / 256)) partial rows.
// dy: [R, H] f32; x, residual: [R, H] act (f32, or f16: act_f16.wgsl); mean, rstd: [R]; dweight_part, dbias_part: [C, H].
// At most 256 loop iterations per invocation (lavapipe's limit is 65,535).
// Bindings: 0 dy, 1 x, 2 residual (bind x when unused), 3 mean, 4 rstd,
//           5 dweight_part, 6 dbias_part, 7 params (rows R, hidden H, has_residual, chunks C).
// Grid: one invocation per (c, j), groups of 256 folded into 2-D:
//   i = (wg.y * num_wg.x + wg.x) * 256 + local, c = i / H, j = i % H.

struct Params {
    rows: u32,
    hidden: u32,
    has_residual: u32,
    chunks: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> residual: array<act>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dweight_part: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbias_part: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const CHUNK: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.chunks * params.hidden) {
        return;
    }
    let c = i / params.hidden;
    let j = i % params.hidden;
    let r1 = min(params.rows, (c + 1u) * CHUNK);
    var sw = 0.0;
    var sb = 0.0;
    for (var r = c * CHUNK; r < r1; r++) {
        let k = r * params.hidden + j;
        var s = f32(x[k]);
        if (params.has_residual == 1u) {
            s += f32(residual[k]);
        }
        let xhat = (s - mean[r]) * rstd[r];
        sw += dy[k] * xhat;
        sb += dy[k];
    }
    dweight_part[i] = sw;
    dbias_part[i] = sb;
}
