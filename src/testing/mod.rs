//! Test support shared by the native tests (`tests/`, `ops/<op>/tests.rs`) and the browser tests
//! (`web/tests/`): seeded random data, f64 references, an element-wise
//! tolerance check that names the worst element, and the fixtures of the
//! reference models. Each op's own checks live in `ops/<op>/check.rs`.
//! Built with the feature `test-utils` only; not part of the stable API.

use crate::{Device, Tensor};

pub use crate::rng::Rng;

pub mod finite_differences;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzz;
pub mod half;
pub mod zip;

/// What a check returns: the failure's message.
pub type Check = Result<(), String>;

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
    /// Outputs stored in f16 (half-precision activations) from f32
    /// arithmetic: two results within f32's tolerance may round to
    /// neighbouring f16 values, one unit in the last place apart (2^-10
    /// relative), so rtol is f32's plus 2^-10.
    pub const F16_STORED: Tol = Tol {
        rtol: 1e-4 + 1.0 / 1024.0,
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

/// CSV (or, with `b'\t'`, TSV) text as its header and rows of fields.
pub fn csv_table(text: &str, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .map(|h| h.iter().map(String::from).collect())
        .unwrap_or_default();
    let rows = r
        .records()
        .map_while(|x| x.ok())
        .map(|x| x.iter().map(String::from).collect())
        .collect();
    (header, rows)
}

pub(crate) fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

pub(crate) fn e(x: crate::Error) -> String {
    x.to_string()
}

pub(crate) async fn read(dev: &Device, t: &Tensor) -> Result<Vec<f32>, String> {
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

pub(crate) fn expect_err<T>(what: &str, r: crate::Result<T>, needles: &[&str]) -> Check {
    match r {
        Ok(_) => Err(format!("{what}: expected an error mentioning {needles:?}")),
        Err(err) => {
            let msg = err.to_string();
            match needles.iter().find(|n| !msg.contains(*n)) {
                Some(n) => Err(format!("{what}: error `{msg}` should mention `{n}`")),
                None => Ok(()),
            }
        }
    }
}

/// `got` on `dev` vs the f64 reference, and on a GPU also vs the CPU twin.
pub(crate) async fn check_vs_f64_and_twin(
    dev: &Device,
    what: &str,
    got: &Tensor,
    want: &[f64],
    cpu: impl FnOnce() -> Result<Tensor, String>,
) -> Check {
    let got = read(dev, got).await?;
    check_close(
        &format!("{what} on {} vs f64", dev.name()),
        &got,
        want,
        Tol::F32,
    )?;
    if dev.is_gpu() {
        let twin = read(&Device::Cpu, &cpu()?).await?;
        check_close(
            &format!("{what} on {} vs the CPU backend", dev.name()),
            &got,
            &widen(&twin),
            Tol::F32,
        )?;
    }
    Ok(())
}

/// The wgpu device (a software adapter such as lavapipe is fine), or `None`
/// with the reason printed when this machine has no adapter at all.
/// `DNAGPU_REQUIRE_GPU=1` (set by CI) turns the skip into a failure.
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu() -> Option<Device> {
    match pollster::block_on(Device::gpu()) {
        Ok(d) => Some(d),
        Err(e) if std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers for lavapipe)");
            None
        }
        Err(e) => panic!("DNAGPU_REQUIRE_GPU=1 but {e}"),
    }
}

/// The wgpu device if it runs cooperative matrices (`gpu::coop`), or `None`
/// with the reason printed. `DNAGPU_REQUIRE_COOP=1` (set by scripts/test.sh
/// where it runs the tests on a lavapipe that has them) turns the skip into
/// a failure.
#[cfg(not(target_arch = "wasm32"))]
pub fn coop_gpu() -> Option<Device> {
    let why = match gpu() {
        Some(Device::Gpu(g)) if g.cooperative_matrices() => return Some(Device::Gpu(g)),
        Some(dev) => format!(
            "{} has no usable cooperative matrices (dnagpu info)",
            dev.name()
        ),
        None => "no adapter".to_string(),
    };
    if std::env::var("DNAGPU_REQUIRE_COOP").as_deref() == Ok("1") {
        panic!("DNAGPU_REQUIRE_COOP=1 but {why}");
    }
    eprintln!("SKIPPED (cooperative-matrix kernels not run): {why}");
    None
}

/// The CPU backend, and the GPU where it has shader-f16: the devices that
/// run half-precision activations. A GPU without it is skipped loudly, or
/// fails the test with `DNAGPU_REQUIRE_F16=1` (CI: lavapipe has it).
#[cfg(not(target_arch = "wasm32"))]
pub fn half_devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    match gpu() {
        Some(Device::Gpu(g)) if g.shader_f16() => devices.push(Device::Gpu(g)),
        Some(dev) => {
            let why = format!("{} has no shader-f16", dev.name());
            if std::env::var("DNAGPU_REQUIRE_F16").as_deref() == Ok("1") {
                panic!("DNAGPU_REQUIRE_F16=1 but {why}");
            }
            eprintln!("SKIPPED (f16 activations on the GPU not run): {why}");
        }
        None => {}
    }
    devices
}

/// [`half_devices`]' GPU alone (training with f16 activations), saying
/// loudly when there is none.
#[cfg(not(target_arch = "wasm32"))]
pub fn half_gpus() -> Vec<Device> {
    let devices: Vec<Device> = half_devices().into_iter().filter(Device::is_gpu).collect();
    if devices.is_empty() {
        eprintln!("SKIPPED: no GPU with shader-f16 (f16 activations on the GPU not run)");
    }
    devices
}

/// max |got - want| / max |want| (the absolute error where `want` is all
/// zeros): how far a half-precision result is from its reference, in
/// units of the reference's scale.
pub fn max_relative_error(got: &[f32], want: &[f32]) -> f64 {
    let max = want.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
    let err = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    if max > 0.0 {
        err / max
    } else {
        err
    }
}

/// Runs an async check to completion and fails the test with its message.
#[cfg(not(target_arch = "wasm32"))]
pub fn run(check: impl std::future::Future<Output = Check>) {
    if let Err(msg) = pollster::block_on(check) {
        panic!("{msg}");
    }
}

/// A tensor of `shape` on `dev` with every element `v`.
#[cfg(not(target_arch = "wasm32"))]
pub fn filled(dev: &Device, shape: &[usize], v: f32) -> Tensor {
    let n = shape.iter().product();
    dev.tensor_f32(shape, &vec![v; n]).unwrap()
}

/// `r` is a shape error of `op` whose message names the shapes.
#[cfg(not(target_arch = "wasm32"))]
pub fn assert_shape_error(r: crate::Result<Tensor>, op: &str) {
    match r {
        Err(crate::Error::Shape { op: o, msg }) => {
            assert_eq!(o, op, "{msg}");
            assert!(msg.contains('['), "the message names the shapes: {msg}");
        }
        other => panic!("{op}: expected a shape error, got {other:?}"),
    }
}
