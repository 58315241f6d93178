// embedding_backward.wgsl — gradient of the embedding gather, without atomics:
//   dtable[r, h] = sum of dy[positions[p], h] for p in offsets[r] .. offsets[r + 1]
// The CSR index (offsets, positions sorted by row, then by position) is built
// on the host from the ids (RowIndex::new); rows no id reads get zeros.
// Summation follows the index order: deterministic.
// Bindings: 0 dy: [n, H] f32, 1 offsets: [rows + 1] u32, 2 positions: [n] u32,
//           3 dtable: [rows, H] f32, 4 params (rows, hidden H).
// RowIndex::new rejects more than 65,535 positions per row; four positions
// per iteration keep an invocation under 16,384 + 3 loop iterations (lavapipe
// stops loops silently past 65,535).
// Grid: one invocation per (r, h), groups of 256 folded into 2-D:
//   i = (wg.y * num_wg.x + wg.x) * 256 + local, r = i / H, h = i % H.

struct Params {
    rows: u32,
    hidden: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.rows * params.hidden) {
        return;
    }
    let hid = params.hidden;
    let r = i / hid;
    let h = i % hid;
    let end = offsets[r + 1u];
    var p = offsets[r];
    var s = 0.0;
    while (p + 4u <= end) {
        s += dy[positions[p] * hid + h];
        s += dy[positions[p + 1u] * hid + h];
        s += dy[positions[p + 2u] * hid + h];
        s += dy[positions[p + 3u] * hid + h];
        p += 4u;
    }
    while (p < end) {
        s += dy[positions[p] * hid + h];
        p += 1u;
    }
    dtable[i] = s;
}
