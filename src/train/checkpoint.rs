//! Model folders and training checkpoints on disk.
//!
//! A model folder is what `embed` and Hugging Face load: `config.json`,
//! `tokenizer.json`, `model.safetensors` (Hugging Face names, the tied
//! decoder weight included), each file written atomically.
//!
//! A checkpoint is `RUN/checkpoints/step-NNNNNNNN/`: a model folder plus
//! `optimizer.safetensors` (AdamW moments `m.<name>`, `v.<name>`) and
//! `state.json` (step, data position, settings, and the sha256 of every
//! other file). It is written in full into a temporary folder and renamed
//! into place, so a crash or a full disk leaves either the whole checkpoint
//! or none (the temporary folder of a killed write is removed when the run
//! next starts); the previous ones are pruned only after that. Loading
//! takes the newest checkpoint that reads back whole, matches its digests
//! and holds only finite numbers, and says why it skipped any newer one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint_verify::{check_digest, check_finite, sha256_hex};
use crate::error::{Error, Result};
use crate::export::{safetensors_named, Precision};
use crate::fs::{io_error, write_atomic};
use crate::model::{HostTensor, Weights};

pub struct ModelFolder<'a> {
    pub config_json: &'a str,
    /// The tokenizer's file name (`tokenizer.json`, `vocab.txt`) and text.
    pub tokenizer: (&'a str, &'a str),
    pub tensors: &'a BTreeMap<String, HostTensor>,
    pub precision: Precision,
}

fn weights_bytes(m: &ModelFolder) -> Result<Vec<u8>> {
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let named = m
        .tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()));
    safetensors_named(named, m.precision, Some(meta))
}

/// Writes (or replaces, file by file, atomically) a model folder.
pub fn write_model_folder(dir: &Path, m: &ModelFolder) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    write_atomic(&dir.join("model.safetensors"), &weights_bytes(m)?)?;
    write_atomic(&dir.join("config.json"), m.config_json.as_bytes())?;
    write_atomic(&dir.join(m.tokenizer.0), m.tokenizer.1.as_bytes())?;
    Ok(())
}

/// Where a run stands: enough to continue it exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    pub step: u64,
    /// Batches taken from the data stream (its position).
    pub batches: u64,
    pub epoch: u64,
    pub tokens: u64,
    pub elapsed_s: f64,
    /// The settings that shape the run; a resume must match them.
    pub settings: serde_json::Value,
    /// Mixed precision: the loss scale to go on with (absent in f32 runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<super::loss_scale::LossScale>,
    /// Mixed precision: steps skipped so far because their gradients
    /// overflowed (their batches are spent, `step` did not advance).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// state.json as stored: the state and the sha256 of each other file.
#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    state: TrainerState,
    /// File name to sha256 (hex); absent from the checkpoints of earlier
    /// versions, which load unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<BTreeMap<String, String>>,
}

/// The AdamW moments, by parameter name.
pub struct OptimizerState {
    pub m: BTreeMap<String, HostTensor>,
    pub v: BTreeMap<String, HostTensor>,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(io_error(path.display()))?;
    f.write_all(bytes).map_err(io_error(path.display()))?;
    f.sync_all().map_err(io_error(path.display()))
}

/// Saves checkpoint `state.step` under `run` and keeps the newest `keep`.
pub fn save(
    run: &Path,
    model: &ModelFolder,
    opt: &OptimizerState,
    state: &TrainerState,
    keep: usize,
) -> Result<PathBuf> {
    let root = run.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(io_error(format!("creating {}", root.display())))?;
    let name = format!("step-{:08}", state.step);
    let dir = root.join(&name);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| -> Result<()> {
        std::fs::create_dir(&tmp).map_err(io_error(tmp.display()))?;
        // Each file written with its digest, one at a time (a big model's
        // files are not all held at once).
        let mut sums = BTreeMap::new();
        let mut put = |name: &str, bytes: &[u8]| {
            write_file(&tmp.join(name), bytes)?;
            sums.insert(name.to_string(), sha256_hex(bytes));
            Ok::<_, Error>(())
        };
        put("model.safetensors", &weights_bytes(model)?)?;
        put("config.json", model.config_json.as_bytes())?;
        put(model.tokenizer.0, model.tokenizer.1.as_bytes())?;
        let moments = opt
            .m
            .iter()
            .map(|(n, t)| (format!("m.{n}"), t))
            .chain(opt.v.iter().map(|(n, t)| (format!("v.{n}"), t)))
            .collect::<Vec<_>>();
        let named = moments
            .iter()
            .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()));
        put(
            "optimizer.safetensors",
            &safetensors_named(named, Precision::F32, None)?,
        )?;
        // Written last: a folder without it is not a checkpoint.
        let state_file = StateFile {
            state: state.clone(),
            sha256: Some(sums),
        };
        let text = serde_json::to_string_pretty(&state_file)
            .map_err(|e| Error::Invalid(format!("state.json: {e}")))?;
        write_file(&tmp.join("state.json"), text.as_bytes())?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_error(dir.display()))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io_error(dir.display()))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::Invalid(format!(
            "writing checkpoint {} (the earlier checkpoints are kept): {e}",
            dir.display()
        )));
    }
    let mut all = list(&root)?;
    all.sort();
    for old in all.iter().rev().skip(keep.max(1)) {
        let _ = std::fs::remove_dir_all(root.join(format!("step-{old:08}")));
    }
    Ok(dir)
}

fn list(root: &Path) -> Result<Vec<u64>> {
    let mut steps = Vec::new();
    if !root.is_dir() {
        return Ok(steps);
    }
    let io = |e| io_error(format!("listing {}", root.display()))(e);
    for e in std::fs::read_dir(root).map_err(io)? {
        let name = e.map_err(io)?.file_name().to_string_lossy().to_string();
        if let Some(n) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) {
            steps.push(n);
        }
    }
    Ok(steps)
}

/// A checkpoint read back.
pub struct Loaded {
    pub dir: PathBuf,
    pub state: TrainerState,
    pub weights: Weights,
    pub optimizer: OptimizerState,
    pub config_json: String,
    pub tokenizer_json: String,
}

/// The checkpoint in `dir`, and whether its files were checked against
/// digests (checkpoints of earlier versions have none).
fn load_one(dir: &Path) -> Result<(Loaded, bool)> {
    let raw = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| Error::Invalid(format!("{name} is missing or unreadable: {e}")))
    };
    let StateFile { state, sha256 } = serde_json::from_slice(&raw("state.json")?)
        .map_err(|e| Error::Invalid(format!("state.json does not parse: {e}")))?;
    let read = |name: &str| {
        let bytes = raw(name)?;
        if let Some(sums) = &sha256 {
            check_digest(name, &bytes, sums)?;
        }
        Ok::<_, Error>(bytes)
    };
    let text = |name: &str| {
        String::from_utf8(read(name)?).map_err(|_| Error::Invalid(format!("{name} is not UTF-8")))
    };
    let tensors = |name: &str| {
        let w = Weights::from_safetensors(&read(name)?, &dir.join(name).display().to_string())?;
        check_finite(name, &w)?;
        Ok::<_, Error>(w)
    };
    let weights = tensors("model.safetensors")?;
    let opt = tensors("optimizer.safetensors")?;
    let mut m = BTreeMap::new();
    let mut v = BTreeMap::new();
    for (name, t) in opt.take_all()? {
        if let Some(n) = name.strip_prefix("m.") {
            m.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("v.") {
            v.insert(n.to_string(), t);
        }
    }
    let loaded = Loaded {
        dir: dir.to_path_buf(),
        state,
        weights,
        optimizer: OptimizerState { m, v },
        config_json: text("config.json")?,
        tokenizer_json: text("tokenizer.json")?,
    };
    Ok((loaded, sha256.is_some()))
}

/// The newest checkpoint of `run` that reads back whole and intact, and a
/// warning for each newer one that did not (and for one loaded unverified).
pub fn load_latest(run: &Path) -> Result<(Option<Loaded>, Vec<String>)> {
    let root = run.join("checkpoints");
    let mut steps = list(&root)?;
    steps.sort_unstable_by(|a, b| b.cmp(a));
    let mut warnings = Vec::new();
    for s in steps {
        let dir = root.join(format!("step-{s:08}"));
        match load_one(&dir) {
            Ok((l, verified)) if l.state.step == s => {
                if !verified {
                    warnings.push(format!(
                        "{}: written by an earlier dnagpu, without file digests: loaded unverified",
                        dir.display()
                    ));
                }
                return Ok((Some(l), warnings));
            }
            Ok((l, _)) => warnings.push(format!(
                "{} skipped: its state.json says step {}, not {s}",
                dir.display(),
                l.state.step
            )),
            Err(e) => warnings.push(format!(
                "{} skipped: incomplete or corrupt ({e})",
                dir.display()
            )),
        }
    }
    Ok((None, warnings))
}

/// Errors when a resumed run's settings differ from the checkpoint's in a
/// way that would change the run (data, seed, batching, model shape).
pub fn check_settings(saved: &serde_json::Value, now: &serde_json::Value) -> Result<()> {
    let (Some(a), Some(b)) = (saved.as_object(), now.as_object()) else {
        return Ok(());
    };
    let mut diffs = Vec::new();
    for (k, v) in b {
        if let Some(old) = a.get(k) {
            if old != v {
                diffs.push(format!("{k}: checkpoint {old}, now {v}"));
            }
        }
    }
    if !diffs.is_empty() {
        return Err(Error::Invalid(format!(
            "--resume with settings that differ from the checkpoint's: {}. Resume with the same settings, or start a new run in another folder",
            diffs.join("; ")
        )));
    }
    Ok(())
}
