// binary.wgsl — element-wise y[i] = a[i] + b[i % nb] for i < n.
// b is broadcast by repetition: nb divides n (nb = n for a plain add, nb = H
// to add one [H] row to every row of an [R, H] tensor).
// Bindings: 0 a: [n], 1 b: [nb], 2 y: [n] (activations, `act`: f32, or f16
// with act_f16.wgsl; the sum is f32), 3 params.
// Grid: groups of 256 folded into 2-D (as unary.wgsl).

struct Params {
    n: u32,
    nb: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<act>;
@group(0) @binding(1) var<storage, read> b: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n) {
        return;
    }
    y[i] = act(f32(a[i]) + f32(b[i % params.nb]));
}
