// embedding.wgsl — row gather: out[i, :] = table[ids[i], :].
// Bindings: 0 ids: [N] u32, 1 table: [V, H] f32, 2 out: [N, H] f32, 3 params.
// An id >= V gives a zero row (never an out-of-bounds read); callers
// validate ids on the host where they come from.
// Grid: one invocation per output element, groups of 256 folded into 2-D.

struct Params {
    n: u32,
    vocab: u32,
    hidden: u32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n * params.hidden) {
        return;
    }
    let row = i / params.hidden;
    let col = i % params.hidden;
    let id = ids[row];
    var v = 0.0;
    if (id < params.vocab) {
        v = table[id * params.hidden + col];
    }
    out[i] = v;
}
