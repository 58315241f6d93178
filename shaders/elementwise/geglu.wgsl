// geglu.wgsl — gated MLP activations: DNABERT-2's GeGLU and the Nucleotide
// Transformer v2's SwiGLU:
//   g: [R, 2I] (u = g[:, :I], v = g[:, I:]) -> y: [R, I], y = f(u) * v,
//   f = exact GELU (ACT = 0) or SiLU, u * sigmoid(u) (ACT = 1). g and y are
//   activations (`act`: f32, or f16 with act_f16.wgsl); arithmetic f32.
// Bindings: 0 g, 1 y, 2 params (rows R, inner I).
// Grid: one invocation per output element, groups of 256 folded into 2-D.

struct Params {
    rows: u32,
    inner: u32,
    _p0: u32,
    _p1: u32,
}

override ACT: u32 = 0u;

@group(0) @binding(0) var<storage, read> g: array<act>;
@group(0) @binding(1) var<storage, read_write> y: array<act>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.rows * params.inner) {
        return;
    }
    let r = i / params.inner;
    let c = i % params.inner;
    let base = r * 2u * params.inner;
    let u = f32(g[base + c]);
    var a: f32;
    if (ACT == 0u) {
        a = gelu(u);
    } else {
        a = u / (1.0 + exp(-u));
    }
    y[i] = act(a * f32(g[base + params.inner + c]));
}
