//! The checks of `ops::matmul` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops::elementwise::check::ref_gelu;
use crate::ops::{self, Epilogue, Matmul};
use crate::testing::{check_close, e, read, widen, Check, Rng, Tol};
use crate::{DType, Device, Tensor};

// ---------------------------------------------------------------- f64 references
/// Plain triple loop in f64: `C[z] = op(A[z]) op(B[z])`, with the strides of
/// [`crate::ops::matmul::MatmulDims`].
pub fn ref_matmul(d: &crate::ops::matmul::MatmulDims, a: &[f32], b: &[f32]) -> Vec<f64> {
    let mut c = vec![0f64; d.batch * d.m * d.n];
    for z in 0..d.batch {
        for i in 0..d.m {
            for j in 0..d.n {
                let mut s = 0f64;
                for k in 0..d.k {
                    s += a[z * d.a_batch + i * d.a_rs + k * d.a_cs] as f64
                        * b[z * d.b_batch + k * d.b_rs + j * d.b_cs] as f64;
                }
                c[(z * d.m + i) * d.n + j] = s;
            }
        }
    }
    c
}

/// Matmul on `dev` vs the CPU backend (and, on the CPU, vs the f64 reference).
#[allow(clippy::too_many_arguments)]
pub async fn check_matmul(
    dev: &Device,
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    spec: Matmul,
    bias: bool,
    seed: u64,
) -> Check {
    check_matmul_on(dev, None, batch, m, n, k, spec, bias, seed).await
}

/// [`check_matmul`] on a chosen GPU kernel (`None`: the one `matmul` picks).
#[allow(clippy::too_many_arguments)]
pub async fn check_matmul_on(
    dev: &Device,
    kernel: Option<ops::MatmulKernel>,
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    spec: Matmul,
    bias: bool,
    seed: u64,
) -> Check {
    matmul_case(dev, kernel, batch, m, n, k, spec, bias, false, false, seed).await
}

/// [`check_matmul_on`] with B stored as f16 (weights at half the size):
/// the reference multiplies by B's f16 values, so the tolerance stays f32's.
#[allow(clippy::too_many_arguments)]
pub async fn check_matmul_f16_b(
    dev: &Device,
    kernel: Option<ops::MatmulKernel>,
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    spec: Matmul,
    bias: bool,
    seed: u64,
) -> Check {
    matmul_case(dev, kernel, batch, m, n, k, spec, bias, true, false, seed).await
}

/// [`check_matmul_on`] with half-precision activations: A and B f16, C f16
/// (sums in f32, rounded once), against the CPU twin within
/// [`Tol::F16_STORED`] and, on the CPU, against f64.
#[allow(clippy::too_many_arguments)]
pub async fn check_matmul_half(
    dev: &Device,
    kernel: Option<ops::MatmulKernel>,
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    spec: Matmul,
    bias: bool,
    seed: u64,
) -> Check {
    matmul_case(dev, kernel, batch, m, n, k, spec, bias, true, true, seed).await
}

/// `b_f16`: B stored as f16; `a_half`: A (and B) stored as f16, C too.
#[allow(clippy::too_many_arguments)]
async fn matmul_case(
    dev: &Device,
    kernel: Option<ops::MatmulKernel>,
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    spec: Matmul,
    bias: bool,
    b_f16: bool,
    a_half: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let a_shape = |b: Option<usize>| {
        let mk = if spec.trans_a { [k, m] } else { [m, k] };
        b.map_or(mk.to_vec(), |b| vec![b, mk[0], mk[1]])
    };
    let kn = if spec.trans_b { [n, k] } else { [k, n] };
    let (sa, sb) = (a_shape(batch), kn.to_vec()); // B broadcast over the batch
    let mut a = rng.vec(sa.iter().product(), 1.0);
    let mut b = rng.vec(sb.iter().product(), 1.0);
    let to_f16 = |v: &mut Vec<f32>| {
        v.iter_mut()
            .for_each(|x| *x = half::f16::from_f32(*x).to_f32())
    };
    // What an f16 tensor holds (and what the reference multiplies by); the
    // cooperative kernel rounds both operands to f16, so they start there:
    // f16 x f16 products are exact in f32, and the tolerance stays f32's.
    let coop = kernel == Some(ops::MatmulKernel::Cooperative);
    if b_f16 || coop {
        to_f16(&mut b);
    }
    if coop || a_half {
        to_f16(&mut a);
    }
    let bias_v = rng.vec(n, 1.0);
    let what = format!(
        "matmul {spec:?} batch {batch:?} M {m} N {n} K {k} bias {bias} kernel {kernel:?} B {}{} on {}",
        if b_f16 { "f16" } else { "f32" },
        if a_half { ", A and C f16" } else { "" },
        dev.name()
    );
    let run = |d: &Device| -> Result<Tensor, String> {
        let ta = if a_half {
            d.tensor_f16(&sa, &a)
        } else {
            d.tensor_f32(&sa, &a)
        }
        .map_err(e)?;
        let tb = if b_f16 {
            d.tensor_f16(&sb, &b)
        } else {
            d.tensor_f32(&sb, &b)
        }
        .map_err(e)?;
        let tbias = d.tensor_f32(&[n], &bias_v).map_err(e)?;
        ops::matmul_with(d, &ta, &tb, bias.then_some(&tbias), spec, kernel).map_err(e)
    };
    let c = run(dev)?;
    let want_dtype = if a_half { DType::F16 } else { DType::F32 };
    if c.dtype() != want_dtype {
        return Err(format!(
            "{what}: C is {:?}, expected {want_dtype:?}",
            c.dtype()
        ));
    }
    let got = read(dev, &c).await?;
    let want = read(&Device::Cpu, &run(&Device::Cpu)?).await?;
    let tol = if a_half { Tol::F16_STORED } else { Tol::F32 };
    check_close(&what, &got, &widen(&want), tol)?;
    if !dev.is_gpu() {
        let dims = crate::ops::matmul::MatmulDims::of(&sa, &sb, spec).map_err(e)?;
        let mut r = ref_matmul(&dims, &a, &b);
        for (i, v) in r.iter_mut().enumerate() {
            if bias {
                *v += bias_v[i % n] as f64;
            }
            if spec.epilogue == Epilogue::Gelu {
                *v = ref_gelu(*v);
            }
        }
        check_close(&format!("{what} vs f64"), &got, &r, tol)?;
    }
    Ok(())
}

/// The cooperative-matrix matmul on operands that f16 cannot hold exactly,
/// against the f64 product of the f32 operands: each element within the
/// bound of rounding both operands to f16 (half a unit in the last place of
/// each, 2^-11 relative: |ab - f16(a)f16(b)| <= (2^-10 + 2^-22) |a||b|),
/// summed over k, plus f32's tolerance for the sum itself.
pub async fn check_matmul_coop_rounding(
    dev: &Device,
    m: usize,
    n: usize,
    k: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let (a, b) = (rng.vec(m * k, 1.0), rng.vec(k * n, 1.0));
    let what = format!(
        "cooperative matmul on unrounded operands, M {m} N {n} K {k} on {}",
        dev.name()
    );
    let ta = dev.tensor_f32(&[m, k], &a).map_err(e)?;
    let tb = dev.tensor_f32(&[k, n], &b).map_err(e)?;
    let c = ops::matmul_with(
        dev,
        &ta,
        &tb,
        None,
        Matmul::NN,
        Some(ops::MatmulKernel::Cooperative),
    )
    .map_err(e)?;
    let got = read(dev, &c).await?;
    let d = crate::ops::matmul::MatmulDims::of(&[m, k], &[k, n], Matmul::NN).map_err(e)?;
    let want = ref_matmul(&d, &a, &b);
    let max = want.iter().fold(0f64, |acc, v| acc.max(v.abs()));
    let unit = 2f64.powi(-10) + 2f64.powi(-22);
    for i in 0..m {
        for j in 0..n {
            let abs_sum: f64 = (0..k)
                .map(|q| (a[i * k + q] as f64 * b[q * n + j] as f64).abs())
                .sum();
            let w = want[i * n + j];
            let bound = unit * abs_sum + Tol::F32.rtol * w.abs() + Tol::F32.atol_rel * max;
            let g = got[i * n + j] as f64;
            let within = (g - w).abs() <= bound; // false for NaN
            if !within {
                return Err(format!(
                    "{what}: C[{i}, {j}] = {g}, expected {w} within {bound:.3e} (f16 rounding of both operands)"
                ));
            }
        }
    }
    Ok(())
}

/// A linear layer's product with its weight packed at load
/// (`Device::linear_weight`, the CPU backend's own kernel where the CPU
/// has one) against the f64 reference and against the same weight
/// unpacked (gemm): A [batch?, M, K] · Wᵀ, W [N, K] f32 or f16, bias and
/// GELU optional. The weight must come packed exactly where
/// `packed::available()` and it is f32, and the product must take the
/// panels.
#[allow(clippy::too_many_arguments)]
pub async fn check_packed_linear(
    batch: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    bias: bool,
    gelu: bool,
    w_f16: bool,
    seed: u64,
) -> Check {
    let dev = Device::Cpu;
    let mut rng = Rng::new(seed);
    let sa: Vec<usize> = batch.map_or(vec![m, k], |b| vec![b, m, k]);
    let a = rng.vec(sa.iter().product(), 1.0);
    let mut w = rng.vec(n * k, 1.0);
    if w_f16 {
        w.iter_mut()
            .for_each(|x| *x = half::f16::from_f32(*x).to_f32());
    }
    let bias_v = rng.vec(n, 1.0);
    let what = format!(
        "packed linear batch {batch:?} M {m} N {n} K {k} bias {bias} gelu {gelu} W {}",
        if w_f16 { "f16" } else { "f32" }
    );
    let dtype = if w_f16 { DType::F16 } else { DType::F32 };
    let packed = dev.linear_weight(&[n, k], &w, dtype).map_err(e)?;
    let want_packed = crate::ops::matmul::packed::available() && !w_f16;
    if packed.packed.is_some() != want_packed {
        return Err(format!(
            "{what}: weight packed {}, expected {want_packed} (this CPU's kernel available: {})",
            packed.packed.is_some(),
            crate::ops::matmul::packed::available()
        ));
    }
    let dims = crate::ops::matmul::MatmulDims::of(&sa, &[n, k], Matmul::NT).map_err(e)?;
    if let Some(p) = &packed.packed {
        if !crate::ops::matmul::cpu::packed_fits(&dims, p) {
            return Err(format!(
                "{what}: the product would not take the packed panels"
            ));
        }
    }
    let plain = if w_f16 {
        dev.tensor_f16(&[n, k], &w)
    } else {
        dev.tensor_f32(&[n, k], &w)
    }
    .map_err(e)?;
    let spec = Matmul {
        epilogue: if gelu { Epilogue::Gelu } else { Epilogue::None },
        ..Matmul::NT
    };
    let ta = dev.tensor_f32(&sa, &a).map_err(e)?;
    let tbias = dev.tensor_f32(&[n], &bias_v).map_err(e)?;
    let run = |wt: &Tensor| ops::matmul(&dev, &ta, wt, bias.then_some(&tbias), spec).map_err(e);
    let got = read(&dev, &run(&packed)?).await?;
    let unpacked = read(&dev, &run(&plain)?).await?;
    let mut r = ref_matmul(&dims, &a, &w);
    for (i, v) in r.iter_mut().enumerate() {
        if bias {
            *v += bias_v[i % n] as f64;
        }
        if gelu {
            *v = ref_gelu(*v);
        }
    }
    check_close(&format!("{what} vs f64"), &got, &r, Tol::F32)?;
    check_close(
        &format!("{what} vs unpacked"),
        &got,
        &widen(&unpacked),
        Tol::F32,
    )
}
