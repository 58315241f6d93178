// sum_squares.wgsl — one pass of a flat sum over blocks of 4096 elements:
//   out[b] = sum of f(x[i]) for i in [b*4096, min(n, (b+1)*4096)),
//   f(v) = v * v when the override SQUARE is 1, else v.
// x: [n] f32 (any tensor, flattened) -> out: [B] f32, B = max(1, ceil(n / 4096)).
// The op runs one SQUARE = 1 pass, then SQUARE = 0 passes until one value is
// left. Lane l of a block adds elements l, l + 256, ... (16 of them, loads
// coalesced), then the 256 lanes are added as a tree in workgroup memory:
// 16 + 8 loop iterations per invocation (lavapipe's limit is 65,535). Fixed order.
// Bindings: 0 x, 1 out, 2 params (n, blocks B).
// Grid: one workgroup of 256 per block, folded into 2-D: b = wg.y * num_wg.x + wg.x.

struct Params {
    n: u32,
    blocks: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override SQUARE: u32 = 0u;
const WG: u32 = 256u;
const PER_LANE: u32 = 16u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let b = wg.y * nwg.x + wg.x;
    // No early return: every invocation must reach the barriers.
    let live = b < params.blocks;
    var s = 0.0;
    if (live) {
        let base = b * WG * PER_LANE;
        for (var k = 0u; k < PER_LANE; k++) {
            let i = base + k * WG + li;
            if (i < params.n) {
                let v = x[i];
                s += select(v, v * v, SQUARE == 1u);
            }
        }
    }
    red[li] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (li < h) {
            red[li] = red[li] + red[li + h];
        }
        workgroupBarrier();
    }
    if (live && li == 0u) {
        out[b] = red[0];
    }
}
