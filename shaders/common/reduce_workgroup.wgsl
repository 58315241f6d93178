// reduce_workgroup.wgsl — the entry point and workgroup reductions of the
// row kernels (layer_norm, layer_norm_backward, softmax), prepended to them
// where the device has no subgroups (reduce_subgroup.wgsl where it has):
//   main (256 invocations) calls the kernel's `fn run(wg, nwg, li)`;
//   sum_all(v) / max_all(v) / sum2_all(v) return the sum / max / sum of v
//   over the workgroup, to every invocation. Tree order: deterministic.
// Call them from uniform control flow (they hold barriers).
// Workgroup memory: 2 KiB.

const WG: u32 = 256u;
var<workgroup> red: array<vec2<f32>, 256>;
var<private> lane: u32;

// op 0 = sum, 1 = max, element-wise.
fn tree(v: vec2<f32>, op: u32) -> vec2<f32> {
    red[lane] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            let o = red[lane + s];
            red[lane] = select(red[lane] + o, max(red[lane], o), op == 1u);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn sum_all(v: f32) -> f32 {
    return tree(vec2<f32>(v, 0.0), 0u).x;
}

fn max_all(v: f32) -> f32 {
    return tree(vec2<f32>(v, 0.0), 1u).x;
}

fn sum2_all(v: vec2<f32>) -> vec2<f32> {
    return tree(v, 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    lane = li;
    run(wg, nwg, li);
}
