//! Cooperative matrices (tensor cores, AMD WMMA, Apple simdgroup matrices)
//! through wgpu's experimental `wgpu_cooperative_matrix` WGSL extension:
//! which configurations an adapter reports, and whether dnagpu's kernels
//! can use one. The kernels need square blocks, 16 x 16 x 16 (NVIDIA and
//! AMD Vulkan drivers; Intel's report other shapes, unverified) or 8 x 8 x 8
//! (Apple, Mesa's lavapipe), with f16
//! A/B and an f32 accumulator, plus f16 arithmetic and subgroups (the
//! kernels hand blocks to subgroups by `subgroup_id`). They are off unless
//! `DNAGPU_COOP=on`: wgpu 30 emits their SPIR-V under the Vulkan memory
//! model without the availability/visibility operations its workgroup
//! barriers need (gfx-rs/wgpu#8805), so on a driver that exploits that the
//! hand-offs through workgroup memory are not ordered; they pass their
//! tests on Mesa's lavapipe, and go on by default once they pass on
//! hardware with a fixed wgpu.

use wgpu::{CooperativeMatrixProperties, CooperativeScalarType, Features};

/// Features a device is opened with when the adapter offers cooperative
/// matrices dnagpu can use (and `DNAGPU_COOP` is not `off`).
pub(crate) const FEATURES: Features = Features::EXPERIMENTAL_COOPERATIVE_MATRIX
    .union(Features::SHADER_F16)
    .union(Features::SUBGROUP);

/// `m x n x k A/B -> C` of one configuration, as `dnagpu info` prints it.
pub fn describe(p: &CooperativeMatrixProperties) -> String {
    let sat = if p.saturating_accumulation {
        " (saturating)"
    } else {
        ""
    };
    format!(
        "{}x{}x{} {}->{}{sat}",
        p.m_size,
        p.n_size,
        p.k_size,
        scalar(p.ab_type),
        scalar(p.cr_type)
    )
}

fn scalar(t: CooperativeScalarType) -> &'static str {
    match t {
        CooperativeScalarType::F32 => "f32",
        CooperativeScalarType::F16 => "f16",
        CooperativeScalarType::I32 => "i32",
        CooperativeScalarType::U32 => "u32",
    }
}

/// The block size of the kernels' configuration among `configs`: 16 for
/// 16x16x16 f16 A/B -> f32 C, else 8 for 8x8x8, else none.
pub fn block_size(configs: &[CooperativeMatrixProperties]) -> Option<u32> {
    let has = |size: u32| {
        configs.iter().any(|p| {
            p.m_size == size
                && p.n_size == size
                && p.k_size == size
                && p.ab_type == CooperativeScalarType::F16
                && p.cr_type == CooperativeScalarType::F32
                && !p.saturating_accumulation
        })
    };
    [16, 8].into_iter().find(|&s| has(s))
}

/// The block size dnagpu's cooperative-matrix kernels run with on an
/// adapter with these features and configurations, if they can run
/// (`DNAGPU_COOP=off` aside).
pub fn usable(features: Features, configs: &[CooperativeMatrixProperties]) -> Option<u32> {
    if features.contains(FEATURES) && !cfg!(target_arch = "wasm32") {
        block_size(configs)
    } else {
        None
    }
}

/// `DNAGPU_COOP=on` opens devices with cooperative matrices (see the
/// module docs); anything else leaves the f32 kernels everywhere.
pub fn switched_on() -> bool {
    matches!(std::env::var("DNAGPU_COOP").as_deref(), Ok("on"))
}

/// The line `dnagpu info` adds where an adapter has usable configurations.
pub fn off_by_default_note() -> &'static str {
    "off unless DNAGPU_COOP=on (wgpu 30's SPIR-V for them lacks the Vulkan memory model's availability operations: gfx-rs/wgpu#8805)"
}

/// Why an adapter has no usable configuration, for `dnagpu info`.
pub fn why_not(features: Features, configs: &[CooperativeMatrixProperties]) -> Option<String> {
    if !features.contains(Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        return Some(
            "none (the adapter does not offer wgpu's cooperative-matrix feature; on Vulkan it needs VK_KHR_cooperative_matrix and vulkanMemoryModelDeviceScope)"
                .into(),
        );
    }
    if block_size(configs).is_none() {
        return Some(
            "none of them is 16x16x16 or 8x8x8 f16->f32, the ones dnagpu's kernels use".into(),
        );
    }
    if !features.contains(Features::SHADER_F16 | Features::SUBGROUP) {
        return Some("unused: the kernels also need shader-f16 and subgroups".into());
    }
    None
}
