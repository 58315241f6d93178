// pool.wgsl — pooling over the valid rows of each sequence:
//   x: [B, T, H] f32, mask: [B, T] u32 (nonzero = real token) -> y: [B, H].
// MODE (override): 0 = mean over valid rows, 1 = element-wise max over them.
// A sequence with no valid row gives zeros.
// Bindings: 0 x, 1 mask, 2 y, 3 params.
// Grid: one invocation per output element (b, h), groups of 256 folded into 2-D.

override MODE: u32 = 0u;

struct Params {
    batch: u32,
    seq: u32,
    hidden: u32,
    _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.batch * params.hidden) {
        return;
    }
    let b = i / params.hidden;
    let h = i % params.hidden;
    var acc = 0.0;
    var best = -0x1.fffffep+127f;
    var count = 0u;
    for (var t = 0u; t < params.seq; t++) {
        if (mask[b * params.seq + t] != 0u) {
            let v = x[(b * params.seq + t) * params.hidden + h];
            acc += v;
            best = max(best, v);
            count += 1u;
        }
    }
    if (count == 0u) {
        y[i] = 0.0;
    } else if (MODE == 0u) {
        y[i] = acc / f32(count);
    } else {
        y[i] = best;
    }
}
