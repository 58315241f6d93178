// cross_entropy.wgsl — softmax + cross-entropy fused, one row per workgroup:
//   m = max_j logits[r, j],  s = sum_j exp(logits[r, j] - m)
//   loss[r] = (m - logits[r, label]) + log(s)          (= lse - logit of the label)
//   dlogits[r, j] = (exp(logits[r, j] - m) / s - (j == label)) * scale
// logits: [N, V] f32; labels: [N] u32, each < V (the caller passes only
// labelled rows; a label >= V gives a NaN loss and no one-hot term, never an
// out-of-bounds read); loss: [N]; dlogits: [N, V].
// Bindings: 0 logits, 1 labels, 2 loss, 3 dlogits, 4 params (rows N, cols V, scale).
// Grid: one workgroup of 256 per row, rows folded into 2-D:
//   r = wg.y * num_wg.x + wg.x. Each invocation loops 3 * ceil(V / 256) + 16 times.

struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

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
        m = max(m, logits[base + j]);
    }
    m = reduce(m, li, 0u);
    var s = 0.0;
    for (var j = li; j < n; j += WG) {
        s += exp(logits[base + j] - m);
    }
    s = reduce(s, li, 1u);
    if (!live) {
        return;
    }
    let label = labels[r];
    let inv = 1.0 / s;
    for (var j = li; j < n; j += WG) {
        let p = exp(logits[base + j] - m) * inv;
        dlogits[base + j] = select(p, p - 1.0, j == label) * params.scale;
    }
    if (li == 0u) {
        if (label < params.cols) {
            loss[r] = (m - logits[base + label]) + log(s);
        } else {
            // A quiet NaN built at run time (a NaN constant is a shader-creation error).
            loss[r] = bitcast<f32>(0x7fc00000u | (label & 0u));
        }
    }
}
