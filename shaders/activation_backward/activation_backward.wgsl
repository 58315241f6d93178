// activation_backward.wgsl — backward of the element-wise activations.
// Bindings: 0 a: act (the forward's saved activation: f32, or f16 in the
// half-precision variant, act_f16.wgsl), 1 d: f32, 2 grad_out: f32,
// 3 params (n, inner). Gradients stay f32 in both variants.
// OP (override):
//   0 = GELU':  a = x [n], d = dy [n] -> grad_out = dx [n], dx = dy * gelu'(x),
//               gelu'(x) = Phi(x) + x phi(x) (exact, erf-based GELU).
//   1 = tanh':  a = y = tanh(x) [n], d = dy [n] -> dx = dy * (1 - y)(1 + y).
//   2 = GeGLU:  a = g [R, 2I] (u = g[:, :I], v = g[:, I:]), d = df [R, I]
//               -> grad_out = dg [R, 2I]: dg[:, :I] = df * v * gelu'(u),
//               dg[:, I:] = df * gelu(u); n = R * I, inner = I.
//   3 = SwiGLU: as GeGLU with silu(u) = u sigmoid(u) in place of gelu,
//               silu'(u) = sigmoid(u) (1 + u (1 - sigmoid(u))).
// Grid: one invocation per element of d, groups of 256 folded into 2-D:
//   i = (wg.y * num_wg.x + wg.x) * 256 + lid.

override OP: u32 = 0u;

struct Params {
    n: u32,
    inner: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<act>;
@group(0) @binding(1) var<storage, read> d: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// gelu'(x) = Phi(x) + x phi(x), Phi through erfc as in gelu().
fn gelu_grad(x: f32) -> f32 {
    let c = erfc_nonneg(abs(x) * 0.7071067811865476);
    var cdf = 0.5 * c;
    if (x >= 0.0) {
        cdf = 1.0 - 0.5 * c;
    }
    let pdf = exp(-0.5 * x * x) * 0.3989422804014327;
    return cdf + x * pdf;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n) {
        return;
    }
    if (OP == 0u) {
        grad_out[i] = d[i] * gelu_grad(f32(a[i]));
    } else if (OP == 1u) {
        let y = f32(a[i]);
        grad_out[i] = d[i] * ((1.0 - y) * (1.0 + y));
    } else {
        let r = i / params.inner;
        let c = i % params.inner;
        let base = r * 2u * params.inner;
        let u = f32(a[base + c]);
        let v = f32(a[base + params.inner + c]);
        let df = d[i];
        var gate = 0.0;
        var gate_grad = 0.0;
        if (OP == 2u) {
            gate = gelu(u);
            gate_grad = gelu_grad(u);
        } else {
            let s = 1.0 / (1.0 + exp(-u));
            gate = u * s;
            gate_grad = s * (1.0 + u * (1.0 - s));
        }
        grad_out[base + c] = df * v * gate_grad;
        grad_out[base + params.inner + c] = df * gate;
    }
}
