//! Matrix multiply: `C = op(A) · op(B) (+ bias) (GELU)`, op ∈ {identity,
//! transpose} for each operand, batched. Kernel: shaders/matmul/matmul.wgsl.
//!
//! Shapes (row-major, contiguous):
//! - A: [M, K], or [K, M] with `trans_a`; optionally a leading batch dim.
//! - B: [K, N], or [N, K] with `trans_b` (a PyTorch Linear weight [out, in]
//!   is B with `trans_b`); optionally a leading batch dim.
//! - A rank-2 operand is shared by every batch (stride 0).
//! - bias: [N]. C: [batch, M, N] if either operand is batched, else [M, N].
//! - B may be f16 (weights stored at half the size): it is widened to f32
//!   as it is read; the arithmetic and C stay f32.
//! - A may be f16 (half-precision activations, `Device::half_activations`)
//!   with an f16 B: C is then f16, the sums f32, rounded once as stored.

#[cfg(any(test, feature = "test-utils"))]
pub mod check;
pub mod cpu;
pub mod packed;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{shape_err, Error, Result};
use crate::gpu::Kernel;
pub use crate::params::MatmulDims;
use crate::{DType, Device, Tensor};

/// What to apply to each output after the product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Epilogue {
    #[default]
    None,
    /// Exact GELU, after the bias.
    Gelu,
}

/// The operand layouts and epilogue of one matmul.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Matmul {
    pub trans_a: bool,
    pub trans_b: bool,
    pub epilogue: Epilogue,
}

impl Matmul {
    /// `A · B`.
    pub const NN: Matmul = Matmul {
        trans_a: false,
        trans_b: false,
        epilogue: Epilogue::None,
    };
    /// `A · B^T`: a linear layer with a [out, in] weight, and dX = dY · W.
    pub const NT: Matmul = Matmul {
        trans_a: false,
        trans_b: true,
        epilogue: Epilogue::None,
    };
    /// `A^T · B`: weight gradients, dW = dY^T · X.
    pub const TN: Matmul = Matmul {
        trans_a: true,
        trans_b: false,
        epilogue: Epilogue::None,
    };
}

impl MatmulDims {
    /// Works out the product's sizes and strides from the operand shapes.
    pub fn of(a: &[usize], b: &[usize], spec: Matmul) -> Result<Self> {
        let op = "matmul";
        let bad = |msg: String| {
            shape_err(
                op,
                format!(
                    "{msg} (A {a:?}{}, B {b:?}{})",
                    t(spec.trans_a),
                    t(spec.trans_b)
                ),
            )
        };
        if !(2..=3).contains(&a.len()) || !(2..=3).contains(&b.len()) {
            return Err(bad("operands must be rank 2 or 3".into()));
        }
        let (ab, ar, ac) = split(a);
        let (bb, br, bc) = split(b);
        let (m, ka) = if spec.trans_a { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if spec.trans_b { (bc, br) } else { (br, bc) };
        if ka != kb {
            return Err(bad(format!("inner dimensions differ: {ka} vs {kb}")));
        }
        let batch = match (ab, bb) {
            (Some(x), Some(y)) if x != y => {
                return Err(bad(format!("batch sizes differ: {x} vs {y}")))
            }
            (Some(x), _) | (None, Some(x)) => x,
            (None, None) => 1,
        };
        let (a_rs, a_cs) = if spec.trans_a { (1, ac) } else { (ac, 1) };
        let (b_rs, b_cs) = if spec.trans_b { (1, bc) } else { (bc, 1) };
        Ok(Self {
            batch,
            m,
            n,
            k: ka,
            a_batch: if ab.is_some() { ar * ac } else { 0 },
            a_rs,
            a_cs,
            b_batch: if bb.is_some() { br * bc } else { 0 },
            b_rs,
            b_cs,
        })
    }

    /// Floating-point operations of the product (2 per multiply-add).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.m * self.n * self.k) as f64
    }
}

fn t(trans: bool) -> &'static str {
    if trans {
        " transposed"
    } else {
        ""
    }
}

fn split(s: &[usize]) -> (Option<usize>, usize, usize) {
    match s {
        [r, c] => (None, *r, *c),
        [b, r, c] => (Some(*b), *r, *c),
        _ => unreachable!("rank checked"),
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32,
    a_batch: u32,
    a_rs: u32,
    a_cs: u32,
    b_batch: u32,
    b_rs: u32,
    b_cs: u32,
    _p: [u32; 2],
}

/// `op(A) · op(B) (+ bias) (GELU)`; see the module docs for shapes.
pub fn matmul(
    dev: &Device,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: Matmul,
) -> Result<Tensor> {
    matmul_with(dev, a, b, bias, spec, None)
}

/// [`matmul`] in half precision where the device has cooperative matrices
/// (and the layout suits them), whatever B's dtype: the weight gradients of
/// layers whose weights are f16 (mixed-precision training), which would
/// otherwise be the one product of a step left in f32.
pub fn matmul_half(
    dev: &Device,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: Matmul,
) -> Result<Tensor> {
    let coop = match dev {
        Device::Gpu(g) => {
            coop_fits(g)
                && MatmulDims::of(a.shape(), b.shape(), spec).is_ok_and(|d| tiled_fits(&d, spec))
        }
        Device::Cpu => false,
    };
    matmul_with(
        dev,
        a,
        b,
        bias,
        spec,
        coop.then_some(MatmulKernel::Cooperative),
    )
}

/// [`matmul`] on a chosen GPU kernel (`None`: [`MatmulKernel::pick`]), for
/// tests and benchmarks that compare the kernels. The CPU backend ignores it.
pub fn matmul_with(
    dev: &Device,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    spec: Matmul,
    kernel: Option<MatmulKernel>,
) -> Result<Tensor> {
    const OP: &str = "matmul";
    let b_f16 = b.dtype() == DType::F16;
    if !b_f16 {
        b.check_dtype(OP, "b", DType::F32)?;
    }
    // Half-precision activations multiply half-precision weights.
    let a_half = a.dtype() == DType::F16;
    if a_half {
        b.check_dtype(OP, "b (with an f16 A)", DType::F16)?;
        super::activation_dtype(dev, OP, &[("a", a)])?;
    } else {
        a.check_dtype(OP, "a", DType::F32)?;
    }
    dev.check_on(OP, &[("a", a), ("b", b)])?;
    let d = MatmulDims::of(a.shape(), b.shape(), spec)?;
    if let Some(bias) = bias {
        bias.check_dtype(OP, "bias", DType::F32)?;
        dev.check_on(OP, &[("bias", bias)])?;
        if bias.shape() != [d.n] {
            return Err(shape_err(
                OP,
                format!("bias {:?} must be [{}] (N)", bias.shape(), d.n),
            ));
        }
    }
    let out_shape = if a.rank() == 3 || b.rank() == 3 {
        vec![d.batch, d.m, d.n]
    } else {
        vec![d.m, d.n]
    };
    let gelu = spec.epilogue == Epilogue::Gelu;
    match dev {
        Device::Cpu => {
            // A packed weight is not read (nor widened from f16) again.
            let packed = b.packed.as_deref().filter(|p| cpu::packed_fits(&d, p));
            let b_values = match packed {
                Some(_) => std::borrow::Cow::Borrowed(&[][..]),
                None => b.cpu_float(),
            };
            let c = cpu::matmul(
                &d,
                &a.cpu_float(),
                &b_values,
                packed,
                bias.map(|t| t.cpu_f32()),
                gelu,
            )?;
            dev.output_as(OP, &out_shape, a.dtype(), c)
        }
        Device::Gpu(g) => {
            for (what, v) in [
                ("M", d.m),
                ("N", d.n),
                ("K", d.k),
                ("A size", a.numel()),
                ("B size", b.numel()),
                ("C size", out_shape.iter().product()),
            ] {
                u32_of(OP, what, v)?;
            }
            // Without a bias its binding (vec4s: 16 bytes at least) takes
            // A's buffer, or zeros where A is smaller (a tiny f16 A).
            let zeros;
            let bias_buf = match bias {
                Some(t) => t.gpu_buffer(),
                None if a.numel() * a.dtype().size() >= 16 => a.gpu_buffer(),
                None => {
                    zeros = dev.tensor_f32(&[4], &[0.0; 4])?;
                    zeros.gpu_buffer()
                }
            };
            let kernel = match kernel {
                Some(k @ (MatmulKernel::Tiled { .. } | MatmulKernel::Cooperative))
                    if !tiled_fits(&d, spec) =>
                {
                    return Err(shape_err(
                        OP,
                        format!(
                            "the {k:?} kernel needs N and each operand's contiguous dimension to be multiples of 4 (M {}, N {}, K {})",
                            d.m, d.n, d.k
                        ),
                    ))
                }
                Some(k) => k,
                None if b_f16 && tiled_fits(&d, spec) && coop_fits(g) => {
                    MatmulKernel::Cooperative
                }
                None => MatmulKernel::pick(&d, spec),
            };
            if kernel == MatmulKernel::Cooperative && !g.cooperative_matrices() {
                return Err(Error::Gpu(format!(
                    "the cooperative-matrix matmul needs a device opened with cooperative matrices; {} has none usable (dnagpu info)",
                    g.summary().name
                )));
            }
            match kernel {
                MatmulKernel::Tiled { .. } | MatmulKernel::Cooperative => {
                    // The two share a contract: tiles of C, split K, the
                    // epilogue after the sum of a split product.
                    let block = g.cooperative_block().unwrap_or(16);
                    let bk = match kernel {
                        MatmulKernel::Tiled { bk } if bk != 8 && bk != 16 => {
                            return Err(shape_err(
                                OP,
                                format!("tiled k step {bk}: expected 8 or 16"),
                            ));
                        }
                        MatmulKernel::Tiled { bk } => bk,
                        _ => 2 * block,
                    };
                    let splits = split_k(&d, bias.is_some() || gelu);
                    let k_chunk = d.k.div_ceil(splits).next_multiple_of(bk as usize);
                    let splits = d.k.div_ceil(k_chunk).max(1);
                    // A split product's partial sums stay f32.
                    let split = splits > 1;
                    let (tile, kernel_of, extra) = match kernel {
                        MatmulKernel::Tiled { .. } => {
                            let kernel_of = match (a_half, split, b_f16) {
                                (true, false, _) => Kernel::MatmulTiledHalf,
                                (true, true, _) => Kernel::MatmulTiledHalfSplit,
                                (false, _, true) => Kernel::MatmulTiledF16,
                                (false, _, false) => Kernel::MatmulTiled,
                            };
                            (128, kernel_of, ("BK", bk))
                        }
                        _ => {
                            let kernel_of = match (block, a_half, split, b_f16) {
                                (16, true, false, _) => Kernel::MatmulCoop16Half,
                                (16, true, true, _) => Kernel::MatmulCoop16HalfSplit,
                                (16, false, _, false) => Kernel::MatmulCoop16,
                                (16, false, _, true) => Kernel::MatmulCoop16F16,
                                (_, true, false, _) => Kernel::MatmulCoop8Half,
                                (_, true, true, _) => Kernel::MatmulCoop8HalfSplit,
                                (_, false, _, false) => Kernel::MatmulCoop8,
                                (_, false, _, true) => Kernel::MatmulCoop8F16,
                            };
                            (4 * block as usize, kernel_of, ("WG", coop_invocations(g)))
                        }
                    };
                    let params = TiledParams {
                        m: d.m as u32,
                        n: d.n as u32,
                        k: d.k as u32,
                        a_batch: d.a_batch as u32,
                        b_batch: d.b_batch as u32,
                        splits: splits as u32,
                        k_chunk: if splits > 1 { k_chunk } else { d.k.max(1) } as u32,
                        _p: 0,
                    };
                    let groups = [
                        d.n.div_ceil(tile) as u32,
                        d.m.div_ceil(tile) as u32,
                        (d.batch * splits) as u32,
                    ];
                    // A split product applies its epilogue after the sum.
                    let epilogue = splits == 1;
                    let constants = [
                        ("TRANS_A", u32::from(spec.trans_a)),
                        ("TRANS_B", u32::from(spec.trans_b)),
                        ("BIAS", u32::from(epilogue && bias.is_some())),
                        ("GELU", u32::from(epilogue && gelu)),
                        extra,
                    ];
                    // Split K: each range of k writes its partial product,
                    // and `sum_rows` adds them up, then the bias and GELU
                    // follow as their own passes (small: C has few tiles).
                    let out = if splits > 1 {
                        dev.output_f32(OP, &[splits, d.m * d.n], Vec::new())?
                    } else {
                        dev.output_as(OP, &out_shape, a.dtype(), Vec::new())?
                    };
                    let buffers = [a.gpu_buffer(), b.gpu_buffer(), bias_buf, out.gpu_buffer()];
                    g.dispatch(kernel_of, &constants, &buffers, &params, groups)?;
                    if epilogue {
                        return Ok(out);
                    }
                    let mut sum = super::sum_rows(dev, &out)?.reshape(&out_shape)?;
                    if let Some(bias) = bias {
                        sum = super::add(dev, &sum, bias)?;
                    }
                    if gelu {
                        sum = super::gelu(dev, &sum)?;
                    }
                    if a_half {
                        sum = super::to_f16(dev, &sum)?;
                    }
                    Ok(sum)
                }
                MatmulKernel::Basic => {
                    let c = dev.output_as(OP, &out_shape, a.dtype(), Vec::new())?;
                    let params = Params {
                        m: d.m as u32,
                        n: d.n as u32,
                        k: d.k as u32,
                        flags: u32::from(bias.is_some()) | (u32::from(gelu) << 1),
                        a_batch: d.a_batch as u32,
                        a_rs: d.a_rs as u32,
                        a_cs: d.a_cs as u32,
                        b_batch: d.b_batch as u32,
                        b_rs: d.b_rs as u32,
                        b_cs: d.b_cs as u32,
                        _p: [0; 2],
                    };
                    let groups = [
                        d.n.div_ceil(64) as u32,
                        d.m.div_ceil(64) as u32,
                        d.batch as u32,
                    ];
                    let buffers = [a.gpu_buffer(), b.gpu_buffer(), bias_buf, c.gpu_buffer()];
                    let kernel = match (a_half, b_f16) {
                        (true, _) => Kernel::MatmulHalf,
                        (false, true) => Kernel::MatmulF16,
                        (false, false) => Kernel::Matmul,
                    };
                    g.dispatch(kernel, &[], &buffers, &params, groups)?;
                    Ok(c)
                }
            }
        }
    }
}

/// Which GPU kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    /// `matmul.wgsl`: any sizes and strides, 64 x 64 tiles, 4 x 4 outputs
    /// per invocation.
    Basic,
    /// `matmul_tiled.wgsl`: 128 x 128 tiles, 8 x 8 outputs per invocation,
    /// vec4 loads, k in steps of `bk` (8 or 16); N and each operand's
    /// contiguous dimension multiples of 4.
    Tiled { bk: u32 },
    /// `matmul_coop.wgsl`: the tiled kernel's contract on cooperative
    /// matrices, A and B rounded to f16, sums in f32. Chosen for products
    /// whose B is f16 (weights stored in half precision: `--precision
    /// f16`) on devices with cooperative matrices (`gpu::coop`).
    Cooperative,
}

impl MatmulKernel {
    /// The tiled kernel with its smallest k step (8.4 KB of workgroup memory).
    pub const TILED: MatmulKernel = MatmulKernel::Tiled { bk: 8 };

    /// The kernel for a product: the tiled one (k step 8) whenever its
    /// layout constraints hold and C has at least one full tile's worth of
    /// rows and columns, where its larger tile pays off, or when it would
    /// split a long K (skinny products such as LoRA's gradients, [8, 768]
    /// over 4,096 tokens, which the basic kernel runs on a dozen
    /// workgroups). A k step of 16 was 13-16% slower on an H200
    /// (docs/benchmarks.md).
    pub fn pick(d: &MatmulDims, spec: Matmul) -> Self {
        let epilogue = spec.epilogue != Epilogue::None;
        if tiled_fits(d, spec) && ((d.m >= 128 && d.n >= 128) || split_k(d, epilogue) > 1) {
            MatmulKernel::TILED
        } else {
            MatmulKernel::Basic
        }
    }
}

/// Invocations per workgroup of the cooperative-matrix matmul: 4 x the
/// largest subgroup, so that it has at least 4 subgroups for its 16 blocks
/// (`coop_fits` refuses a device where that is over 256 or its limit).
fn coop_invocations(g: &crate::gpu::GpuDevice) -> u32 {
    4 * g.summary().subgroup_max_size
}

/// Whether the device runs the cooperative-matrix matmul: it has them (and
/// they are not switched off), and the kernel's workgroup fits its limits.
fn coop_fits(g: &crate::gpu::GpuDevice) -> bool {
    let kernel = match g.cooperative_block() {
        Some(16) => Kernel::MatmulCoop16,
        _ => Kernel::MatmulCoop8,
    };
    let (_, shared) = kernel.workgroup();
    g.cooperative_matrices()
        && shared <= g.limits().max_compute_workgroup_storage_size
        && coop_invocations(g) <= g.limits().max_compute_invocations_per_workgroup.min(256)
}

/// How many ranges of k the tiled kernel splits a product into: enough
/// workgroups to fill a large GPU (~256 tiles) when C has few tiles and K is
/// long (weight gradients: M x N = a weight, K = tokens; the wide-K linears
/// of a small batch, mlp.wo), at least 512 of k per range. Unbatched
/// products only; `epilogue`: the product has a bias or GELU (which then
/// follows the sum). (Ranges of 256 for 768-wide layers were slower on an
/// H100: docs/benchmarks.md.)
pub fn split_k(d: &MatmulDims, epilogue: bool) -> usize {
    let tiles = d.m.div_ceil(128) * d.n.div_ceil(128);
    let allowed = match SplitPolicy::get() {
        SplitPolicy::Off => false,
        SplitPolicy::Weights => !epilogue,
        SplitPolicy::All => true,
    };
    if !allowed || d.batch != 1 || tiles >= 192 || d.k < 1024 {
        return 1;
    }
    (256 / tiles).clamp(1, 16).min(d.k / 512)
}

/// Which products split K (`DNAGPU_SPLIT_K=off|weights|all`, to compare in
/// benchmarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitPolicy {
    /// `off`: none.
    Off,
    /// `weights`: only products without a bias or GELU (weight gradients).
    Weights,
    /// `all` (default): also those with a bias or GELU, which is applied
    /// after the ranges are summed.
    All,
}

impl SplitPolicy {
    pub fn get() -> SplitPolicy {
        static POLICY: std::sync::OnceLock<SplitPolicy> = std::sync::OnceLock::new();
        *POLICY.get_or_init(|| match std::env::var("DNAGPU_SPLIT_K").as_deref() {
            Ok("off") => SplitPolicy::Off,
            Ok("weights") => SplitPolicy::Weights,
            _ => SplitPolicy::All,
        })
    }
}

/// Whether `matmul_tiled.wgsl` can run the product: every vec4 it loads or
/// stores must lie wholly inside its operand.
pub fn tiled_fits(d: &MatmulDims, spec: Matmul) -> bool {
    let a_contig = if spec.trans_a { d.m } else { d.k };
    let b_contig = if spec.trans_b { d.k } else { d.n };
    d.n.is_multiple_of(4) && a_contig.is_multiple_of(4) && b_contig.is_multiple_of(4)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TiledParams {
    m: u32,
    n: u32,
    k: u32,
    a_batch: u32,
    b_batch: u32,
    splits: u32,
    k_chunk: u32,
    _p: u32,
}

/// A linear layer, `x W^T + b`: x [.., in], w [out, in] (PyTorch layout),
/// bias [out] -> [.., out].
pub fn linear(
    dev: &Device,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    epilogue: Epilogue,
) -> Result<Tensor> {
    let inp = x.shape().last().copied().unwrap_or(0);
    if x.rank() == 0 || w.rank() != 2 || w.dim(1) != inp {
        return Err(shape_err(
            "linear",
            format!(
                "x {:?} and weight {:?} ([out, in]) do not match",
                x.shape(),
                w.shape()
            ),
        ));
    }
    let rows = x.numel() / inp.max(1);
    let y = matmul(
        dev,
        &x.reshape(&[rows, inp])?,
        w,
        bias,
        Matmul {
            epilogue,
            ..Matmul::NT
        },
    )?;
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("rank checked") = w.dim(0);
    y.reshape(&shape)
}
