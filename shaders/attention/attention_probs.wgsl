// attention_probs.wgsl — the softmax attention probabilities of chosen
// heads, materialised (the flash kernels never hold them): what
// `dnagpu attention` writes. Same scores as flash_attention.wgsl.
// Layout:
//   qkv:    [B, T, 3H] f32, token row = [q (H) | k (H) | v (H)], head h at
//           columns h*D .. h*D + D of each part (H = heads * D); rotary
//           positions (NT v2) already applied.
//   mask:   [B, T] u32, nonzero = real token, 0 = padding (any position).
//   slopes: [heads] f32, ALiBi slope m_h (all 0 = no positional bias).
//   probs:  [B, NH, T, T] f32 for heads head0 .. head0 + NH: probs[b, n, i, j]
//           = softmax_j(s[i, :])[j] for head h = head0 + n, with
//           s[i, j] = (q_i · k_j) * scale - m_h * |i - j| over valid keys j.
//           0 at padded keys, and the whole row 0 for a padded query or a
//           row with no valid key.
// Work: one workgroup of 256 per (query row i, b * NH + n); each invocation
// takes keys li, li + 256, ...: it writes its raw scores into the row of
// `probs`, then their exponentials, then the probabilities, with the row's
// max and sum from the workgroup reductions in between (the same
// invocation reads back only what it wrote). q sits in workgroup memory.
// Entry point and reductions come from the prepended reduce_workgroup.wgsl.
// Grid: (T, B * NH, 1). Workgroup memory: 2 KiB + 512 bytes.

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params; // common/attention_params.wgsl


var<workgroup> qs: array<f32, 128>;

// Called by `main` (reduce_workgroup.wgsl).
fn run(wg: vec3<u32>, nwg: vec3<u32>, li: u32) {
    let t = params.seq;
    let d = params.head_dim;
    let hid = params.heads * d;
    let i = wg.x;
    let b = wg.y / params.nh;
    let n = wg.y % params.nh;
    let h = params.head0 + n;
    let slope = slopes[h];
    // No early return: every invocation must reach the barriers.
    let row_ok = mask[b * t + i] != 0u;
    if (li < d) {
        qs[li] = qkv[(b * t + i) * 3u * hid + h * d + li] * params.scale;
    }
    workgroupBarrier();
    let row = ((b * params.nh + n) * t + i) * t;
    var m = NEG_BIG;
    for (var j = li; j < t; j += WG) {
        var s = 0.0;
        if (row_ok && mask[b * t + j] != 0u) {
            let kb = (b * t + j) * 3u * hid + hid + h * d;
            var dot = 0.0;
            for (var c = 0u; c < d; c++) {
                dot = fma(qs[c], qkv[kb + c], dot);
            }
            s = dot - slope * f32(max(i, j) - min(i, j));
            m = max(m, s);
        }
        probs[row + j] = s;
    }
    m = max_all(m);
    var l = 0.0;
    for (var j = li; j < t; j += WG) {
        var p = 0.0;
        if (row_ok && mask[b * t + j] != 0u) {
            p = exp(probs[row + j] - m);
            l += p;
        }
        probs[row + j] = p;
    }
    l = sum_all(l);
    var inv = 0.0;
    if (l > 0.0) {
        inv = 1.0 / l;
    }
    for (var j = li; j < t; j += WG) {
        probs[row + j] *= inv;
    }
}
