//! The Hugging Face cache on disk: where it is, and what one revision of a
//! repo holds there, read from the layout alone (offline).

use std::path::{Path, PathBuf};

use super::{CONFIG, PYTORCH, SAFETENSORS, TOKENIZER, VOCAB};

/// Where the Hugging Face cache lives: $HF_HUB_CACHE, else $HF_HOME/hub, else
/// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (exactly
/// huggingface_hub's rules).
pub fn cache_dir() -> PathBuf {
    cache_dir_from(|k| std::env::var(k).ok(), home_dir())
}

/// [`cache_dir`] from an explicit environment and home folder. As in
/// huggingface_hub, the legacy `HUGGINGFACE_HUB_CACHE` comes right after
/// `HF_HUB_CACHE` and a leading `~` is expanded; unlike it, an empty
/// variable counts as unset.
pub fn cache_dir_from(env: impl Fn(&str) -> Option<String>, home: Option<PathBuf>) -> PathBuf {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return expand_user(&p, home.as_deref());
    }
    hf_home_from(&var, home.as_deref()).join("hub")
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub(super) fn hf_home_from(var: &impl Fn(&str) -> Option<String>, home: Option<&Path>) -> PathBuf {
    if let Some(p) = var("HF_HOME") {
        return expand_user(&p, home);
    }
    let xdg = match var("XDG_CACHE_HOME") {
        Some(p) => expand_user(&p, home),
        None => match home {
            Some(h) => h.join(".cache"),
            None => PathBuf::from(".cache"),
        },
    };
    xdg.join("huggingface")
}

/// `~` and `~/...` become the home folder (Python's `os.path.expanduser`).
pub(super) fn expand_user(p: &str, home: Option<&Path>) -> PathBuf {
    match (home, p.strip_prefix('~')) {
        (Some(h), Some("")) => h.to_path_buf(),
        (Some(h), Some(rest)) if rest.starts_with('/') || rest.starts_with('\\') => {
            h.join(&rest[1..])
        }
        _ => PathBuf::from(p),
    }
}

#[allow(deprecated)] // std::env::home_dir is fine on every platform since Rust 1.85.
pub(super) fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|h| !h.as_os_str().is_empty())
}

/// `<cache>/models--org--name`, the repo's folder, named as hf-hub names it.
pub(super) fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(hf_hub::Repo::model(repo.to_string()).folder_name())
}

pub(super) fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A file the model folder needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Need {
    File(&'static str),
    /// `tokenizer.json` (DNABERT-2), or else `vocab.txt` (DNABERT, NT).
    Tokenizer,
    /// `model.safetensors`, or else `pytorch_model.bin`.
    Weights,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::File(name) => f.write_str(name),
            Need::Tokenizer => write!(f, "{TOKENIZER} (or {VOCAB})"),
            Need::Weights => write!(f, "{SAFETENSORS} (or {PYTORCH})"),
        }
    }
}

/// What the cache holds for one revision of a repo.
#[derive(Debug)]
pub(super) enum Local {
    /// No `models--org--name` folder at all.
    NotCached,
    /// The repo is cached but this revision is not: why.
    NoRevision(String),
    /// The snapshot folder and the needed files it lacks (broken symlinks
    /// count as lacking).
    Snapshot(PathBuf, Vec<Need>),
}

fn missing_files(snapshot: &Path) -> Vec<Need> {
    let has = |name: &str| snapshot.join(name).is_file();
    let mut missing: Vec<Need> = [CONFIG]
        .into_iter()
        .filter(|f| !has(f))
        .map(Need::File)
        .collect();
    if !has(TOKENIZER) && !has(VOCAB) {
        missing.push(Need::Tokenizer);
    }
    if !has(SAFETENSORS) && !has(PYTORCH) {
        missing.push(Need::Weights);
    }
    missing
}

/// The revisions `refs/` names (`refs/pr/1` included), sorted.
fn cached_refs(repo_dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let full = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.path().is_dir() {
                walk(&e.path(), &full, out);
            } else {
                out.push(full);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_dir.join("refs"), "", &mut out);
    out.sort();
    out
}

/// Finds `revision` of the repo cached in `repo_dir`, from the layout alone.
pub(super) fn locate(repo_dir: &Path, revision: &str) -> Local {
    if !repo_dir.is_dir() {
        return Local::NotCached;
    }
    let snapshots = repo_dir.join("snapshots");
    let hash = if is_commit_hash(revision) {
        revision.to_ascii_lowercase()
    } else {
        let ref_path = repo_dir.join("refs").join(revision);
        match std::fs::read_to_string(&ref_path) {
            Ok(s) if is_commit_hash(s.trim()) => s.trim().to_ascii_lowercase(),
            Ok(s) => {
                return Local::NoRevision(format!(
                    "{} holds `{}`, not a commit hash",
                    ref_path.display(),
                    s.trim()
                ))
            }
            Err(_) => {
                let refs = cached_refs(repo_dir);
                let known = if refs.is_empty() {
                    "none".to_string()
                } else {
                    refs.join(", ")
                };
                return Local::NoRevision(format!(
                    "revision `{revision}` is not cached (cached revisions: {known})"
                ));
            }
        }
    };
    let snapshot = snapshots.join(&hash);
    if !snapshot.is_dir() {
        return Local::NoRevision(if hash == revision.to_ascii_lowercase() {
            format!("commit {hash} is not cached")
        } else {
            format!("revision `{revision}` points to commit {hash}, whose snapshot is missing")
        });
    }
    let missing = missing_files(&snapshot);
    Local::Snapshot(snapshot, missing)
}
