// columns.wgsl — a block of columns of a row-major matrix:
//   MODE 0 (take): y [R, w] = x[:, start .. start + w] of x [R, W];
//   MODE 1 (add):  y [R, W] = x + v placed at columns start .. start + w,
//                  v [R, w] (x elsewhere).
// LoRA on one of the q, k, v blocks of a fused Wqkv (BERT's separate
// query / key / value adapters) reads and adds its block with these.
// Bindings: 0 x, 1 v (bind x when unused), 2 y: act (f32, or f16 in the
//   half-precision variant, act_f16.wgsl: an f16 sum rounded once),
//   3 params (rows R, width W, start, block width w).
// Grid: one invocation per element of y, groups of 256 folded into 2-D.

struct Params {
    rows: u32,
    width: u32,
    start: u32,
    block: u32,
}

override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> v: array<act>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    let p = params;
    if (MODE == 0u) {
        if (i >= p.rows * p.block) {
            return;
        }
        let r = i / p.block;
        y[i] = x[r * p.width + p.start + i % p.block];
    } else {
        if (i >= p.rows * p.width) {
            return;
        }
        let r = i / p.width;
        let c = i % p.width;
        var out = f32(x[i]);
        if (c >= p.start && c < p.start + p.block) {
            out += f32(v[r * p.block + c - p.start]);
        }
        y[i] = act(out);
    }
}
