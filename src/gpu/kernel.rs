//! Every WGSL kernel family, named by an enum (never by strings), and the
//! pipeline cache: one compiled pipeline per (kernel, override constants).

use std::collections::HashMap;

/// One WGSL file in `shaders/`, entry point `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Matmul,
    MatmulTiled,
    /// The matmuls with B (the weight) stored as f16.
    MatmulF16,
    MatmulTiledF16,
    FlashAttention,
    FlashAttentionTiled,
    FlashAttentionBackwardQ,
    FlashAttentionBackwardKv,
    LayerNorm,
    Softmax,
    /// The row kernels with subgroup reductions (devices with subgroups).
    LayerNormSubgroup,
    SoftmaxSubgroup,
    LayerNormBackwardSubgroup,
    Unary,
    Binary,
    Geglu,
    Rotary,
    Columns,
    Embedding,
    Pool,
    LayerNormBackward,
    LayerNormParamGrads,
    SumRows,
    SumSquares,
    EmbeddingBackward,
    CrossEntropy,
    ActivationBackward,
    Dropout,
    AdamW,
    Clip,
}

/// Kernels that apply GELU get the `gelu.wgsl` snippet prepended (WGSL has
/// no includes).
macro_rules! with_gelu {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/gelu.wgsl"),
            "\n",
            include_str!($file)
        )
    };
}

/// A matmul kernel after the snippet giving its B operand's storage and
/// the GELU snippet.
macro_rules! matmul_source {
    ($b:literal, $file:literal) => {
        concat!(
            include_str!($b),
            "\n",
            include_str!("../../shaders/gelu.wgsl"),
            "\n",
            include_str!($file)
        )
    };
}

/// A row kernel after the snippet giving its entry point and reductions
/// (workgroup or subgroup).
macro_rules! with_reduce {
    ($reduce:literal, $file:literal) => {
        concat!(include_str!($reduce), "\n", include_str!($file))
    };
}

/// Files under `shaders/` that are snippets prepended to kernels, not kernels.
pub const SNIPPETS: &[&str] = &[
    "gelu.wgsl",
    "reduce_workgroup.wgsl",
    "reduce_subgroup.wgsl",
    "matmul_b_f32.wgsl",
    "matmul_b_f16.wgsl",
    "matmul_tiled_b_f32.wgsl",
    "matmul_tiled_b_f16.wgsl",
];

impl Kernel {
    pub const ALL: &'static [Kernel] = &[
        Kernel::Matmul,
        Kernel::MatmulTiled,
        Kernel::MatmulF16,
        Kernel::MatmulTiledF16,
        Kernel::FlashAttention,
        Kernel::FlashAttentionTiled,
        Kernel::FlashAttentionBackwardQ,
        Kernel::FlashAttentionBackwardKv,
        Kernel::LayerNorm,
        Kernel::Softmax,
        Kernel::LayerNormSubgroup,
        Kernel::SoftmaxSubgroup,
        Kernel::LayerNormBackwardSubgroup,
        Kernel::Unary,
        Kernel::Binary,
        Kernel::Geglu,
        Kernel::Rotary,
        Kernel::Columns,
        Kernel::Embedding,
        Kernel::Pool,
        Kernel::LayerNormBackward,
        Kernel::LayerNormParamGrads,
        Kernel::SumRows,
        Kernel::SumSquares,
        Kernel::EmbeddingBackward,
        Kernel::CrossEntropy,
        Kernel::ActivationBackward,
        Kernel::Dropout,
        Kernel::AdamW,
        Kernel::Clip,
    ];

    /// The file name under `shaders/`.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::Matmul | Kernel::MatmulF16 => "matmul.wgsl",
            Kernel::MatmulTiled | Kernel::MatmulTiledF16 => "matmul_tiled.wgsl",
            Kernel::FlashAttention => "flash_attention.wgsl",
            Kernel::FlashAttentionTiled => "flash_attention_tiled.wgsl",
            Kernel::FlashAttentionBackwardQ => "flash_attention_backward_q.wgsl",
            Kernel::FlashAttentionBackwardKv => "flash_attention_backward_kv.wgsl",
            Kernel::LayerNorm | Kernel::LayerNormSubgroup => "layer_norm.wgsl",
            Kernel::Softmax | Kernel::SoftmaxSubgroup => "softmax.wgsl",
            Kernel::Unary => "unary.wgsl",
            Kernel::Binary => "binary.wgsl",
            Kernel::Geglu => "geglu.wgsl",
            Kernel::Rotary => "rotary.wgsl",
            Kernel::Columns => "columns.wgsl",
            Kernel::Embedding => "embedding.wgsl",
            Kernel::Pool => "pool.wgsl",
            Kernel::LayerNormBackward | Kernel::LayerNormBackwardSubgroup => {
                "layer_norm_backward.wgsl"
            }
            Kernel::LayerNormParamGrads => "layer_norm_param_grads.wgsl",
            Kernel::SumRows => "sum_rows.wgsl",
            Kernel::SumSquares => "sum_squares.wgsl",
            Kernel::EmbeddingBackward => "embedding_backward.wgsl",
            Kernel::CrossEntropy => "cross_entropy.wgsl",
            Kernel::ActivationBackward => "activation_backward.wgsl",
            Kernel::Dropout => "dropout.wgsl",
            Kernel::AdamW => "adamw.wgsl",
            Kernel::Clip => "clip.wgsl",
        }
    }

    /// The kernel's name in profiles and labels: its file, and the storage
    /// of B for the f16 variants, the reductions for the subgroup ones.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::MatmulF16 => "matmul.wgsl (f16 B)",
            Kernel::MatmulTiledF16 => "matmul_tiled.wgsl (f16 B)",
            Kernel::LayerNormSubgroup => "layer_norm.wgsl (subgroups)",
            Kernel::SoftmaxSubgroup => "softmax.wgsl (subgroups)",
            Kernel::LayerNormBackwardSubgroup => "layer_norm_backward.wgsl (subgroups)",
            k => k.file(),
        }
    }

    /// The variant of a row kernel with subgroup reductions; other kernels
    /// are themselves.
    pub fn with_subgroups(self) -> Kernel {
        match self {
            Kernel::LayerNorm => Kernel::LayerNormSubgroup,
            Kernel::Softmax => Kernel::SoftmaxSubgroup,
            Kernel::LayerNormBackward => Kernel::LayerNormBackwardSubgroup,
            k => k,
        }
    }

    /// Invocations per workgroup and bytes of workgroup memory, checked
    /// against the device's limits before a dispatch.
    pub fn workgroup(self) -> (u32, u32) {
        match self {
            Kernel::Matmul | Kernel::MatmulF16 => (256, 2 * 1024 * 4),
            Kernel::MatmulTiled | Kernel::MatmulTiledF16 => (256, 2 * 264 * 16),
            Kernel::FlashAttention
            | Kernel::FlashAttentionBackwardQ
            | Kernel::FlashAttentionBackwardKv => (64, 2 * 512 * 16),
            Kernel::FlashAttentionTiled => (256, 4096 * 4 + 2 * 512 * 16),
            Kernel::LayerNorm
            | Kernel::Softmax
            | Kernel::LayerNormBackward
            | Kernel::LayerNormSubgroup
            | Kernel::SoftmaxSubgroup
            | Kernel::LayerNormBackwardSubgroup => (256, 256 * 8),
            Kernel::SumSquares | Kernel::CrossEntropy => (256, 256 * 4),
            Kernel::LayerNormParamGrads | Kernel::SumRows | Kernel::EmbeddingBackward => (256, 0),
            Kernel::Unary
            | Kernel::Binary
            | Kernel::Geglu
            | Kernel::Rotary
            | Kernel::Columns
            | Kernel::Embedding
            | Kernel::Pool => (256, 0),
            Kernel::ActivationBackward | Kernel::Dropout | Kernel::AdamW => (256, 0),
            Kernel::Clip => (1, 0),
        }
    }

    /// [`Kernel::workgroup`] for given override constants: the tiled
    /// matmul's workgroup memory grows with its k step `BK`.
    pub fn workgroup_with(self, constants: &[(&str, u32)]) -> (u32, u32) {
        match self {
            Kernel::MatmulTiled | Kernel::MatmulTiledF16 => {
                let bk = constants.iter().find(|c| c.0 == "BK").map_or(8, |c| c.1);
                (256, 2 * bk * 33 * 16)
            }
            k => k.workgroup(),
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Kernel::Matmul => {
                matmul_source!(
                    "../../shaders/matmul_b_f32.wgsl",
                    "../../shaders/matmul.wgsl"
                )
            }
            Kernel::MatmulF16 => {
                matmul_source!(
                    "../../shaders/matmul_b_f16.wgsl",
                    "../../shaders/matmul.wgsl"
                )
            }
            Kernel::MatmulTiled => matmul_source!(
                "../../shaders/matmul_tiled_b_f32.wgsl",
                "../../shaders/matmul_tiled.wgsl"
            ),
            Kernel::MatmulTiledF16 => matmul_source!(
                "../../shaders/matmul_tiled_b_f16.wgsl",
                "../../shaders/matmul_tiled.wgsl"
            ),
            Kernel::FlashAttention => include_str!("../../shaders/flash_attention.wgsl"),
            Kernel::FlashAttentionTiled => include_str!("../../shaders/flash_attention_tiled.wgsl"),
            Kernel::FlashAttentionBackwardQ => {
                include_str!("../../shaders/flash_attention_backward_q.wgsl")
            }
            Kernel::FlashAttentionBackwardKv => {
                include_str!("../../shaders/flash_attention_backward_kv.wgsl")
            }
            Kernel::LayerNorm => with_reduce!(
                "../../shaders/reduce_workgroup.wgsl",
                "../../shaders/layer_norm.wgsl"
            ),
            Kernel::Softmax => with_reduce!(
                "../../shaders/reduce_workgroup.wgsl",
                "../../shaders/softmax.wgsl"
            ),
            Kernel::LayerNormSubgroup => with_reduce!(
                "../../shaders/reduce_subgroup.wgsl",
                "../../shaders/layer_norm.wgsl"
            ),
            Kernel::SoftmaxSubgroup => with_reduce!(
                "../../shaders/reduce_subgroup.wgsl",
                "../../shaders/softmax.wgsl"
            ),
            Kernel::LayerNormBackwardSubgroup => with_reduce!(
                "../../shaders/reduce_subgroup.wgsl",
                "../../shaders/layer_norm_backward.wgsl"
            ),
            Kernel::Unary => with_gelu!("../../shaders/unary.wgsl"),
            Kernel::Binary => include_str!("../../shaders/binary.wgsl"),
            Kernel::Geglu => with_gelu!("../../shaders/geglu.wgsl"),
            Kernel::Rotary => include_str!("../../shaders/rotary.wgsl"),
            Kernel::Columns => include_str!("../../shaders/columns.wgsl"),
            Kernel::Embedding => include_str!("../../shaders/embedding.wgsl"),
            Kernel::Pool => include_str!("../../shaders/pool.wgsl"),
            Kernel::LayerNormBackward => with_reduce!(
                "../../shaders/reduce_workgroup.wgsl",
                "../../shaders/layer_norm_backward.wgsl"
            ),
            Kernel::LayerNormParamGrads => {
                include_str!("../../shaders/layer_norm_param_grads.wgsl")
            }
            Kernel::SumRows => include_str!("../../shaders/sum_rows.wgsl"),
            Kernel::SumSquares => include_str!("../../shaders/sum_squares.wgsl"),
            Kernel::EmbeddingBackward => include_str!("../../shaders/embedding_backward.wgsl"),
            Kernel::CrossEntropy => include_str!("../../shaders/cross_entropy.wgsl"),
            Kernel::ActivationBackward => with_gelu!("../../shaders/activation_backward.wgsl"),
            Kernel::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Kernel::AdamW => include_str!("../../shaders/adamw.wgsl"),
            Kernel::Clip => include_str!("../../shaders/clip.wgsl"),
        }
    }
}

/// A kernel plus the values of its WGSL `override` constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    pub kernel: Kernel,
    pub constants: Vec<(&'static str, u32)>,
}

/// Which of wgpu's shader runtime checks wrap the kernels. Native default:
/// `Bounds`. wgpu's loop bounding (a counter in every loop, which keeps
/// drivers from unrolling the kernels' constant-trip loops) made every
/// kernel 3-14x slower on an NVIDIA H200 (docs/benchmarks.md). Browsers
/// apply their own checks whatever this says. `DNAGPU_SHADER_CHECKS=full|
/// bounds|off` overrides it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShaderChecks {
    /// Everything wgpu injects: bounds clamps, loop bounding, guarded division.
    Full,
    /// Bounds checks only. Sound for dnagpu's kernels: every loop is bounded
    /// by constants or by sizes in its uniform, and every integer divisor is
    /// a nonzero constant or a size of a non-empty tensor (empty dispatches
    /// are skipped).
    #[default]
    Bounds,
    /// None: the kernels' own range checks alone keep accesses in bounds.
    Off,
}

impl ShaderChecks {
    pub fn from_env() -> Self {
        match std::env::var("DNAGPU_SHADER_CHECKS").as_deref() {
            Ok("full") => ShaderChecks::Full,
            Ok("off") => ShaderChecks::Off,
            _ => ShaderChecks::Bounds,
        }
    }

    fn runtime_checks(self) -> wgpu::ShaderRuntimeChecks {
        match self {
            ShaderChecks::Full => wgpu::ShaderRuntimeChecks::checked(),
            ShaderChecks::Bounds => {
                let mut c = wgpu::ShaderRuntimeChecks::checked();
                c.force_loop_bounding = false;
                c.int_div_checks = false;
                c
            }
            ShaderChecks::Off => wgpu::ShaderRuntimeChecks::unchecked(),
        }
    }
}

/// Get-or-create pools of shader modules and pipelines for one device.
#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: HashMap<Kernel, wgpu::ShaderModule>,
    pipelines: HashMap<PipelineKey, wgpu::ComputePipeline>,
    checks: ShaderChecks,
}

impl PipelineCache {
    pub(crate) fn new(checks: ShaderChecks) -> Self {
        Self {
            checks,
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pipelines.len()
    }

    pub(crate) fn get(
        &mut self,
        device: &wgpu::Device,
        key: &PipelineKey,
    ) -> wgpu::ComputePipeline {
        if let Some(p) = self.pipelines.get(key) {
            return p.clone();
        }
        let module = self
            .modules
            .entry(key.kernel)
            .or_insert_with(|| {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(key.kernel.file()),
                    source: wgpu::ShaderSource::Wgsl(key.kernel.source().into()),
                };
                match self.checks {
                    ShaderChecks::Full => device.create_shader_module(desc),
                    // SAFETY: see `ShaderChecks::Bounds` for loops and
                    // divisors; for `Off`, every kernel range-checks its
                    // storage accesses itself (tested at sizes that are not
                    // multiples of the tiles).
                    checks => unsafe {
                        device.create_shader_module_trusted(desc, checks.runtime_checks())
                    },
                }
            })
            .clone();
        let constants: Vec<(&str, f64)> =
            key.constants.iter().map(|&(n, v)| (n, v as f64)).collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(key.kernel.file()),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                // Every kernel initialises the workgroup memory it reads.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        self.pipelines.insert(key.clone(), pipeline.clone());
        pipeline
    }
}
