//! Test support shared by the native tests (`tests/`) and the browser tests
//! (`web/tests/`): seeded random data, f64 references, an element-wise
//! tolerance check that names the worst element, and one check per op that
//! runs it on any device and compares with the CPU backend. Not part of the
//! stable API.

use crate::ops::{self, Epilogue, Matmul, PoolMode};
use crate::{Device, Tensor};

pub use crate::rng::Rng;

pub mod attention_backward;
pub mod backward_elementwise;
pub mod backward_rows;
pub mod finite_differences;

/// `|got - want| <= atol + rtol * |want|` element-wise, with
/// `atol = atol_rel * max|want|`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rtol: f64,
    pub atol_rel: f64,
}

impl Tol {
    /// The project's f32 default: rtol 1e-4, atol 1e-5 * max|want|.
    pub const F32: Tol = Tol {
        rtol: 1e-4,
        atol_rel: 1e-5,
    };
}

/// Compares element-wise; the error names the worst element and the mean error.
pub fn check_close(what: &str, got: &[f32], want: &[f64], tol: Tol) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, expected {}",
            got.len(),
            want.len()
        ));
    }
    let max = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    let atol = tol.atol_rel * max;
    let (mut worst, mut worst_i, mut sum) = (0f64, 0usize, 0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        let excess = match (g.is_finite(), err == 0.0) {
            (false, _) => f64::INFINITY,
            (true, true) => 0.0,
            (true, false) => err / (atol + tol.rtol * w.abs()),
        };
        sum += err;
        if excess > worst || excess.is_nan() {
            worst = if excess.is_nan() {
                f64::INFINITY
            } else {
                excess
            };
            worst_i = i;
        }
    }
    if worst > 1.0 {
        return Err(format!(
            "{what}: element {worst_i} is {} but should be {} (error {:.3e}, {:.1}x the tolerance rtol {:e} + atol {:.3e}); mean error {:.3e} over {} values",
            got[worst_i],
            want[worst_i],
            (got[worst_i] as f64 - want[worst_i]).abs(),
            worst,
            tol.rtol,
            atol,
            sum / got.len().max(1) as f64,
            got.len()
        ));
    }
    Ok(())
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

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

/// Attention exactly as the model doc writes it, with the reference's -10000
/// on padded keys, in f64 and with the full score row. Returns (out, lse).
pub fn ref_attention(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
) -> (Vec<f64>, Vec<f64>) {
    let hid = heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = vec![0f64; b * t * hid];
    let mut lse = vec![0f64; b * heads * t];
    for bi in 0..b {
        for h in 0..heads {
            for i in 0..t {
                let q = |dd: usize| qkv[(bi * t + i) * 3 * hid + h * d + dd] as f64;
                let mut s = vec![0f64; t];
                for (j, sj) in s.iter_mut().enumerate() {
                    let k = |dd: usize| qkv[(bi * t + j) * 3 * hid + hid + h * d + dd] as f64;
                    let dot: f64 = (0..d).map(|dd| q(dd) * k(dd)).sum();
                    let pad = if mask[bi * t + j] != 0 { 0.0 } else { -10000.0 };
                    *sj = dot * scale - slopes[h] as f64 * (i as f64 - j as f64).abs() + pad;
                }
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                lse[(bi * heads + h) * t + i] = m + z.ln();
                for dd in 0..d {
                    let o: f64 = (0..t)
                        .map(|j| {
                            (s[j] - m).exp() / z
                                * qkv[(bi * t + j) * 3 * hid + 2 * hid + h * d + dd] as f64
                        })
                        .sum();
                    out[(bi * t + i) * hid + h * d + dd] = o;
                }
            }
        }
    }
    (out, lse)
}

/// LayerNorm of `x (+ residual)` in f64. Returns (y, mean, rstd).
pub fn ref_layer_norm(
    x: &[f32],
    residual: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    hidden: usize,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let rows = x.len() / hidden;
    let (mut y, mut mean, mut rstd) = (vec![0f64; x.len()], vec![0f64; rows], vec![0f64; rows]);
    for r in 0..rows {
        let z: Vec<f64> = (0..hidden)
            .map(|j| x[r * hidden + j] as f64 + residual.map_or(0.0, |s| s[r * hidden + j] as f64))
            .collect();
        let mu = z.iter().sum::<f64>() / hidden as f64;
        let var = z.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / hidden as f64;
        let rs = 1.0 / (var + eps).sqrt();
        for j in 0..hidden {
            y[r * hidden + j] = (z[j] - mu) * rs * w[j] as f64 + b[j] as f64;
        }
        mean[r] = mu;
        rstd[r] = rs;
    }
    (y, mean, rstd)
}

/// Exact GELU in f64.
pub fn ref_gelu(x: f64) -> f64 {
    0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2)
}

// ---------------------------------------------------------------- op checks

type Check = Result<(), String>;

fn e(x: crate::Error) -> String {
    x.to_string()
}

async fn read(dev: &Device, t: &Tensor) -> Result<Vec<f32>, String> {
    dev.read_f32(t).await.map_err(e)
}

/// Random padding lengths for a batch: the first sequence full, others
/// between 0 and t valid tokens (0 only when `allow_empty`).
pub fn random_lengths(rng: &mut Rng, b: usize, t: usize, allow_empty: bool) -> Vec<usize> {
    (0..b)
        .map(|i| {
            if i == 0 {
                t
            } else {
                let lo = if allow_empty { 0 } else { 1.min(t) };
                lo + rng.below((t - lo + 1) as u32) as usize
            }
        })
        .collect()
}

/// Token id sequences padded with `pad` into one [B, T] batch: (ids, mask,
/// T), T the longest.
pub fn pad_batch(seqs: &[Vec<u32>], pad: u32) -> (Vec<u32>, Vec<u32>, usize) {
    let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = vec![pad; seqs.len() * t];
    for (r, e) in seqs.iter().enumerate() {
        ids[r * t..r * t + e.len()].copy_from_slice(e);
    }
    let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
    (ids, mask_from_lengths(&lens, t), t)
}

/// The token id sequences `seqs` in one batch padded with `pad`: each real
/// row of `model`'s last hidden state equals the fixture `<i>.hidden.<L>`
/// (the sequence run alone by the reference).
pub async fn check_padded_batch(
    dev: &Device,
    model: &crate::model::Model,
    seqs: &[Vec<u32>],
    pad: u32,
    fx: &ReferenceFixtures,
) -> Check {
    let cfg = &model.encoder.config;
    let (b, h) = (seqs.len(), cfg.hidden_size);
    let (ids, mask, t) = pad_batch(seqs, pad);
    let states = model
        .encoder
        .forward(
            dev,
            &dev.tensor_u32(&[b, t], &ids).map_err(e)?,
            &dev.tensor_u32(&[b, t], &mask).map_err(e)?,
            |_| false,
        )
        .map_err(e)?;
    let got = read(dev, &states.last().expect("the last state").1).await?;
    for (r, s) in seqs.iter().enumerate() {
        let name = format!("{r}.hidden.{}", cfg.num_hidden_layers);
        let (_, want) = fx.get(&name).ok_or(format!("no fixture {name}"))?;
        check_close(
            &format!(
                "sequence {r} in a padded batch of {b} x {t} on {}",
                dev.name()
            ),
            &got[r * t * h..(r * t + s.len()) * h],
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}

/// A [B, T] mask with `lens[b]` leading valid tokens.
pub fn mask_from_lengths(lens: &[usize], t: usize) -> Vec<u32> {
    lens.iter()
        .flat_map(|&l| (0..t).map(move |j| u32::from(j < l)))
        .collect()
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
    matmul_case(dev, kernel, batch, m, n, k, spec, bias, false, seed).await
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
    matmul_case(dev, kernel, batch, m, n, k, spec, bias, true, seed).await
}

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
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let a_shape = |b: Option<usize>| {
        let mk = if spec.trans_a { [k, m] } else { [m, k] };
        b.map_or(mk.to_vec(), |b| vec![b, mk[0], mk[1]])
    };
    let kn = if spec.trans_b { [n, k] } else { [k, n] };
    let (sa, sb) = (a_shape(batch), kn.to_vec()); // B broadcast over the batch
    let a = rng.vec(sa.iter().product(), 1.0);
    let mut b = rng.vec(sb.iter().product(), 1.0);
    if b_f16 {
        // What the f16 tensor holds (and what the reference multiplies by).
        b.iter_mut()
            .for_each(|x| *x = half::f16::from_f32(*x).to_f32());
    }
    let bias_v = rng.vec(n, 1.0);
    let what = format!(
        "matmul {spec:?} batch {batch:?} M {m} N {n} K {k} bias {bias} kernel {kernel:?} B {} on {}",
        if b_f16 { "f16" } else { "f32" },
        dev.name()
    );
    let run = |d: &Device| -> Result<Tensor, String> {
        let ta = d.tensor_f32(&sa, &a).map_err(e)?;
        let tb = if b_f16 {
            d.tensor_f16(&sb, &b)
        } else {
            d.tensor_f32(&sb, &b)
        }
        .map_err(e)?;
        let tbias = d.tensor_f32(&[n], &bias_v).map_err(e)?;
        ops::matmul_with(d, &ta, &tb, bias.then_some(&tbias), spec, kernel).map_err(e)
    };
    let got = read(dev, &run(dev)?).await?;
    let want = read(&Device::Cpu, &run(&Device::Cpu)?).await?;
    check_close(&what, &got, &widen(&want), Tol::F32)?;
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
        check_close(&format!("{what} vs f64"), &got, &r, Tol::F32)?;
    }
    Ok(())
}

/// Attention on `dev` (padded batch with the given valid lengths) vs the CPU
/// backend, and on the CPU vs the f64 reference when `t` is small.
pub async fn check_attention(
    dev: &Device,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    check_attention_on(dev, None, lens, t, heads, d, seed).await
}

/// [`check_attention`] on a chosen GPU kernel (`None`: the one picked).
pub async fn check_attention_on(
    dev: &Device,
    kernel: Option<ops::AttentionKernel>,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let qkv = rng.vec(b * t * 3 * heads * d, 2.0);
    let mask = mask_from_lengths(lens, t);
    let slopes = ops::alibi_slopes(heads);
    let what = format!(
        "attention lens {lens:?} T {t} heads {heads} D {d} kernel {kernel:?} on {}",
        dev.name()
    );
    let run = |dv: &Device| -> Result<ops::AttentionOut, String> {
        let q = dv.tensor_f32(&[b, t, 3 * heads * d], &qkv).map_err(e)?;
        let mk = dv.tensor_u32(&[b, t], &mask).map_err(e)?;
        let sl = dv.tensor_f32(&[heads], &slopes).map_err(e)?;
        ops::attention_with(dv, &q, &mk, &sl, heads, kernel).map_err(e)
    };
    let g = run(dev)?;
    let (out, lse) = (read(dev, &g.out).await?, read(dev, &g.lse).await?);
    // Only rows of real tokens are defined by the model.
    let valid_rows = |v: &[f32], width: usize, per_head: bool| -> Vec<f32> {
        let mut r = Vec::new();
        for (bi, &len) in lens.iter().enumerate().take(b) {
            let hs = if per_head { heads } else { 1 };
            for h in 0..hs {
                for i in 0..len {
                    let row = if per_head {
                        (bi * heads + h) * t + i
                    } else {
                        bi * t + i
                    };
                    r.extend_from_slice(&v[row * width..(row + 1) * width]);
                }
            }
        }
        r
    };
    let c = run(&Device::Cpu)?;
    let (cout, clse) = (
        read(&Device::Cpu, &c.out).await?,
        read(&Device::Cpu, &c.lse).await?,
    );
    let hid = heads * d;
    check_close(
        &format!("{what}: out"),
        &valid_rows(&out, hid, false),
        &widen(&valid_rows(&cout, hid, false)),
        Tol::F32,
    )?;
    check_close(
        &format!("{what}: lse"),
        &valid_rows(&lse, 1, true),
        &widen(&valid_rows(&clse, 1, true)),
        Tol::F32,
    )?;
    if !dev.is_gpu() && t <= 96 {
        let (ro, rl) = ref_attention(&qkv, &mask, &slopes, b, t, heads, d);
        let ro32: Vec<f32> = ro.iter().map(|&v| v as f32).collect();
        let rl32: Vec<f32> = rl.iter().map(|&v| v as f32).collect();
        check_close(
            &format!("{what}: out vs f64"),
            &valid_rows(&out, hid, false),
            &widen(&valid_rows(&ro32, hid, false)),
            Tol::F32,
        )?;
        check_close(
            &format!("{what}: lse vs f64"),
            &valid_rows(&lse, 1, true),
            &widen(&valid_rows(&rl32, 1, true)),
            Tol::F32,
        )?;
    }
    Ok(())
}

/// Attention at long T on `dev`: `rows` query rows checked against the f64
/// reference (each row costs O(T D), so T = 20,000 stays cheap).
pub async fn check_attention_rows(
    dev: &Device,
    t: usize,
    heads: usize,
    d: usize,
    rows: &[usize],
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let hid = heads * d;
    let qkv = rng.vec(t * 3 * hid, 2.0);
    let slopes = ops::alibi_slopes(heads);
    let out = ops::attention(
        dev,
        &dev.tensor_f32(&[1, t, 3 * hid], &qkv).map_err(e)?,
        &dev.tensor_u32(&[1, t], &vec![1; t]).map_err(e)?,
        &dev.tensor_f32(&[heads], &slopes).map_err(e)?,
        heads,
    )
    .map_err(e)?;
    let got = read(dev, &out.out).await?;
    let scale = 1.0 / (d as f64).sqrt();
    for &i in rows {
        let mut want = vec![0f64; hid];
        for h in 0..heads {
            let col = |j: usize, part: usize, dd: usize| {
                qkv[j * 3 * hid + part * hid + h * d + dd] as f64
            };
            let s: Vec<f64> = (0..t)
                .map(|j| {
                    (0..d).map(|dd| col(i, 0, dd) * col(j, 1, dd)).sum::<f64>() * scale
                        - slopes[h] as f64 * (i as f64 - j as f64).abs()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            for dd in 0..d {
                want[h * d + dd] = (0..t).map(|j| (s[j] - m).exp() / z * col(j, 2, dd)).sum();
            }
        }
        check_close(
            &format!("attention T {t} row {i} on {}", dev.name()),
            &got[i * hid..(i + 1) * hid],
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}

/// Padding must not change real tokens: every sequence of a padded batch
/// equals the same sequence run alone, on `dev`.
pub async fn check_attention_padding_invariance(
    dev: &Device,
    lens: &[usize],
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let t = *lens.iter().max().unwrap_or(&1);
    let b = lens.len();
    let hid = heads * d;
    let mut qkv = rng.vec(b * t * 3 * hid, 2.0);
    // Garbage in the padding must not leak into real rows.
    for (bi, &l) in lens.iter().enumerate() {
        for v in &mut qkv[(bi * t + l) * 3 * hid..(bi + 1) * t * 3 * hid] {
            *v = 1e3;
        }
    }
    let slopes = dev
        .tensor_f32(&[heads], &ops::alibi_slopes(heads))
        .map_err(e)?;
    let batch = ops::attention(
        dev,
        &dev.tensor_f32(&[b, t, 3 * hid], &qkv).map_err(e)?,
        &dev.tensor_u32(&[b, t], &mask_from_lengths(lens, t))
            .map_err(e)?,
        &slopes,
        heads,
    )
    .map_err(e)?;
    let batched = read(dev, &batch.out).await?;
    for (bi, &l) in lens.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let alone = ops::attention(
            dev,
            &dev.tensor_f32(
                &[1, l, 3 * hid],
                &qkv[bi * t * 3 * hid..(bi * t + l) * 3 * hid],
            )
            .map_err(e)?,
            &dev.tensor_u32(&[1, l], &vec![1; l]).map_err(e)?,
            &slopes,
            heads,
        )
        .map_err(e)?;
        let alone = read(dev, &alone.out).await?;
        let rows = &batched[bi * t * hid..(bi * t + l) * hid];
        check_close(
            &format!(
                "sequence {bi} (length {l}) in a padded batch vs alone on {}",
                dev.name()
            ),
            rows,
            &widen(&alone),
            Tol::F32,
        )?;
    }
    Ok(())
}

/// LayerNorm (with and without the residual) on `dev` vs the CPU backend,
/// and on the CPU vs the f64 reference.
pub async fn check_layer_norm(
    dev: &Device,
    rows: usize,
    hidden: usize,
    residual: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = rng
        .vec(rows * hidden, 3.0)
        .iter()
        .map(|v| v + 0.5)
        .collect();
    let r = rng.vec(rows * hidden, 1.0);
    let w = rng.vec(hidden, 1.0);
    let bias = rng.vec(hidden, 1.0);
    let eps = 1e-12;
    let what = format!(
        "layer_norm rows {rows} H {hidden} residual {residual} on {}",
        dev.name()
    );
    let run = |d: &Device| -> Result<ops::LayerNormOut, String> {
        let tx = d.tensor_f32(&[rows, hidden], &x).map_err(e)?;
        let tr = d.tensor_f32(&[rows, hidden], &r).map_err(e)?;
        let tw = d.tensor_f32(&[hidden], &w).map_err(e)?;
        let tb = d.tensor_f32(&[hidden], &bias).map_err(e)?;
        ops::layer_norm(d, &tx, residual.then_some(&tr), &tw, &tb, eps).map_err(e)
    };
    let g = run(dev)?;
    let got = [
        read(dev, &g.y).await?,
        read(dev, &g.mean).await?,
        read(dev, &g.rstd).await?,
    ];
    let c = run(&Device::Cpu)?;
    let cpu = [
        read(&Device::Cpu, &c.y).await?,
        read(&Device::Cpu, &c.mean).await?,
        read(&Device::Cpu, &c.rstd).await?,
    ];
    for (i, name) in ["y", "mean", "rstd"].iter().enumerate() {
        check_close(
            &format!("{what}: {name}"),
            &got[i],
            &widen(&cpu[i]),
            Tol::F32,
        )?;
    }
    if !dev.is_gpu() {
        let (y, m, s) = ref_layer_norm(&x, residual.then_some(&r), &w, &bias, hidden, eps as f64);
        for (i, (name, want)) in [("y", y), ("mean", m), ("rstd", s)].into_iter().enumerate() {
            check_close(&format!("{what}: {name} vs f64"), &got[i], &want, Tol::F32)?;
        }
    }
    Ok(())
}

/// Softmax over rows on `dev` vs the CPU backend and an f64 softmax.
pub async fn check_softmax(dev: &Device, rows: usize, cols: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(rows * cols, 8.0);
    let got = read(
        dev,
        &ops::softmax(dev, &dev.tensor_f32(&[rows, cols], &x).map_err(e)?).map_err(e)?,
    )
    .await?;
    let mut want = vec![0f64; x.len()];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
        for j in 0..cols {
            want[r * cols + j] = (row[j] as f64 - m).exp() / z;
        }
    }
    check_close(
        &format!("softmax {rows}x{cols} on {}", dev.name()),
        &got,
        &want,
        Tol::F32,
    )
}

/// GELU, tanh, add (same shape and row broadcast) and GeGLU on `dev` vs f64.
pub async fn check_elementwise(dev: &Device, rows: usize, cols: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let n = rows * cols;
    let x = rng.vec(n, 6.0);
    let y = rng.vec(n, 1.0);
    let row = rng.vec(cols, 1.0);
    let on = dev.name();
    let tx = dev.tensor_f32(&[rows, cols], &x).map_err(e)?;
    let got = read(dev, &ops::gelu(dev, &tx).map_err(e)?).await?;
    check_close(
        &format!("gelu {rows}x{cols} on {on}"),
        &got,
        &x.iter().map(|&v| ref_gelu(v as f64)).collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let got = read(dev, &ops::tanh(dev, &tx).map_err(e)?).await?;
    check_close(
        &format!("tanh {rows}x{cols} on {on}"),
        &got,
        &x.iter().map(|&v| (v as f64).tanh()).collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let got = read(dev, &ops::scale(dev, &tx, -0.37).map_err(e)?).await?;
    check_close(
        &format!("scale {rows}x{cols} on {on}"),
        &got,
        &x.iter()
            .map(|&v| v as f64 * -0.37f32 as f64)
            .collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let ty = dev.tensor_f32(&[rows, cols], &y).map_err(e)?;
    let got = read(dev, &ops::add(dev, &tx, &ty).map_err(e)?).await?;
    check_close(
        &format!("add {rows}x{cols} on {on}"),
        &got,
        &x.iter()
            .zip(&y)
            .map(|(&a, &b)| a as f64 + b as f64)
            .collect::<Vec<_>>(),
        Tol::F32,
    )?;
    let trow = dev.tensor_f32(&[cols], &row).map_err(e)?;
    let got = read(dev, &ops::add(dev, &tx, &trow).map_err(e)?).await?;
    let want: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &a)| a as f64 + row[i % cols] as f64)
        .collect();
    check_close(
        &format!("add row {rows}x{cols} + [{cols}] on {on}"),
        &got,
        &want,
        Tol::F32,
    )?;
    if cols.is_multiple_of(2) {
        let inner = cols / 2;
        let got = read(dev, &ops::geglu(dev, &tx).map_err(e)?).await?;
        let want: Vec<f64> = (0..rows * inner)
            .map(|i| {
                let (r, c) = (i / inner, i % inner);
                ref_gelu(x[r * cols + c] as f64) * x[r * cols + inner + c] as f64
            })
            .collect();
        check_close(
            &format!("geglu {rows}x{cols} on {on}"),
            &got,
            &want,
            Tol::F32,
        )?;
        let got = read(dev, &ops::swiglu(dev, &tx).map_err(e)?).await?;
        let want: Vec<f64> = (0..rows * inner)
            .map(|i| {
                let (r, c) = (i / inner, i % inner);
                let u = x[r * cols + c] as f64;
                u / (1.0 + (-u).exp()) * x[r * cols + inner + c] as f64
            })
            .collect();
        check_close(
            &format!("swiglu {rows}x{cols} on {on}"),
            &got,
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}

/// Taking and adding a column block on `dev` against plain indexing.
pub async fn check_columns(
    dev: &Device,
    rows: usize,
    width: usize,
    start: usize,
    block: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let x = rng.vec(rows * width, 1.0);
    let v = rng.vec(rows * block, 1.0);
    let tx = dev.tensor_f32(&[rows, width], &x).map_err(e)?;
    let tv = dev.tensor_f32(&[rows, block], &v).map_err(e)?;
    let what = format!(
        "columns {start}..+{block} of {rows}x{width} on {}",
        dev.name()
    );
    let got = read(dev, &ops::take_columns(dev, &tx, start, block).map_err(e)?).await?;
    let want: Vec<f64> = (0..rows * block)
        .map(|i| x[(i / block) * width + start + i % block] as f64)
        .collect();
    check_close(&format!("take {what}"), &got, &want, Tol::F32)?;
    let got = read(dev, &ops::add_columns(dev, &tx, &tv, start).map_err(e)?).await?;
    let want: Vec<f64> = (0..rows * width)
        .map(|i| {
            let (r, c) = (i / width, i % width);
            let add = if (start..start + block).contains(&c) {
                v[r * block + c - start]
            } else {
                0.0
            };
            (x[i] + add) as f64
        })
        .collect();
    check_close(&format!("add {what}"), &got, &want, Tol::F32)
}

/// f64 rotary on packed QKV [B*T, 3H] (angles formed in f32 as PyTorch
/// does); `sign` -1 turns back by -θ (the backward).
fn ref_rotary(x: &[f64], t: usize, heads: usize, d: usize, sign: f64) -> Vec<f64> {
    let (half, hidden) = (d / 2, heads * d);
    let mut y = x.to_vec();
    for row in 0..x.len() / (3 * hidden) {
        let pos = (row % t) as f32;
        for vec in 0..2 * heads {
            let base = row * 3 * hidden + vec * d;
            for j in 0..half {
                let inv = 1.0 / 10000f32.powf((2 * j) as f32 / d as f32);
                let theta = (pos * inv) as f64;
                let (c, s) = (theta.cos(), sign * theta.sin());
                let (u1, u2) = (x[base + j], x[base + j + half]);
                y[base + j] = u1 * c - u2 * s;
                y[base + j + half] = u2 * c + u1 * s;
            }
        }
    }
    y
}

/// Rotary embedding of packed QKV [B, T, 3H] and its backward on `dev`
/// against an f64 rotation of each head's halves. The f64 backward is
/// first shown to be the forward's transpose (`<R x, g> = <x, R^T g>`,
/// which for a linear map is what finite differences would check).
pub async fn check_rotary(
    dev: &Device,
    b: usize,
    t: usize,
    heads: usize,
    d: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let hidden = heads * d;
    let shape = [b, t, 3 * hidden];
    let x = rng.vec(b * t * 3 * hidden, 2.0);
    let dy = rng.vec(b * t * 3 * hidden, 1.0);
    let (xw, dyw) = (widen(&x), widen(&dy));
    let want = ref_rotary(&xw, t, heads, d, 1.0);
    let want_back = ref_rotary(&dyw, t, heads, d, -1.0);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    let (lhs, rhs) = (dot(&want, &dyw), dot(&xw, &want_back));
    if (lhs - rhs).abs() > 1e-9 * (1.0 + lhs.abs()) {
        return Err(format!(
            "the f64 rotary backward is not the forward's transpose: {lhs} vs {rhs}"
        ));
    }
    let what = format!("B {b} T {t} heads {heads} D {d} on {}", dev.name());
    let tx = dev.tensor_f32(&shape, &x).map_err(e)?;
    let got = read(dev, &ops::rotary(dev, &tx, heads).map_err(e)?).await?;
    check_close(&format!("rotary {what}"), &got, &want, Tol::F32)?;
    let tdy = dev.tensor_f32(&shape, &dy).map_err(e)?;
    let got = read(dev, &ops::rotary_backward(dev, &tdy, heads).map_err(e)?).await?;
    check_close(
        &format!("rotary_backward {what}"),
        &got,
        &want_back,
        Tol::F32,
    )
}

/// Embedding gather (including out-of-range ids, which give zero rows) on `dev`.
pub async fn check_embedding(
    dev: &Device,
    n: usize,
    vocab: usize,
    hidden: usize,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let table = rng.vec(vocab * hidden, 1.0);
    let ids: Vec<u32> = (0..n)
        .map(|i| {
            if i % 7 == 6 {
                vocab as u32 + 3
            } else {
                rng.below(vocab as u32)
            }
        })
        .collect();
    let out = ops::embedding(
        dev,
        &dev.tensor_u32(&[n], &ids).map_err(e)?,
        &dev.tensor_f32(&[vocab, hidden], &table).map_err(e)?,
    )
    .map_err(e)?;
    let got = read(dev, &out).await?;
    let want: Vec<f64> = ids
        .iter()
        .flat_map(|&id| {
            (0..hidden).map(move |j| {
                if (id as usize) < vocab {
                    id as usize * hidden + j
                } else {
                    usize::MAX
                }
            })
        })
        .map(|i| {
            if i == usize::MAX {
                0.0
            } else {
                table[i] as f64
            }
        })
        .collect();
    check_close(
        &format!("embedding n {n} V {vocab} H {hidden} on {}", dev.name()),
        &got,
        &want,
        Tol {
            rtol: 0.0,
            atol_rel: 0.0,
        },
    )
}

/// Mean and max pooling over valid rows on `dev` vs f64.
pub async fn check_pool(dev: &Device, lens: &[usize], t: usize, hidden: usize, seed: u64) -> Check {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let x = rng.vec(b * t * hidden, 1.0);
    let mask = mask_from_lengths(lens, t);
    let tx = dev.tensor_f32(&[b, t, hidden], &x).map_err(e)?;
    let tm = dev.tensor_u32(&[b, t], &mask).map_err(e)?;
    for mode in [PoolMode::Mean, PoolMode::Max] {
        let got = read(dev, &ops::pool(dev, &tx, &tm, mode).map_err(e)?).await?;
        let mut want = vec![0f64; b * hidden];
        for bi in 0..b {
            for h in 0..hidden {
                let vals: Vec<f64> = (0..lens[bi])
                    .map(|i| x[(bi * t + i) * hidden + h] as f64)
                    .collect();
                want[bi * hidden + h] = match (mode, vals.is_empty()) {
                    (_, true) => 0.0,
                    (PoolMode::Mean, _) => vals.iter().sum::<f64>() / vals.len() as f64,
                    (PoolMode::Max, _) => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                };
            }
        }
        check_close(
            &format!("pool {mode:?} lens {lens:?} H {hidden} on {}", dev.name()),
            &got,
            &want,
            Tol::F32,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- reference fixtures

/// The fixtures `scripts/reference/dnabert2_reference.py` writes next to its
/// model: `fixtures.json` (the sequences) and `fixtures.safetensors`.
pub struct ReferenceFixtures {
    bytes: Vec<u8>,
    pub sequences: Vec<String>,
}

impl ReferenceFixtures {
    pub fn load(dir: &std::path::Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|err| format!("{}: {err}", dir.join(name).display()))
        };
        Self::from_bytes(&read("fixtures.json")?, read("fixtures.safetensors")?)
    }

    /// From the two files' bytes (the browser tests embed them).
    pub fn from_bytes(json: &[u8], safetensors: Vec<u8>) -> Result<Self, String> {
        let json: serde_json::Value =
            serde_json::from_slice(json).map_err(|err| err.to_string())?;
        let sequences = json["sequences"]
            .as_array()
            .ok_or("fixtures.json: no `sequences`")?
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        Ok(Self {
            bytes: safetensors,
            sequences,
        })
    }

    /// Shape and values (f32 or i64 tensors, widened to f64) of `name`.
    /// Every tensor's name.
    pub fn names(&self) -> Vec<String> {
        safetensors::SafeTensors::deserialize(&self.bytes)
            .map(|st| st.names().into_iter().map(String::from).collect())
            .unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f64>)> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).ok()?;
        let v = st.tensor(name).ok()?;
        let values = match v.dtype() {
            safetensors::Dtype::F32 => v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            safetensors::Dtype::I64 => v
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                .collect(),
            _ => return None,
        };
        Some((v.shape().to_vec(), values))
    }
}
