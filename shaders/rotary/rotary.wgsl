// rotary.wgsl — rotary position embedding on the q and k parts of packed
// QKV (the Nucleotide Transformer v2, as Hugging Face's ESM applies it):
//   x, y: [B, T, 3H] = [q | k | v] per token, head h at columns h*D ..
//   (activations, `act`: f32, or f16 with act_f16.wgsl; arithmetic f32);
//   table: [T, D/2, 2] f32 = (cos θ, sin θ), θ = t * inv_freq[j] (the host
//   computes it, so that large angles are exact whatever the GPU's sin is).
//   For q and k of every head, halves u1 = u[:D/2], u2 = u[D/2:] (not
//   interleaved pairs): y = [u1 cos - u2 sin, u2 cos + u1 sin]; v is copied.
// Bindings: 0 x, 1 table, 2 y, 3 params (rows B*T, seq T, hidden H, head dim D).
// Grid: one invocation per element of y, groups of 256 folded into 2-D.

struct Params {
    rows: u32,
    seq: u32,
    hidden: u32,
    head_dim: u32,
}

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<act>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    let width = 3u * params.hidden;
    if (i >= params.rows * width) {
        return;
    }
    let row = i / width;
    let c = i % width;
    if (c >= 2u * params.hidden) {
        y[i] = x[i];
        return;
    }
    let d = (c % params.hidden) % params.head_dim;
    let half = params.head_dim / 2u;
    let j = d % half;
    let at = ((row % params.seq) * half + j) * 2u;
    let cs = table[at];
    let sn = table[at + 1u];
    if (d < half) {
        y[i] = act(f32(x[i]) * cs - f32(x[i + half]) * sn);
    } else {
        y[i] = act(f32(x[i]) * cs + f32(x[i - half]) * sn);
    }
}
