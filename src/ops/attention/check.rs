//! The checks of `ops::attention` (feature `test-utils`) that its native tests
//! (`tests.rs`) and the browser tests (web/tests/) drive: f64
//! references, the op on any device against them and against its CPU twin.

use crate::ops;
use crate::testing::{check_close, e, mask_from_lengths, read, widen, Check, Rng, Tol};
use crate::Device;

/// Attention exactly as docs/models/dnabert2.md writes it, with the reference's -10000
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
    let mut out = vec![0f64; b * t * hid];
    let mut lse = vec![0f64; b * heads * t];
    for bi in 0..b {
        for h in 0..heads {
            for i in 0..t {
                let s = ref_scores(qkv, mask, slopes, [bi, h, i], t, heads, d);
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

/// Row i of head h of sequence bi (`[bi, h, i]`) of the scores in f64, the
/// reference's -10000 on padded keys included.
fn ref_scores(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    [bi, h, i]: [usize; 3],
    t: usize,
    heads: usize,
    d: usize,
) -> Vec<f64> {
    let hid = heads * d;
    let scale = 1.0 / (d as f64).sqrt();
    let q = |dd: usize| qkv[(bi * t + i) * 3 * hid + h * d + dd] as f64;
    (0..t)
        .map(|j| {
            let k = |dd: usize| qkv[(bi * t + j) * 3 * hid + hid + h * d + dd] as f64;
            let dot: f64 = (0..d).map(|dd| q(dd) * k(dd)).sum();
            let pad = if mask[bi * t + j] != 0 { 0.0 } else { -10000.0 };
            dot * scale - slopes[h] as f64 * (i as f64 - j as f64).abs() + pad
        })
        .collect()
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
    let mut qkv = rng.vec(b * t * 3 * heads * d, 2.0);
    // The cooperative kernel rounds q, k and v to f16, so they start there
    // (q's scale, 1/8 at D = 64, is exact); it also rounds the probabilities
    // to f16 before P V: |out - exact| <= 2^-11 sum_j p_j |v_j| <= 2^-11
    // max|v| (half a unit in the last place of each p_j; the p_j sum to 1).
    let coop = kernel == Some(ops::AttentionKernel::Cooperative);
    let mut out_tol = Tol::F32;
    if coop {
        qkv.iter_mut()
            .for_each(|x| *x = half::f16::from_f32(*x).to_f32());
    }
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
    let want_out = widen(&valid_rows(&cout, hid, false));
    if coop {
        let max_v = qkv.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        let max_out = want_out.iter().fold(0f64, |m, v| m.max(v.abs()));
        out_tol.atol_rel += 2f64.powi(-11) * max_v / max_out.max(f64::MIN_POSITIVE);
    }
    check_close(
        &format!("{what}: out"),
        &valid_rows(&out, hid, false),
        &want_out,
        out_tol,
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

/// The probabilities [B, NH, T, T] of heads `heads_out` in f64, the
/// softmax of [`ref_attention`]'s scores (padded keys' -10000 gives them
/// exactly 0); padded query rows 0.
pub fn ref_probs(
    qkv: &[f32],
    mask: &[u32],
    slopes: &[f32],
    [b, t, heads, d]: [usize; 4],
    heads_out: std::ops::Range<usize>,
) -> Vec<f64> {
    let nh = heads_out.len();
    let mut out = vec![0f64; b * nh * t * t];
    for bi in 0..b {
        for (n, h) in heads_out.clone().enumerate() {
            for i in (0..t).filter(|&i| mask[bi * t + i] != 0) {
                let s = ref_scores(qkv, mask, slopes, [bi, h, i], t, heads, d);
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for (j, sj) in s.iter().enumerate() {
                    out[((bi * nh + n) * t + i) * t + j] = (sj - m).exp() / z;
                }
            }
        }
    }
    out
}

/// The materialised probabilities of heads `heads_out` on `dev`: against
/// the CPU twin, the CPU twin against [`ref_probs`] (when `t` is small),
/// and P V against the flash forward's output (the probabilities are the
/// forward's own), on a padded batch with random (or given) rotary-free
/// inputs; the slopes are ALiBi's, or zeros when `alibi` is false.
#[allow(clippy::too_many_arguments)]
pub async fn check_attention_probs(
    dev: &Device,
    lens: &[usize],
    t: usize,
    heads: usize,
    d: usize,
    heads_out: std::ops::Range<usize>,
    alibi: bool,
    seed: u64,
) -> Check {
    let mut rng = Rng::new(seed);
    let b = lens.len();
    let hid = heads * d;
    let qkv = rng.vec(b * t * 3 * hid, 2.0);
    let mask = mask_from_lengths(lens, t);
    let slopes = if alibi {
        ops::alibi_slopes(heads)
    } else {
        vec![0.0; heads]
    };
    let nh = heads_out.len();
    let what = format!(
        "attention_probs lens {lens:?} T {t} heads {heads} ({heads_out:?}) D {d} alibi {alibi} on {}",
        dev.name()
    );
    let on = |dv: &Device| -> Result<(ops::AttentionOut, crate::Tensor), String> {
        let q = dv.tensor_f32(&[b, t, 3 * hid], &qkv).map_err(e)?;
        let mk = dv.tensor_u32(&[b, t], &mask).map_err(e)?;
        let sl = dv.tensor_f32(&[heads], &slopes).map_err(e)?;
        let flash = ops::attention(dv, &q, &mk, &sl, heads).map_err(e)?;
        let p = ops::attention_probs(dv, &q, &mk, &sl, heads, heads_out.clone()).map_err(e)?;
        Ok((flash, p))
    };
    let (flash, p) = on(dev)?;
    if p.shape() != [b, nh, t, t] {
        return Err(format!("{what}: shape {:?}", p.shape()));
    }
    let (got, out) = (read(dev, &p).await?, read(dev, &flash.out).await?);
    let cpu = read(&Device::Cpu, &on(&Device::Cpu)?.1).await?;
    check_close(&format!("{what}: vs CPU"), &got, &widen(&cpu), Tol::F32)?;
    if t <= 96 {
        let want = ref_probs(&qkv, &mask, &slopes, [b, t, heads, d], heads_out.clone());
        check_close(&format!("{what}: CPU vs f64"), &cpu, &want, Tol::F32)?;
    }
    // P V, in f64 from the probabilities, against the flash output's rows
    // of real tokens.
    let (mut pv, mut flash_rows) = (Vec::new(), Vec::new());
    for (bi, &len) in lens.iter().enumerate() {
        for i in 0..len {
            for (n, h) in heads_out.clone().enumerate() {
                let row = &got[((bi * nh + n) * t + i) * t..][..t];
                for dd in 0..d {
                    pv.push(
                        (0..t)
                            .map(|j| {
                                row[j] as f64
                                    * qkv[(bi * t + j) * 3 * hid + 2 * hid + h * d + dd] as f64
                            })
                            .sum::<f64>(),
                    );
                }
                flash_rows.extend_from_slice(&out[(bi * t + i) * hid + h * d..][..d]);
            }
        }
    }
    check_close(&format!("{what}: P V vs flash"), &flash_rows, &pv, Tol::F32)
}
