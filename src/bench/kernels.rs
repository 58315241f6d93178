//! GFLOP/s of the matmul kernels (each variant on the same shapes, so they
//! compare in one run) and of flash attention forward and backward at
//! T = 512..4096; small shapes for software adapters and the CPU.

use std::time::Instant;

use serde::Serialize;

use crate::ops::{self, AttentionKernel, Matmul, MatmulKernel};
use crate::{Device, Result, Tensor};

/// (name, M, N, K, layout, bias): square, then DNABERT-2-117M's products at
/// 32 x 512 tokens: the forward's linears (A · W^T + b), the backward's input
/// gradient (dY · W) and weight gradient (dY^T · X), a weight gradient of a
/// 32 x 128-token training step (few tiles: split K), and the forward of one
/// 128-token sequence (few tiles; without the bias, split K).
type Case = (&'static str, usize, usize, usize, Matmul, bool);
const FULL: &[Case] = &[
    ("square 2048", 2048, 2048, 2048, Matmul::NN, false),
    ("Wqkv fwd", 16384, 2304, 768, Matmul::NT, true),
    ("gated MLP fwd", 16384, 6144, 768, Matmul::NT, true),
    ("mlp.wo fwd", 16384, 768, 3072, Matmul::NT, true),
    ("Wqkv dX", 16384, 768, 2304, Matmul::NN, false),
    ("gated MLP dW", 6144, 768, 16384, Matmul::TN, false),
    ("Wqkv dW 32x128", 2304, 768, 4096, Matmul::TN, false),
    // One sequence of 128 tokens: few output tiles, latency-bound.
    ("Wqkv fwd 1x128", 128, 2304, 768, Matmul::NT, true),
    ("mlp.wo fwd 1x128", 128, 768, 3072, Matmul::NT, true),
    ("mlp.wo 1x128 no bias", 128, 768, 3072, Matmul::NT, false),
];
const SMALL: &[Case] = &[
    ("square 256", 256, 256, 256, Matmul::NN, false),
    ("Wqkv fwd", 256, 2304, 768, Matmul::NT, true),
    ("mlp.wo fwd", 256, 768, 3072, Matmul::NT, true),
    ("gated MLP dW", 768, 768, 256, Matmul::TN, false),
];

/// How the kernels are timed: on the small shapes or the full ones, and
/// how many repetitions per case.
#[derive(Clone, Copy)]
pub struct Setup {
    pub small: bool,
    pub iters: usize,
}

/// Whether the small shapes run: asked for, or a software adapter or the CPU.
pub fn small_shapes(dev: &Device, asked: bool) -> bool {
    let software = match dev {
        Device::Gpu(g) => g.summary().is_software,
        Device::Cpu => true,
    };
    asked || software
}

fn data(n: usize, seed: u64) -> Vec<f32> {
    crate::rng::Rng::new(seed).vec(n, 1.0)
}

/// Mean seconds of `f` over `iters` runs recorded back to back, after one
/// warm-up (which also compiles the pipeline).
fn time(dev: &Device, iters: usize, mut f: impl FnMut() -> Result<Vec<Tensor>>) -> Result<f64> {
    drop(f()?);
    dev.synchronize()?;
    let start = Instant::now();
    let mut keep = Vec::new();
    for _ in 0..iters {
        // Dropping outputs as we go lets the pool reuse their buffers.
        keep = f()?;
    }
    dev.synchronize()?;
    drop(keep);
    Ok(start.elapsed().as_secs_f64() / iters as f64)
}

/// One matmul case on one kernel.
#[derive(Serialize)]
pub struct MatmulRow {
    pub op: &'static str,
    pub case: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// `NN`, `NT` or `TN`.
    pub layout: String,
    /// `cpu`, `basic`, `tiled8`, `tiled16` or `coop`, then ` f16` for f16 weights.
    pub kernel: String,
    pub seconds: f64,
    pub gflops: f64,
}

/// Times every matmul case (small or full) on every kernel the device has,
/// f32 weights and (transposed B on a GPU) f16 ones; `on_row` gets each
/// result as it comes.
pub fn matmul(dev: &Device, setup: Setup, mut on_row: impl FnMut(&MatmulRow)) -> Result<()> {
    let Setup { small, iters } = setup;
    for &(name, m, n, k, spec, with_bias) in if small { SMALL } else { FULL } {
        let sa = if spec.trans_a { [k, m] } else { [m, k] };
        let sb = if spec.trans_b { [n, k] } else { [k, n] };
        let x = dev.tensor_f32(&sa, &data(m * k, 1))?;
        let wdata = data(n * k, 2);
        let w = dev.tensor_f32(&sb, &wdata)?;
        // Weights (B transposed) also as f16, as `--precision f16` keeps them.
        let w16 = if spec.trans_b && dev.is_gpu() {
            Some(dev.tensor_f16(&sb, &wdata)?)
        } else {
            None
        };
        let d = ops::matmul::MatmulDims::of(&sa, &sb, spec)?;
        let bias = if with_bias {
            Some(dev.tensor_f32(&[n], &data(n, 5))?)
        } else {
            None
        };
        let layout = format!(
            "{}{}",
            if spec.trans_a { "T" } else { "N" },
            if spec.trans_b { "T" } else { "N" }
        );
        let kernels: Vec<Option<MatmulKernel>> = match dev {
            Device::Gpu(g) => {
                let mut ks = vec![
                    Some(MatmulKernel::Basic),
                    Some(MatmulKernel::Tiled { bk: 8 }),
                    Some(MatmulKernel::Tiled { bk: 16 }),
                ];
                if g.cooperative_matrices() {
                    ks.push(Some(MatmulKernel::Cooperative));
                }
                ks
            }
            _ => vec![None],
        };
        let weights = [Some(("", &w)), w16.as_ref().map(|w| (" f16", w))];
        for (&kernel, (suffix, w)) in kernels
            .iter()
            .flat_map(|k| weights.iter().flatten().map(move |w| (k, *w)))
        {
            if matches!(
                kernel,
                Some(MatmulKernel::Tiled { .. } | MatmulKernel::Cooperative)
            ) && !ops::matmul::tiled_fits(&d, spec)
            {
                continue;
            }
            let secs = time(dev, iters, || {
                Ok(vec![ops::matmul_with(
                    dev,
                    &x,
                    w,
                    bias.as_ref(),
                    spec,
                    kernel,
                )?])
            })?;
            let kname = match kernel {
                None => "cpu".to_string(),
                Some(MatmulKernel::Basic) => "basic".to_string(),
                Some(MatmulKernel::Tiled { bk }) => format!("tiled{bk}"),
                Some(MatmulKernel::Cooperative) => "coop".to_string(),
            } + suffix;
            on_row(&MatmulRow {
                op: "matmul",
                case: name,
                m,
                n,
                k,
                layout: layout.clone(),
                kernel: kname,
                seconds: secs,
                gflops: d.flops() / secs / 1e9,
            });
        }
    }
    Ok(())
}

/// Flash attention at one sequence length.
#[derive(Serialize)]
pub struct AttentionRow {
    pub op: &'static str,
    pub t: usize,
    pub batch: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// The one-row-per-thread forward kernel.
    pub forward_rows_gflops: f64,
    /// The tiled forward (the rows kernel on the CPU).
    pub forward_seconds: f64,
    pub forward_gflops: f64,
    pub backward_seconds: f64,
    pub backward_gflops: f64,
    /// The cooperative-matrix kernels' forward and backward GFLOP/s, on a
    /// device that runs them.
    pub coop_forward_gflops: Option<f64>,
    pub coop_backward_gflops: Option<f64>,
}

/// Flash attention, 12 heads of 64 (DNABERT-2-117M), B x T = 16,384 tokens
/// (small: 1 x 256). FLOPs: forward 4 T² D per head and sequence (q·k and
/// p·v); backward 10 T² D (scores recomputed, dP, dV, dQ, dK). `on_row`
/// gets each length's result as it comes.
pub fn attention(dev: &Device, setup: Setup, mut on_row: impl FnMut(&AttentionRow)) -> Result<()> {
    let Setup { small, iters } = setup;
    let (heads, hd) = (12usize, 64usize);
    let lengths: &[usize] = if small {
        &[256]
    } else {
        &[512, 1024, 2048, 4096]
    };
    let slopes = dev.tensor_f32(&[heads], &ops::alibi_slopes(heads))?;
    for &t in lengths {
        let b = if small { 1 } else { (16384 / t).max(1) };
        let h = heads * hd;
        let qkv = dev.tensor_f32(&[b, t, 3 * h], &data(b * t * 3 * h, 3))?;
        let mask = dev.tensor_u32(&[b, t], &vec![1; b * t])?;
        let dout = dev.tensor_f32(&[b, t, h], &data(b * t * h, 4))?;
        let per = (b * heads * t * t * hd) as f64;
        let fwd_with = |kernel| {
            time(dev, iters, || {
                let o = ops::attention_with(dev, &qkv, &mask, &slopes, heads, Some(kernel))?;
                Ok(vec![o.out, o.lse])
            })
        };
        let fwd_rows = fwd_with(AttentionKernel::Rows)?;
        let fwd = if dev.is_gpu() {
            fwd_with(AttentionKernel::Tiled)?
        } else {
            fwd_rows
        };
        let o = ops::attention(dev, &qkv, &mask, &slopes, heads)?;
        let bwd_with = |coop| {
            time(dev, iters, || {
                Ok(vec![ops::attention_backward_with(
                    dev, &qkv, &mask, &slopes, heads, &o.out, &o.lse, &dout, coop,
                )?])
            })
        };
        let bwd = bwd_with(false)?;
        let (mut coop_forward_gflops, mut coop_backward_gflops) = (None, None);
        if ops::attention::runs_cooperative(dev, hd) {
            coop_forward_gflops = Some(4.0 * per / fwd_with(AttentionKernel::Cooperative)? / 1e9);
        }
        if ops::attention_backward::runs_cooperative(dev, hd) {
            coop_backward_gflops = Some(10.0 * per / bwd_with(true)? / 1e9);
        }
        on_row(&AttentionRow {
            op: "attention",
            t,
            batch: b,
            heads,
            head_dim: hd,
            forward_rows_gflops: 4.0 * per / fwd_rows / 1e9,
            forward_seconds: fwd,
            forward_gflops: 4.0 * per / fwd / 1e9,
            backward_seconds: bwd,
            backward_gflops: 10.0 * per / bwd / 1e9,
            coop_forward_gflops,
            coop_backward_gflops,
        });
    }
    Ok(())
}
