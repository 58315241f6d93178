// attention_rows.wgsl — a snippet, not a kernel: prepended to the attention
// kernels that take one query (or key) row per invocation (flash_attention,
// flash_attention_backward_q, flash_attention_backward_kv), which bind the
// packed `qkv: array<act>` [B, T, 3H] (common/act_f32.wgsl or act_f16.wgsl).
// Overrides (set by ops/attention/mod.rs `constants`): D = head dim
// (<= 128), D4 = ceil(D / 4), BC = min(64, 512 / D4). Constant trip counts
// let compilers unroll the per-key loops and keep lavapipe under its
// 65535-iterations-per-invocation loop limiter, past which it silently
// stops looping.

override D: u32 = 64u;
override D4: u32 = 16u;
override BC: u32 = 32u;

// Rows per workgroup: one per invocation.
const BR: u32 = 64u;

// Four consecutive head features of qkv starting at `base + 4c`, zero past D.
fn load_qkv4(base: u32, c: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < D) {
            v[e] = f32(qkv[base + 4u * c + e]);
        }
    }
    return v;
}
