//! Every WGSL kernel, registered in one table, and the pipeline cache: one
//! compiled pipeline per (kernel, override constants).

use std::collections::HashMap;

/// The one table of kernels: for each, its folder and file under `shaders/`
/// (the folder is the op's, as in `src/ops/<op>/`), a note that tells its
/// variant apart in profiles, the snippets prepended to it (WGSL has no
/// includes), and its invocations per workgroup and bytes of workgroup
/// memory (checked against the device's limits before a dispatch, and
/// against the WGSL by tests/shaders.rs). Entry point `main`.
macro_rules! kernels {
    ($(
        $(#[doc = $doc:literal])*
        $kernel:ident => $dir:literal / $file:literal $(($note:literal))?,
            snippets [$($snippet:literal),*], workgroup ($invocations:expr, $memory:expr);
    )*) => {
        /// Every WGSL kernel, named by an enum (never by strings).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kernel {
            $($(#[doc = $doc])* $kernel,)*
        }

        impl Kernel {
            pub const ALL: &'static [Kernel] = &[$(Kernel::$kernel,)*];

            /// The file's path under `shaders/`.
            pub fn file(self) -> &'static str {
                match self {
                    $(Kernel::$kernel => concat!($dir, "/", $file),)*
                }
            }

            /// The kernel's name in profiles and labels: its file, and the
            /// variant's note (storage of B, subgroup reductions).
            pub fn name(self) -> &'static str {
                match self {
                    $(Kernel::$kernel => concat!($file $(, " (", $note, ")")?),)*
                }
            }

            /// The snippets prepended to the kernel, as paths under `shaders/`.
            pub fn snippets(self) -> &'static [&'static str] {
                match self {
                    $(Kernel::$kernel => &[$($snippet),*],)*
                }
            }

            /// Invocations per workgroup and bytes of workgroup memory at the
            /// default override constants.
            pub fn workgroup(self) -> (u32, u32) {
                match self {
                    $(Kernel::$kernel => ($invocations, $memory),)*
                }
            }

            /// The WGSL: the snippets, then the kernel's file.
            pub fn source(self) -> &'static str {
                match self {
                    $(Kernel::$kernel => concat!(
                        $(include_str!(concat!("../../shaders/", $snippet)), "\n",)*
                        include_str!(concat!("../../shaders/", $dir, "/", $file))
                    ),)*
                }
            }
        }
    };
}

kernels! {
    Matmul => "matmul" / "matmul.wgsl",
        snippets ["common/act_f32.wgsl", "matmul/matmul_b_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 1024 * 4);
    MatmulTiled => "matmul" / "matmul_tiled.wgsl",
        snippets ["common/act_f32.wgsl", "matmul/matmul_tiled_b_f32.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 264 * 16);
    /// The matmuls with B (the weight) stored as f16.
    MatmulF16 => "matmul" / "matmul.wgsl" ("f16 B"),
        snippets ["common/act_f32.wgsl", "matmul/matmul_b_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 1024 * 4);
    MatmulHalf => "matmul" / "matmul.wgsl" ("f16 A, B, C"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "matmul/matmul_b_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 1024 * 4);
    MatmulTiledF16 => "matmul" / "matmul_tiled.wgsl" ("f16 B"),
        snippets ["common/act_f32.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 264 * 16);
    /// Half-precision activations (A and C f16, f16 B, f32 sums), and the
    /// same with f32 C for the partial products of a split K.
    MatmulTiledHalf => "matmul" / "matmul_tiled.wgsl" ("f16 A, B, C"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 264 * 16);
    MatmulTiledHalfSplit => "matmul" / "matmul_tiled.wgsl" ("f16 A, B; f32 C"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 2 * 264 * 16);
    /// The matmuls on cooperative matrices (f16 operands, f32 sums) of
    /// 16 x 16 or 8 x 8 blocks: devices with `coop::FEATURES`.
    MatmulCoop16 => "matmul" / "matmul_coop.wgsl" ("cooperative 16"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f32.wgsl", "matmul/matmul_tiled_b_f32.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (64 * 40 + 32 * 72) * 2 + 64 * 64 * 4);
    MatmulCoop16F16 => "matmul" / "matmul_coop.wgsl" ("cooperative 16, f16 B"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f32.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (64 * 40 + 32 * 72) * 2 + 64 * 64 * 4);
    MatmulCoop16Half => "matmul" / "matmul_coop.wgsl" ("cooperative 16, f16 A, B, C"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f16.wgsl", "common/gelu.wgsl"],
        workgroup (128, (64 * 40 + 32 * 72) * 2 + 64 * 64 * 4);
    MatmulCoop16HalfSplit => "matmul" / "matmul_coop.wgsl" ("cooperative 16, f16 A, B; f32 C"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (64 * 40 + 32 * 72) * 2 + 64 * 64 * 4);
    MatmulCoop8 => "matmul" / "matmul_coop.wgsl" ("cooperative 8"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f32.wgsl", "matmul/matmul_tiled_b_f32.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (32 * 24 + 16 * 40) * 2 + 32 * 32 * 4);
    MatmulCoop8F16 => "matmul" / "matmul_coop.wgsl" ("cooperative 8, f16 B"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f32.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (32 * 24 + 16 * 40) * 2 + 32 * 32 * 4);
    MatmulCoop8Half => "matmul" / "matmul_coop.wgsl" ("cooperative 8, f16 A, B, C"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f16.wgsl", "common/gelu.wgsl"],
        workgroup (128, (32 * 24 + 16 * 40) * 2 + 32 * 32 * 4);
    MatmulCoop8HalfSplit => "matmul" / "matmul_coop.wgsl" ("cooperative 8, f16 A, B; f32 C"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f16.wgsl", "matmul/matmul_tiled_b_f16.wgsl", "matmul/matmul_c_f32.wgsl", "common/gelu.wgsl"],
        workgroup (128, (32 * 24 + 16 * 40) * 2 + 32 * 32 * 4);
    FlashAttention => "attention" / "flash_attention.wgsl",
        snippets ["common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    FlashAttentionTiled => "attention" / "flash_attention_tiled.wgsl",
        snippets ["common/act_f32.wgsl", "common/attention_params.wgsl"], workgroup (256, 4096 * 4 + 2 * 512 * 16);
    /// The forward on half-precision activations (f16 qkv and output).
    FlashAttentionHalf => "attention" / "flash_attention.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    FlashAttentionTiledHalf => "attention" / "flash_attention_tiled.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl"], workgroup (256, 4096 * 4 + 2 * 512 * 16);
    /// The forward on cooperative matrices (head dim 64; f16 q, k, v, P).
    FlashAttentionCoop16 => "attention" / "flash_attention_coop.wgsl" ("cooperative 16"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl"],
        workgroup (128, (64 * 72 + 32 * 72 + 64 * 40) * 2 + (64 * 32 + 64 * 64 + 2 * 64 + 32) * 4);
    FlashAttentionCoop16Half => "attention" / "flash_attention_coop.wgsl" ("cooperative 16, f16"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl"],
        workgroup (128, (64 * 72 + 32 * 72 + 64 * 40) * 2 + (64 * 32 + 64 * 64 + 2 * 64 + 32) * 4);
    FlashAttentionCoop8 => "attention" / "flash_attention_coop.wgsl" ("cooperative 8"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl"],
        workgroup (128, (32 * 72 + 16 * 72 + 32 * 24) * 2 + (32 * 16 + 32 * 64 + 2 * 32 + 16) * 4);
    FlashAttentionCoop8Half => "attention" / "flash_attention_coop.wgsl" ("cooperative 8, f16"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl"],
        workgroup (128, (32 * 72 + 16 * 72 + 32 * 24) * 2 + (32 * 16 + 32 * 64 + 2 * 32 + 16) * 4);
    /// The attention probabilities materialised (`dnagpu attention`).
    AttentionProbs => "attention" / "attention_probs.wgsl",
        snippets ["common/attention_params.wgsl", "common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8 + 128 * 4);
    FlashAttentionBackwardQ => "attention_backward" / "flash_attention_backward_q.wgsl",
        snippets ["common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    FlashAttentionBackwardKv => "attention_backward" / "flash_attention_backward_kv.wgsl",
        snippets ["common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    /// The attention backward on cooperative matrices (head dim 64; f16 q,
    /// k, v, dO, P and dS, f32 sums; saved qkv and O f32 or f16).
    FlashAttentionBackwardQCoop16 => "attention_backward" / "flash_attention_backward_q_coop.wgsl" ("cooperative 16"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 32 * 72 * 2 + 32 * 32 * 4 + 2 * 32 * 40 * 2 + 32 * 64 * 4 + 4 * 32 * 4);
    FlashAttentionBackwardKvCoop16 => "attention_backward" / "flash_attention_backward_kv_coop.wgsl" ("cooperative 16"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 32 * 72 * 2 + 32 * 32 * 4 + 2 * 32 * 40 * 2 + 2 * 32 * 64 * 4 + 4 * 32 * 4);
    FlashAttentionBackwardQCoop16Half => "attention_backward" / "flash_attention_backward_q_coop.wgsl" ("cooperative 16, f16 saved"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 32 * 72 * 2 + 32 * 32 * 4 + 2 * 32 * 40 * 2 + 32 * 64 * 4 + 4 * 32 * 4);
    FlashAttentionBackwardKvCoop16Half => "attention_backward" / "flash_attention_backward_kv_coop.wgsl" ("cooperative 16, f16 saved"),
        snippets ["common/coop_enable.wgsl", "common/coop_16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 32 * 72 * 2 + 32 * 32 * 4 + 2 * 32 * 40 * 2 + 2 * 32 * 64 * 4 + 4 * 32 * 4);
    FlashAttentionBackwardQCoop8 => "attention_backward" / "flash_attention_backward_q_coop.wgsl" ("cooperative 8"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 16 * 72 * 2 + 16 * 16 * 4 + 2 * 16 * 24 * 2 + 16 * 64 * 4 + 4 * 16 * 4);
    FlashAttentionBackwardKvCoop8 => "attention_backward" / "flash_attention_backward_kv_coop.wgsl" ("cooperative 8"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f32.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 16 * 72 * 2 + 16 * 16 * 4 + 2 * 16 * 24 * 2 + 2 * 16 * 64 * 4 + 4 * 16 * 4);
    FlashAttentionBackwardQCoop8Half => "attention_backward" / "flash_attention_backward_q_coop.wgsl" ("cooperative 8, f16 saved"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 16 * 72 * 2 + 16 * 16 * 4 + 2 * 16 * 24 * 2 + 16 * 64 * 4 + 4 * 16 * 4);
    FlashAttentionBackwardKvCoop8Half => "attention_backward" / "flash_attention_backward_kv_coop.wgsl" ("cooperative 8, f16 saved"),
        snippets ["common/coop_enable.wgsl", "common/coop_8.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_backward_coop.wgsl"],
        workgroup (128, 4 * 16 * 72 * 2 + 16 * 16 * 4 + 2 * 16 * 24 * 2 + 2 * 16 * 64 * 4 + 4 * 16 * 4);
    LayerNorm => "layer_norm" / "layer_norm.wgsl",
        snippets ["common/act_f32.wgsl", "common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8);
    Softmax => "softmax" / "softmax.wgsl",
        snippets ["common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8);
    /// The row kernels with subgroup reductions (devices with subgroups).
    LayerNormSubgroup => "layer_norm" / "layer_norm.wgsl" ("subgroups"),
        snippets ["common/act_f32.wgsl", "common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8);
    SoftmaxSubgroup => "softmax" / "softmax.wgsl" ("subgroups"),
        snippets ["common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8);
    AttentionProbsSubgroup => "attention" / "attention_probs.wgsl" ("subgroups"),
        snippets ["common/attention_params.wgsl", "common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8 + 128 * 4);
    LayerNormBackwardSubgroup => "layer_norm_backward" / "layer_norm_backward.wgsl" ("subgroups"),
        snippets ["common/act_f32.wgsl", "common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8);
    Unary => "elementwise" / "unary.wgsl",
        snippets ["common/act_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    Binary => "elementwise" / "binary.wgsl",
        snippets ["common/act_f32.wgsl"], workgroup (256, 0);
    Geglu => "elementwise" / "geglu.wgsl",
        snippets ["common/act_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    /// The kernels of half-precision activations (f16 storage, f32
    /// arithmetic) other than the matmuls: `Kernel::half`.
    UnaryHalf => "elementwise" / "unary.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    GegluHalf => "elementwise" / "geglu.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    BinaryHalf => "elementwise" / "binary.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl"], workgroup (256, 0);
    RotaryHalf => "rotary" / "rotary.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl"], workgroup (256, 0);
    LayerNormHalf => "layer_norm" / "layer_norm.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8);
    LayerNormSubgroupHalf => "layer_norm" / "layer_norm.wgsl" ("subgroups, f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8);
    Rotary => "rotary" / "rotary.wgsl",
        snippets ["common/act_f32.wgsl"], workgroup (256, 0);
    Columns => "columns" / "columns.wgsl",
        snippets ["common/act_f32.wgsl"], workgroup (256, 0);
    /// LoRA beside f16 weights with half-precision activations.
    ColumnsHalf => "columns" / "columns.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl"], workgroup (256, 0);
    Embedding => "embedding" / "embedding.wgsl",
        snippets [], workgroup (256, 0);
    Pool => "pool" / "pool.wgsl",
        snippets [], workgroup (256, 0);
    LayerNormBackward => "layer_norm_backward" / "layer_norm_backward.wgsl",
        snippets ["common/act_f32.wgsl", "common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8);
    LayerNormParamGrads => "layer_norm_backward" / "layer_norm_param_grads.wgsl",
        snippets ["common/act_f32.wgsl"], workgroup (256, 0);
    SumRows => "reduce" / "sum_rows.wgsl",
        snippets [], workgroup (256, 0);
    SumSquares => "reduce" / "sum_squares.wgsl",
        snippets [], workgroup (256, 256 * 4);
    EmbeddingBackward => "embedding_backward" / "embedding_backward.wgsl",
        snippets [], workgroup (256, 0);
    CrossEntropy => "cross_entropy" / "cross_entropy.wgsl",
        snippets [], workgroup (256, 256 * 4);
    ActivationBackward => "activation_backward" / "activation_backward.wgsl",
        snippets ["common/act_f32.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    Dropout => "dropout" / "dropout.wgsl",
        snippets ["common/act_f32.wgsl"], workgroup (256, 0);
    /// Training with half-precision activations: the forward's dropout on
    /// f16 activations, and the backward kernels that read the forward's
    /// saved f16 activations (gradients stay f32).
    DropoutHalf => "dropout" / "dropout.wgsl" ("f16"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl"], workgroup (256, 0);
    ActivationBackwardHalf => "activation_backward" / "activation_backward.wgsl" ("f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/gelu.wgsl"], workgroup (256, 0);
    LayerNormBackwardHalf => "layer_norm_backward" / "layer_norm_backward.wgsl" ("f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/reduce_workgroup.wgsl"], workgroup (256, 256 * 8);
    LayerNormBackwardSubgroupHalf => "layer_norm_backward" / "layer_norm_backward.wgsl" ("subgroups, f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/reduce_subgroup.wgsl"], workgroup (256, 256 * 8);
    LayerNormParamGradsHalf => "layer_norm_backward" / "layer_norm_param_grads.wgsl" ("f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl"], workgroup (256, 0);
    FlashAttentionBackwardQHalf => "attention_backward" / "flash_attention_backward_q.wgsl" ("f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    FlashAttentionBackwardKvHalf => "attention_backward" / "flash_attention_backward_kv.wgsl" ("f16 saved"),
        snippets ["common/enable_f16.wgsl", "common/act_f16.wgsl", "common/attention_params.wgsl", "common/attention_rows.wgsl"], workgroup (64, 2 * 512 * 16);
    AdamW => "adamw" / "adamw.wgsl",
        snippets [], workgroup (256, 0);
    Clip => "clip" / "clip.wgsl",
        snippets [], workgroup (1, 0);
    ToF16 => "cast" / "to_f16.wgsl",
        snippets [], workgroup (256, 0);
    ToF32 => "cast" / "to_f32.wgsl",
        snippets [], workgroup (256, 0);
}

impl Kernel {
    /// The variant of a row kernel with subgroup reductions; other kernels
    /// are themselves.
    pub fn with_subgroups(self) -> Kernel {
        match self {
            Kernel::LayerNorm => Kernel::LayerNormSubgroup,
            Kernel::LayerNormHalf => Kernel::LayerNormSubgroupHalf,
            Kernel::Softmax => Kernel::SoftmaxSubgroup,
            Kernel::LayerNormBackward => Kernel::LayerNormBackwardSubgroup,
            Kernel::LayerNormBackwardHalf => Kernel::LayerNormBackwardSubgroupHalf,
            Kernel::AttentionProbs => Kernel::AttentionProbsSubgroup,
            k => k,
        }
    }

    /// The variant of a kernel that reads and writes activations in f16
    /// when `dtype` is f16 (half-precision activations); itself otherwise.
    /// The backward kernels' variants read the forward's saved activations
    /// in f16 and keep gradients f32; the matmuls pick theirs in
    /// `ops::matmul` (a split K keeps f32 partial sums).
    pub fn half(self, dtype: crate::DType) -> Kernel {
        if dtype != crate::DType::F16 {
            return self;
        }
        match self {
            Kernel::Unary => Kernel::UnaryHalf,
            Kernel::Binary => Kernel::BinaryHalf,
            Kernel::Rotary => Kernel::RotaryHalf,
            Kernel::Geglu => Kernel::GegluHalf,
            Kernel::LayerNorm => Kernel::LayerNormHalf,
            Kernel::FlashAttention => Kernel::FlashAttentionHalf,
            Kernel::FlashAttentionTiled => Kernel::FlashAttentionTiledHalf,
            Kernel::FlashAttentionCoop16 => Kernel::FlashAttentionCoop16Half,
            Kernel::FlashAttentionCoop8 => Kernel::FlashAttentionCoop8Half,
            Kernel::Dropout => Kernel::DropoutHalf,
            Kernel::Columns => Kernel::ColumnsHalf,
            Kernel::ActivationBackward => Kernel::ActivationBackwardHalf,
            Kernel::LayerNormBackward => Kernel::LayerNormBackwardHalf,
            Kernel::LayerNormParamGrads => Kernel::LayerNormParamGradsHalf,
            Kernel::FlashAttentionBackwardQ => Kernel::FlashAttentionBackwardQHalf,
            Kernel::FlashAttentionBackwardKv => Kernel::FlashAttentionBackwardKvHalf,
            Kernel::FlashAttentionBackwardQCoop16 => Kernel::FlashAttentionBackwardQCoop16Half,
            Kernel::FlashAttentionBackwardKvCoop16 => Kernel::FlashAttentionBackwardKvCoop16Half,
            Kernel::FlashAttentionBackwardQCoop8 => Kernel::FlashAttentionBackwardQCoop8Half,
            Kernel::FlashAttentionBackwardKvCoop8 => Kernel::FlashAttentionBackwardKvCoop8Half,
            k => k,
        }
    }

    /// [`Kernel::workgroup`] for given override constants: the tiled
    /// matmul's workgroup memory grows with its k step `BK`.
    pub fn workgroup_with(self, constants: &[(&str, u32)]) -> (u32, u32) {
        match self {
            Kernel::MatmulTiled
            | Kernel::MatmulTiledF16
            | Kernel::MatmulTiledHalf
            | Kernel::MatmulTiledHalfSplit => {
                let bk = constants.iter().find(|c| c.0 == "BK").map_or(8, |c| c.1);
                (256, 2 * bk * 33 * 16)
            }
            Kernel::MatmulCoop16
            | Kernel::MatmulCoop16F16
            | Kernel::MatmulCoop8
            | Kernel::MatmulCoop8F16
            | Kernel::MatmulCoop16Half
            | Kernel::MatmulCoop16HalfSplit
            | Kernel::MatmulCoop8Half
            | Kernel::MatmulCoop8HalfSplit
            | Kernel::FlashAttentionCoop16
            | Kernel::FlashAttentionCoop8
            | Kernel::FlashAttentionCoop16Half
            | Kernel::FlashAttentionCoop8Half
            | Kernel::FlashAttentionBackwardQCoop16
            | Kernel::FlashAttentionBackwardKvCoop16
            | Kernel::FlashAttentionBackwardQCoop8
            | Kernel::FlashAttentionBackwardKvCoop8
            | Kernel::FlashAttentionBackwardQCoop16Half
            | Kernel::FlashAttentionBackwardKvCoop16Half
            | Kernel::FlashAttentionBackwardQCoop8Half
            | Kernel::FlashAttentionBackwardKvCoop8Half => {
                let wg = constants.iter().find(|c| c.0 == "WG").map_or(128, |c| c.1);
                (wg, self.workgroup().1)
            }
            k => k.workgroup(),
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
