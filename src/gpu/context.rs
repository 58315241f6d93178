//! Adapter selection and the device: created with the adapter's own limits
//! and the optional features dnagpu can use (shader-f16, subgroups,
//! timestamp queries, cooperative matrices) when the adapter has them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::coop;
use super::kernel::{PipelineCache, ShaderChecks};
use super::oom::{cap_from_env, device_limit, Fault};
use super::pool::PoolState;
use super::record::Recording;
use crate::error::{Error, Result};

/// Optional features requested when present.
const OPTIONAL_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY);

/// What `dnagpu info` shows of one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// A software rasteriser (llvmpipe, SwiftShader, WARP).
    pub is_software: bool,
    pub features: Vec<&'static str>,
    pub max_buffer_size: u64,
    pub max_storage_binding_size: u64,
    pub max_workgroup_storage_bytes: u32,
    pub max_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_stage: u32,
    /// The smallest and largest subgroups the adapter runs (32 where
    /// unknown).
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    /// Cooperative-matrix configurations the adapter reports
    /// (`coop::describe`), and why dnagpu cannot use them, if it cannot.
    pub cooperative_matrix: Vec<String>,
    pub cooperative_matrix_unused: Option<String>,
}

impl AdapterSummary {
    pub(crate) fn of(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let f = adapter.features();
        let coop_configs = cooperative_matrix_properties(adapter);
        let mut features = Vec::new();
        for (flag, name) in [
            (wgpu::Features::SHADER_F16, "shader-f16"),
            (wgpu::Features::SUBGROUP, "subgroups"),
            (wgpu::Features::TIMESTAMP_QUERY, "timestamp-query"),
            (
                wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
                "cooperative-matrix",
            ),
        ] {
            if f.contains(flag) {
                features.push(name);
            }
        }
        Self {
            index,
            name: display_name(&info),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            is_software: info.device_type == wgpu::DeviceType::Cpu,
            features,
            max_buffer_size: limits.max_buffer_size,
            max_storage_binding_size: limits.max_storage_buffer_binding_size,
            max_workgroup_storage_bytes: limits.max_compute_workgroup_storage_size,
            max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_storage_buffers_per_stage: limits.max_storage_buffers_per_shader_stage,
            subgroup_min_size: if info.subgroup_min_size > 0 {
                info.subgroup_min_size
            } else {
                32
            },
            subgroup_max_size: if info.subgroup_max_size > 0 {
                info.subgroup_max_size
            } else {
                32
            },
            cooperative_matrix: coop_configs.iter().map(coop::describe).collect(),
            cooperative_matrix_unused: coop::why_not(f, &coop_configs).or_else(|| {
                (!coop::switched_on()).then(|| coop::off_by_default_note().to_string())
            }),
        }
    }
}

/// The adapter's cooperative-matrix configurations (none in the browser).
fn cooperative_matrix_properties(
    adapter: &wgpu::Adapter,
) -> Vec<wgpu::CooperativeMatrixProperties> {
    if cfg!(target_arch = "wasm32") {
        Vec::new()
    } else {
        adapter.cooperative_matrix_properties()
    }
}

fn display_name(info: &wgpu::AdapterInfo) -> String {
    if info.name.is_empty() {
        // WebGPU hides the name unless developer features are on.
        format!("{:?} adapter", info.backend)
    } else {
        info.name.clone()
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter wgpu finds, hardware first.
pub(crate) async fn adapters() -> Vec<wgpu::Adapter> {
    let inst = instance();
    #[cfg(not(target_arch = "wasm32"))]
    let mut found = inst.enumerate_adapters(wgpu::Backends::all()).await;
    #[cfg(target_arch = "wasm32")]
    let mut found: Vec<wgpu::Adapter> = inst
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .into_iter()
        .collect();
    found.sort_by_key(|a| rank(&a.get_info()));
    found
}

/// Lower is better: discrete, integrated, virtual, other, software; Vulkan,
/// Metal and DX12 before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let ty = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let be = match info.backend {
        wgpu::Backend::Gl => 1,
        _ => 0,
    };
    (ty, be)
}

/// Summaries of every adapter, in preference order (what `info` prints).
pub async fn list_adapters() -> Vec<AdapterSummary> {
    adapters()
        .await
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterSummary::of(i, a))
        .collect()
}

/// A wgpu device with its queue, pools and the command recording in progress.
pub struct GpuDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) summary: AdapterSummary,
    pub(crate) limits: wgpu::Limits,
    pub(crate) features: wgpu::Features,
    /// Row kernels (layer norm, softmax) reduce with subgroup operations.
    subgroups: AtomicBool,
    /// Products with f16 operands run on cooperative matrices (`coop`).
    coop: AtomicBool,
    /// Their block size (8 or 16; 0 where the device has none usable).
    coop_block: u32,
    pub(crate) pool: Arc<Mutex<PoolState>>,
    pub(crate) pipelines: Mutex<PipelineCache>,
    pub(crate) recording: Mutex<Option<Recording>>,
    pub(crate) profile: Mutex<super::profile::Profile>,
    /// First error wgpu reported since it was last checked.
    pub(crate) error: Arc<Mutex<Option<Fault>>>,
    /// The largest buffer `alloc` and `upload` make (`gpu/oom.rs`).
    pub(crate) buffer_cap: AtomicU64,
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuDevice({} on {})",
            self.summary.name, self.summary.backend
        )
    }
}

impl GpuDevice {
    /// Opens `adapter` with its own limits and the optional features it has.
    pub(crate) async fn open(index: usize, adapter: &wgpu::Adapter) -> Result<Self> {
        let mut summary = AdapterSummary::of(index, adapter);
        let limits = adapter.limits();
        let mut coop_block =
            coop::usable(adapter.features(), &cooperative_matrix_properties(adapter))
                .filter(|_| coop::switched_on());
        let request = |coop_on: bool| {
            let mut features = adapter.features() & OPTIONAL_FEATURES;
            if coop_on {
                features |= coop::FEATURES;
            }
            adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("dnagpu"),
                required_features: features,
                required_limits: limits.clone(),
                // SAFETY: wgpu's experimental features may have bugs with
                // undefined behaviour; only the cooperative-matrix feature
                // is requested, only with DNAGPU_COOP=on, and only its
                // kernels use it.
                experimental_features: if coop_on {
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                ..Default::default()
            })
        };
        let opened = match request(coop_block.is_some()).await {
            // A driver that will not open with cooperative matrices still
            // runs everything else.
            Err(e) if coop_block.is_some() => {
                coop_block = None;
                summary.cooperative_matrix_unused =
                    Some(format!("unused: the device would not open with them ({e})"));
                request(false).await
            }
            r => r,
        };
        let (device, queue) =
            opened.map_err(|e| Error::Gpu(format!("opening {}: {e}", summary.name)))?;
        let coop_on = coop_block.is_some();
        let features = device.features();
        let buffer_cap = device_limit(&limits).min(cap_from_env()?.unwrap_or(u64::MAX));
        let error = Arc::new(Mutex::new(None::<Fault>));
        let slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = slot.lock() {
                s.get_or_insert_with(|| Fault::of(&e));
            }
        }));
        Ok(Self {
            device,
            queue,
            summary,
            limits,
            features,
            subgroups: AtomicBool::new(
                subgroups_usable(features)
                    && !matches!(std::env::var("DNAGPU_SUBGROUPS").as_deref(), Ok("off")),
            ),
            coop: AtomicBool::new(coop_on),
            coop_block: coop_block.unwrap_or(0),
            pool: Arc::default(),
            pipelines: Mutex::new(PipelineCache::new(ShaderChecks::from_env())),
            recording: Mutex::new(None),
            profile: Mutex::default(),
            error,
            buffer_cap: AtomicU64::new(buffer_cap),
        })
    }

    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    pub fn has_feature(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// Whether kernels may store f16 (`enable f16;`): the half-precision
    /// activations' variants need it.
    pub fn shader_f16(&self) -> bool {
        self.has_feature(wgpu::Features::SHADER_F16)
    }

    /// Whether the row kernels (layer norm and its backward, softmax) use
    /// subgroup reductions: where the device has subgroups, natively.
    pub fn subgroup_reductions(&self) -> bool {
        self.subgroups.load(Ordering::Relaxed)
    }

    /// Turns subgroup reductions on or off (tests and benchmarks compare
    /// both); on only where they are usable (`subgroups_usable`). Returns
    /// what is now in effect.
    pub fn set_subgroup_reductions(&self, on: bool) -> bool {
        let on = on && subgroups_usable(self.features);
        self.subgroups.store(on, Ordering::Relaxed);
        on
    }

    /// Whether products with f16 operands run on cooperative matrices.
    pub fn cooperative_matrices(&self) -> bool {
        self.coop.load(Ordering::Relaxed)
    }

    /// The cooperative-matrix kernels' block size (8 or 16), if the device
    /// has them usable (whether or not they are switched on now).
    pub fn cooperative_block(&self) -> Option<u32> {
        (self.coop_block > 0).then_some(self.coop_block)
    }

    /// Turns the cooperative-matrix kernels on or off (tests and benchmarks
    /// compare both); on only where the device was opened with them.
    /// Returns what is now in effect.
    pub fn set_cooperative_matrices(&self, on: bool) -> bool {
        let on = on && self.coop_block > 0;
        self.coop.store(on, Ordering::Relaxed);
        on
    }

    pub fn memory(&self) -> super::MemoryStats {
        self.pool.lock().map(|p| p.stats).unwrap_or_default()
    }

    /// Pipelines compiled so far (one per kernel and specialisation).
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Frees pooled buffers no tensor uses.
    pub fn trim(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.trim();
        }
    }

    /// Returns (and clears) the first error wgpu reported.
    pub(crate) fn take_error(&self) -> Result<()> {
        let e = self.error.lock().ok().and_then(|mut s| s.take());
        match e {
            Some(Fault::OutOfMemory(msg)) => Err(self.out_of_memory(format!("wgpu: {msg}"))),
            Some(Fault::Other(msg)) => Err(Error::Gpu(msg)),
            None => Ok(()),
        }
    }

    pub(crate) fn limit_err(&self, what: impl Into<String>, requested: u64, limit: u64) -> Error {
        Error::DeviceLimit {
            what: what.into(),
            requested,
            limit,
            device: self.summary.name.clone(),
        }
    }
}

/// Subgroup reductions (on by default; `DNAGPU_SUBGROUPS=off` turns them
/// off to compare) need a device with subgroups, natively: in the browser
/// Chrome wants `enable subgroups;` (which naga rejects) and its
/// `subgroup_id` support is unverified here (SwiftShader has no subgroups).
fn subgroups_usable(features: wgpu::Features) -> bool {
    features.contains(wgpu::Features::SUBGROUP) && !cfg!(target_arch = "wasm32")
}
