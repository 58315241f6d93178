// attention_params.wgsl — a snippet, not a kernel: prepended to every
// attention kernel (forward, backward, probabilities). The uniform they all
// take (mirrors `ops::attention::Params`) and the "minus infinity" their
// online softmax starts from.

struct Params {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    // 1 / sqrt(head_dim), applied to q · k.
    scale: f32,
    // The heads head0 .. head0 + nh whose probabilities attention_probs
    // materialises; the other kernels take all heads.
    head0: u32,
    nh: u32,
    _p0: u32,
}

// The most negative finite f32: a row's running max before any valid key,
// and the log-sum-exp of a row with none (finite, so no inf - inf = NaN).
const NEG_BIG: f32 = -0x1.fffffep+127f;
