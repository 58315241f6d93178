// adamw.wgsl — one AdamW step (PyTorch's single-tensor order, decoupled
// weight decay), element-wise for i < n:
//   g = grad * clip[0] * grad_scale;  p = param * decay  (decay = 1 - lr wd)
//   m' = m + (g - m) * one_minus_beta1;  v' = v * beta2 + one_minus_beta2 * g * g
//   p' = p - step_size * (m' / (sqrt(v') / bc2_sqrt + eps))
//   (step_size = lr / (1 - beta1^step), bc2_sqrt = sqrt(1 - beta2^step), host f64 -> f32)
//   clip: [4] f32 from clip.wgsl (scale, ok, ..): with ok = 0 (a non-finite
//   loss or gradient) the outputs are copies of the inputs.
// Bindings: 0 param, 1 grad, 2 m, 3 v (inputs, [n] f32), 4 param_out,
//   5 m_out, 6 v_out ([n] f32), 7 clip, 8 params.
// Grid: groups of 256 folded into 2-D: i = (wg.y * num_wg.x + wg.x) * 256 + lid.

struct Params {
    n: u32,
    grad_scale: f32,
    decay: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<storage, read> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> m_in: array<f32>;
@group(0) @binding(3) var<storage, read> v_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> param_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> m_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_out: array<f32>;
@group(0) @binding(7) var<storage, read> clip: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * 256u + li;
    if (i >= params.n) {
        return;
    }
    if (clip[1] == 0.0) {
        param_out[i] = param[i];
        m_out[i] = m_in[i];
        v_out[i] = v_in[i];
        return;
    }
    let g = grad[i] * clip[0] * params.grad_scale;
    let p = param[i] * params.decay;
    let m0 = m_in[i];
    let m = m0 + (g - m0) * params.one_minus_beta1;
    let v = v_in[i] * params.beta2 + params.one_minus_beta2 * g * g;
    let denom = sqrt(v) / params.bc2_sqrt + params.eps;
    param_out[i] = p - params.step_size * (m / denom);
    m_out[i] = m;
    v_out[i] = v;
}
