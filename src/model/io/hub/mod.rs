//! Hugging Face hub ids (`zhihan1996/DNABERT-2-117M`, optionally `@revision`)
//! resolved to a local model folder through the standard Hugging Face cache,
//! the one `huggingface_hub` (Python) and `huggingface-cli download` fill:
//!
//! ```text
//! <cache>/models--{org}--{name}/refs/{revision}          a commit hash
//! <cache>/models--{org}--{name}/snapshots/{hash}/{file}  usually symlinks into blobs/
//! <cache>/models--{org}--{name}/blobs/{etag}
//! ```
//!
//! Resolution works offline from this layout alone; missing files are
//! downloaded with the `hf-hub` crate (which writes the same layout) unless
//! `HF_HUB_OFFLINE` is set.
//!
//! `cache` reads that layout, `download` fills it through `hf-hub`. The
//! layout is read here rather than through `hf_hub::CacheRepo::get`, which
//! neither resolves a commit-hash revision (Python writes no `refs/` file
//! for one), trims the ref's newline, refuses a ref that is not a hash
//! (`../..`), nor says which revisions are cached when one is not.

mod cache;
mod download;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use cache::{cache_dir, cache_dir_from};
use cache::{locate, repo_dir, Local};
use download::download;

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
/// DNABERT's and the Nucleotide Transformer's tokenizer file.
const VOCAB: &str = "vocab.txt";
const SAFETENSORS: &str = "model.safetensors";
const PYTORCH: &str = "pytorch_model.bin";
const DEFAULT_REVISION: &str = "main";
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// True when `s` looks like a hub id ("org/name" or "name", optionally
/// "@revision"), not a filesystem path that exists.
pub fn is_hub_id(s: &str) -> bool {
    !Path::new(s).exists() && parse_id(s).is_ok()
}

/// Splits `org/name@revision` into the repo id and the revision ("main" when
/// absent), checking both as huggingface_hub does.
fn parse_id(id: &str) -> std::result::Result<(&str, &str), String> {
    let (repo, revision) = match id.split_once('@') {
        Some((repo, rev)) => (repo, rev),
        None => (id, DEFAULT_REVISION),
    };
    let segment_ok = |s: &str| {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        !s.is_empty()
            && s.chars().all(|c| word(c) || c == '-' || c == '.')
            && s.starts_with(word)
            && s.ends_with(word)
            && !s.contains("--")
            && !s.contains("..")
    };
    let segments: Vec<&str> = repo.split('/').collect();
    if segments.len() > 2 || !segments.iter().all(|s| segment_ok(s)) || repo.len() > 96 {
        return Err(format!(
            "`{id}` is not a Hugging Face model id (expected org/name or name, optionally @revision, e.g. zhihan1996/DNABERT-2-117M)"
        ));
    }
    let revision_ok = !revision.is_empty()
        && !revision
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '@')
        && revision
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !revision_ok {
        return Err(format!("`{id}`: `{revision}` is not a valid revision"));
    }
    Ok((repo, revision))
}

/// Resolves `id` (optional `@revision`, default "main") to the snapshot folder
/// holding its files, downloading the files dnagpu needs when they are missing
/// and the network allows (`HF_HUB_OFFLINE=1` forbids it). Files needed:
/// config.json, tokenizer.json or else vocab.txt (DNABERT, the Nucleotide
/// Transformer), and model.safetensors or else pytorch_model.bin.
pub fn resolve(id: &str) -> Result<PathBuf> {
    resolve_in(&cache_dir(), id, !env_is_true("HF_HUB_OFFLINE"))
}

/// [`resolve`] in the cache folder `cache` (the `hub` folder itself);
/// downloads only when `allow_download`, from `$HF_ENDPOINT` or
/// https://huggingface.co.
pub fn resolve_in(cache: &Path, id: &str, allow_download: bool) -> Result<PathBuf> {
    let endpoint = allow_download.then(|| {
        std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
    });
    resolve_with(cache, id, endpoint.as_deref())
}

/// huggingface_hub's `_is_true`: 1, ON, YES or TRUE in any case.
fn env_is_true(key: &str) -> bool {
    std::env::var(key).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_uppercase().as_str(),
            "1" | "ON" | "YES" | "TRUE"
        )
    })
}

/// [`resolve_in`] downloading from `endpoint` when given.
fn resolve_with(cache: &Path, id: &str, endpoint: Option<&str>) -> Result<PathBuf> {
    let (repo, revision) = parse_id(id).map_err(Error::Invalid)?;
    let repo_dir = repo_dir(cache, repo);
    let local = locate(&repo_dir, revision);
    if let Local::Snapshot(dir, missing) = &local {
        if missing.is_empty() {
            return Ok(dir.clone());
        }
    }
    let reason = match endpoint {
        None => "downloads are disabled (offline mode, HF_HUB_OFFLINE=1)".to_string(),
        Some(endpoint) => match download(cache, &repo_dir, repo, revision, endpoint) {
            Ok(dir) => return Ok(dir),
            Err(reason) => reason,
        },
    };
    let what = match &local {
        Local::NotCached => format!(
            "{id} is not in the Hugging Face cache ({})",
            cache.display()
        ),
        Local::NoRevision(why) => format!(
            "{id} is not in the Hugging Face cache ({}: {why})",
            repo_dir.display()
        ),
        Local::Snapshot(dir, missing) => format!(
            "{id} is only partly in the Hugging Face cache ({} has no {})",
            dir.display(),
            missing
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let revision_arg = if revision == DEFAULT_REVISION {
        String::new()
    } else {
        format!(" --revision {revision}")
    };
    Err(Error::Invalid(format!(
        "{what} and could not be downloaded: {reason}. Download it elsewhere \
         (huggingface-cli download {repo}{revision_arg}) or pass a local folder."
    )))
}
