// reduce_subgroup.wgsl — reduce_workgroup.wgsl's entry point and reductions
// (same contract) with subgroup operations, for devices with subgroups:
// each subgroup reduces in registers (subgroupAdd / subgroupMax), its lane
// 0 stores the result at the subgroup's index, and every
// invocation combines those num_subgroups values in index order. Two
// barriers per reduction instead of nine; deterministic for a given
// subgroup size. Workgroup memory: 2 KiB (any subgroup size down to 1).

const WG: u32 = 256u;
var<workgroup> red: array<vec2<f32>, 256>;
var<private> sg: u32;
var<private> sg_count: u32;
var<private> sg_lane: u32;

// op 0 = sum, 1 = max, element-wise.
fn combine(v: vec2<f32>, op: u32) -> vec2<f32> {
    if (sg_lane == 0u) {
        red[sg] = v;
    }
    workgroupBarrier();
    var r = red[0];
    for (var i = 1u; i < sg_count; i++) {
        r = select(r + red[i], max(r, red[i]), op == 1u);
    }
    workgroupBarrier();
    return r;
}

fn sum_all(v: f32) -> f32 {
    return combine(vec2<f32>(subgroupAdd(v), 0.0), 0u).x;
}

fn max_all(v: f32) -> f32 {
    return combine(vec2<f32>(subgroupMax(v), 0.0), 1u).x;
}

fn sum2_all(v: vec2<f32>) -> vec2<f32> {
    return combine(subgroupAdd(v), 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(subgroup_id) sid: u32,
        @builtin(num_subgroups) nsg: u32, @builtin(subgroup_invocation_id) sl: u32) {
    sg = sid;
    sg_lane = sl;
    sg_count = nsg;
    run(wg, nwg, li);
}
