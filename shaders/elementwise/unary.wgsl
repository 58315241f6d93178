// unary.wgsl — element-wise y[i] = f(x[i]) for i < n.
// Bindings: 0 x: [n], 1 y: [n] (activations, `act`: f32, or f16 with
// act_f16.wgsl; arithmetic f32), 2 params.
// OP (override): 0 = GELU (exact, see gelu.wgsl), 1 = tanh, 2 = y = s * x.
// Grid: groups of 256 folded into 2-D: i = (wg.y * num_wg.x + wg.x) * 256 + lid.

override OP: u32 = 0u;

struct Params {
    n: u32,
    s: f32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read_write> y: array<act>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n) {
        return;
    }
    let v = f32(x[i]);
    if (OP == 0u) {
        y[i] = act(gelu(v));
    } else if (OP == 2u) {
        y[i] = act(params.s * v);
    } else {
        // tanh(15) rounds to 1 in f32; clamping avoids exp overflow in some drivers.
        y[i] = act(tanh(clamp(v, -15.0, 15.0)));
    }
}
