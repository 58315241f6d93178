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

use std::io::IsTerminal;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";
/// DNABERT's and the Nucleotide Transformer's tokenizer file.
const VOCAB: &str = "vocab.txt";
const SAFETENSORS: &str = "model.safetensors";
const PYTORCH: &str = "pytorch_model.bin";
const DEFAULT_REVISION: &str = "main";
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// How long the reachability check before a download may wait per address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
fn hf_home_from(var: &impl Fn(&str) -> Option<String>, home: Option<&Path>) -> PathBuf {
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
fn expand_user(p: &str, home: Option<&Path>) -> PathBuf {
    match (home, p.strip_prefix('~')) {
        (Some(h), Some("")) => h.to_path_buf(),
        (Some(h), Some(rest)) if rest.starts_with('/') || rest.starts_with('\\') => {
            h.join(&rest[1..])
        }
        _ => PathBuf::from(p),
    }
}

#[allow(deprecated)] // std::env::home_dir is fine on every platform since Rust 1.85.
fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|h| !h.as_os_str().is_empty())
}

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

/// `models--org--name`, the repo's folder in the cache.
fn repo_folder(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A file the model folder needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
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
enum Local {
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
fn locate(repo_dir: &Path, revision: &str) -> Local {
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
    let repo_dir = cache.join(repo_folder(repo));
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

/// Downloads what the snapshot of `repo@revision` lacks into `cache`, then
/// returns the complete snapshot folder; the error is the reason, in words.
fn download(
    cache: &Path,
    repo_dir: &Path,
    repo: &str,
    revision: &str,
    endpoint: &str,
) -> std::result::Result<PathBuf, String> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Cache, Repo, RepoType};

    let endpoint = endpoint.trim_end_matches('/');
    check_reachable(endpoint)?;
    let api = ApiBuilder::from_cache(Cache::new(cache.to_path_buf()))
        .with_endpoint(endpoint.to_string())
        .with_token(token())
        .with_progress(std::io::stderr().is_terminal())
        .build()
        .map_err(|e| e.to_string())?;
    let api_repo = api.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision.to_string(),
    ));
    let fetch = |name: &str| -> std::result::Result<(), FetchError> {
        // hf-hub has a few asserts/unwraps; keep them from taking the caller down.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| api_repo.download(name))) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(describe(name, e)),
            Err(_) => Err(FetchError::Other(format!("{name}: the download panicked"))),
        }
    };
    // A branch may move between two files' downloads and leave them in two
    // snapshots; each round fills the newest one.
    for _ in 0..3 {
        let need = match locate(repo_dir, revision) {
            Local::Snapshot(dir, missing) if missing.is_empty() => return Ok(dir),
            Local::Snapshot(_, missing) => missing,
            Local::NotCached | Local::NoRevision(_) => {
                vec![Need::File(CONFIG), Need::Tokenizer, Need::Weights]
            }
        };
        for n in need {
            match n {
                Need::File(name) => fetch(name).map_err(FetchError::into_reason)?,
                Need::Tokenizer => match fetch(TOKENIZER) {
                    Ok(()) => {}
                    Err(FetchError::NotFound(_)) => match fetch(VOCAB) {
                        Ok(()) => {}
                        Err(FetchError::NotFound(_)) => {
                            return Err(format!(
                                "the repository has neither {TOKENIZER} nor {VOCAB}"
                            ))
                        }
                        Err(e) => return Err(e.into_reason()),
                    },
                    Err(e) => return Err(e.into_reason()),
                },
                Need::Weights => match fetch(SAFETENSORS) {
                    Ok(()) => {}
                    Err(FetchError::NotFound(_)) => match fetch(PYTORCH) {
                        Ok(()) => {}
                        Err(FetchError::NotFound(_)) => {
                            return Err(format!(
                                "the repository has neither {SAFETENSORS} nor {PYTORCH}"
                            ))
                        }
                        Err(e) => return Err(e.into_reason()),
                    },
                    Err(e) => return Err(e.into_reason()),
                },
            }
        }
    }
    match locate(repo_dir, revision) {
        Local::Snapshot(dir, missing) if missing.is_empty() => Ok(dir),
        _ => Err(format!(
            "the downloaded files did not form one snapshot in {} (the revision kept moving?)",
            repo_dir.display()
        )),
    }
}

enum FetchError {
    /// HTTP 404: the file (or repo, or revision) does not exist.
    NotFound(String),
    Other(String),
}

impl FetchError {
    fn into_reason(self) -> String {
        match self {
            FetchError::NotFound(s) | FetchError::Other(s) => s,
        }
    }
}

fn describe(name: &str, e: hf_hub::api::sync::ApiError) -> FetchError {
    use hf_hub::api::sync::ApiError;
    if let ApiError::RequestError(req) = &e {
        // ureq (not a direct dependency) shows an HTTP error status as
        // "<url>: status code <code>".
        let shown = req.to_string();
        let code = shown.rsplit_once(": status code ").and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<u16>().ok())
        });
        if let Some(code) = code {
            return match code {
                404 => FetchError::NotFound(format!(
                    "{name}: HTTP 404 (no such repository, revision or file)"
                )),
                401 | 403 => FetchError::Other(format!(
                    "{name}: HTTP {code} (the repository does not exist, or is private or gated: \
                     set HF_TOKEN or run huggingface-cli login)"
                )),
                _ => FetchError::Other(format!("{name}: HTTP {code}")),
            };
        }
    }
    FetchError::Other(format!("{name}: {e}"))
}

/// Fails fast, with a reason, when the endpoint's host cannot be resolved or
/// reached: hf-hub's client would otherwise wait 30 s per address. Skipped
/// behind a proxy, which the client goes through instead.
fn check_reachable(endpoint: &str) -> std::result::Result<(), String> {
    let proxied = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
    if proxied {
        return Ok(());
    }
    let (default_port, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        (443, r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        (80, r)
    } else {
        return Err(format!("endpoint {endpoint} is not an http(s) URL"));
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse() {
            Ok(p) => (h, p),
            Err(_) => (authority, default_port),
        },
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}, no network? ({e})"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("cannot connect to {host}:{port}, no network? ({e})"),
        None => format!("{host} resolves to no address"),
    })
}

/// `$HF_TOKEN`, else the file `$HF_TOKEN_PATH`, else `$HF_HOME/token`
/// (what `huggingface-cli login` writes).
fn token() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(t) = var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")) {
        return Some(t.trim().to_string());
    }
    let home = home_dir();
    let path = match var("HF_TOKEN_PATH") {
        Some(p) => expand_user(&p, home.as_deref()),
        None => hf_home_from(&var, home.as_deref()).join("token"),
    };
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";
    const HASH2: &str = "fedcba9876543210fedcba9876543210fedcba98";
    const ID: &str = "zhihan1996/DNABERT-2-117M";

    /// A fresh folder under the system temp folder, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let p = std::env::temp_dir().join(format!(
                "dnagpu-hub-{tag}-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `snapshots/<hash>/<file>` for each file into the cached repo
    /// folder: weights as a relative symlink into `blobs/` (as the real cache
    /// does; a plain copy where symlinks are unavailable), the rest as plain
    /// files.
    fn snapshot(cache: &Path, repo: &str, hash: &str, files: &[&str]) -> PathBuf {
        let repo_dir = cache.join(repo_folder(repo));
        let snap = repo_dir.join("snapshots").join(hash);
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            let body = format!("{f} of {repo}@{hash}");
            if f.ends_with(".safetensors") || f.ends_with(".bin") {
                let blobs = repo_dir.join("blobs");
                std::fs::create_dir_all(&blobs).unwrap();
                let etag = format!("etag-{hash}-{f}");
                std::fs::write(blobs.join(&etag), &body).unwrap();
                link(&Path::new("../../blobs").join(&etag), &snap.join(f), &body);
            } else {
                std::fs::write(snap.join(f), &body).unwrap();
            }
        }
        snap
    }

    #[cfg(unix)]
    fn link(target: &Path, at: &Path, _body: &str) {
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    #[cfg(not(unix))]
    fn link(_target: &Path, at: &Path, body: &str) {
        std::fs::write(at, body).unwrap();
    }

    fn set_ref(cache: &Path, repo: &str, revision: &str, hash: &str) {
        let p = cache.join(repo_folder(repo)).join("refs").join(revision);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, hash).unwrap();
    }

    const ALL: &[&str] = &[CONFIG, TOKENIZER, SAFETENSORS];

    fn err(r: Result<PathBuf>) -> String {
        match r {
            Ok(p) => panic!("expected an error, got {}", p.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_vocab_txt_folder_is_complete() {
        // DNABERT's and the Nucleotide Transformer's repositories.
        let tmp = TempDir::new("vocab");
        let snap = snapshot(&tmp.0, ID, HASH, &[CONFIG, VOCAB, PYTORCH]);
        set_ref(&tmp.0, ID, "main", HASH);
        assert_eq!(resolve_in(&tmp.0, ID, false).unwrap(), snap);
    }

    #[test]
    fn resolves_main() {
        let tmp = TempDir::new("main");
        let snap = snapshot(&tmp.0, ID, HASH, ALL);
        set_ref(&tmp.0, ID, "main", &format!("{HASH}\n"));
        let got = resolve_in(&tmp.0, ID, false).unwrap();
        assert_eq!(got, snap);
        assert_eq!(
            resolve_in(&tmp.0, &format!("{ID}@main"), false).unwrap(),
            snap
        );
        // The weights are read through the relative symlink.
        let w = std::fs::read_to_string(got.join(SAFETENSORS)).unwrap();
        assert_eq!(w, format!("{SAFETENSORS} of {ID}@{HASH}"));
        #[cfg(unix)]
        assert!(got
            .join(SAFETENSORS)
            .symlink_metadata()
            .unwrap()
            .is_symlink());
    }

    #[test]
    fn resolves_one_segment_ids_and_other_refs() {
        let tmp = TempDir::new("refs");
        let a = snapshot(&tmp.0, "gpt2", HASH, &[CONFIG, TOKENIZER, PYTORCH]);
        set_ref(&tmp.0, "gpt2", "main", HASH);
        assert_eq!(resolve_in(&tmp.0, "gpt2", false).unwrap(), a);
        assert!(tmp.0.join("models--gpt2").is_dir());

        let b = snapshot(&tmp.0, ID, HASH2, ALL);
        set_ref(&tmp.0, ID, "refs/pr/1", HASH2);
        set_ref(&tmp.0, ID, "v1.0", HASH2);
        assert_eq!(
            resolve_in(&tmp.0, &format!("{ID}@refs/pr/1"), false).unwrap(),
            b
        );
        assert_eq!(resolve_in(&tmp.0, &format!("{ID}@v1.0"), false).unwrap(), b);
    }

    #[test]
    fn resolves_commit_hash_without_refs() {
        let tmp = TempDir::new("hash");
        let a = snapshot(&tmp.0, ID, HASH, ALL);
        let b = snapshot(&tmp.0, ID, HASH2, ALL);
        set_ref(&tmp.0, ID, "main", HASH2);
        assert_eq!(
            resolve_in(&tmp.0, &format!("{ID}@{HASH}"), false).unwrap(),
            a
        );
        assert_eq!(
            resolve_in(&tmp.0, &format!("{ID}@{HASH2}"), false).unwrap(),
            b
        );
        assert_eq!(resolve_in(&tmp.0, ID, false).unwrap(), b);
        let upper = HASH.to_ascii_uppercase();
        assert_eq!(
            resolve_in(&tmp.0, &format!("{ID}@{upper}"), false).unwrap(),
            a
        );
    }

    #[test]
    fn unknown_revision_is_an_error_listing_cached_ones() {
        let tmp = TempDir::new("unknown");
        snapshot(&tmp.0, ID, HASH, ALL);
        set_ref(&tmp.0, ID, "main", HASH);
        let e = err(resolve_in(&tmp.0, &format!("{ID}@v2"), false));
        assert!(e.contains("revision `v2` is not cached"), "{e}");
        assert!(e.contains("cached revisions: main"), "{e}");
        assert!(
            e.contains(&format!("huggingface-cli download {ID} --revision v2")),
            "{e}"
        );

        let e = err(resolve_in(&tmp.0, &format!("{ID}@{HASH2}"), false));
        assert!(e.contains(&format!("commit {HASH2} is not cached")), "{e}");

        // A ref pointing at a snapshot that is gone.
        set_ref(&tmp.0, ID, "stale", HASH2);
        let e = err(resolve_in(&tmp.0, &format!("{ID}@stale"), false));
        assert!(e.contains("whose snapshot is missing"), "{e}");

        // A ref that holds garbage is not followed.
        set_ref(&tmp.0, ID, "bad", "../../../etc");
        let e = err(resolve_in(&tmp.0, &format!("{ID}@bad"), false));
        assert!(e.contains("not a commit hash"), "{e}");
    }

    #[test]
    fn missing_files_are_named() {
        let tmp = TempDir::new("missing");
        let snap = snapshot(&tmp.0, ID, HASH, &[CONFIG, TOKENIZER]);
        set_ref(&tmp.0, ID, "main", HASH);
        let e = err(resolve_in(&tmp.0, ID, false));
        assert!(e.contains("only partly in the Hugging Face cache"), "{e}");
        assert!(e.contains(&snap.display().to_string()), "{e}");
        assert!(
            e.contains("has no model.safetensors (or pytorch_model.bin)"),
            "{e}"
        );
        assert!(!e.contains("config.json"), "{e}");

        std::fs::remove_file(snap.join(TOKENIZER)).unwrap();
        let e = err(resolve_in(&tmp.0, ID, false));
        assert!(
            e.contains(
                "has no tokenizer.json (or vocab.txt), model.safetensors (or pytorch_model.bin)"
            ),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn broken_symlink_counts_as_missing() {
        let tmp = TempDir::new("broken");
        let snap = snapshot(&tmp.0, ID, HASH, ALL);
        set_ref(&tmp.0, ID, "main", HASH);
        std::fs::remove_dir_all(tmp.0.join(repo_folder(ID)).join("blobs")).unwrap();
        let e = err(resolve_in(&tmp.0, ID, false));
        assert!(
            e.contains(&format!("{} has no model.safetensors", snap.display())),
            "{e}"
        );
    }

    #[test]
    fn offline_and_absent_is_a_clear_error() {
        let tmp = TempDir::new("offline");
        let e = err(resolve_in(&tmp.0, ID, false));
        let want = format!(
            "{ID} is not in the Hugging Face cache ({}) and could not be downloaded: \
             downloads are disabled (offline mode, HF_HUB_OFFLINE=1). Download it elsewhere \
             (huggingface-cli download {ID}) or pass a local folder.",
            tmp.0.display()
        );
        assert_eq!(e, want);
        // A bad id is refused before looking anything up.
        let e = err(resolve_in(&tmp.0, "a/b/c", false));
        assert!(e.contains("not a Hugging Face model id"), "{e}");
    }

    #[test]
    fn unreachable_endpoint_fails_fast_with_the_reason() {
        let tmp = TempDir::new("unreachable");
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = std::time::Instant::now();
        let e = err(resolve_with(
            &tmp.0,
            ID,
            Some(&format!("http://127.0.0.1:{port}")),
        ));
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(
            e.starts_with(&format!("{ID} is not in the Hugging Face cache")),
            "{e}"
        );
        assert!(e.contains("could not be downloaded: "), "{e}");
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(e.ends_with("or pass a local folder."), "{e}");

        let e = err(resolve_with(
            &tmp.0,
            ID,
            Some("http://no-such-host.invalid"),
        ));
        assert!(e.contains("could not be downloaded: "), "{e}");
    }

    /// A minimal stand-in for the hub's `resolve` endpoint: serves `files`
    /// of the repo `ID` at commit `HASH`, 404 for anything else, one request per
    /// connection.
    fn fake_hub(files: Vec<(String, Vec<u8>)>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&req).into_owned();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                let range_start: usize = req
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("range: bytes=")
                            .map(|r| r.split('-').next().unwrap_or("0").trim().to_string())
                    })
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let range_end = req
                    .to_ascii_lowercase()
                    .contains("range: bytes=0-0")
                    .then_some(0usize);
                let found = files
                    .iter()
                    .find(|(name, _)| path == format!("/{ID}/resolve/main/{name}"));
                let resp = match found {
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                    Some((name, body)) => {
                        let end = range_end.unwrap_or(body.len() - 1);
                        let chunk = &body[range_start.min(body.len())..=end];
                        let mut r = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\n\
                             Content-Range: bytes {range_start}-{end}/{}\r\n\
                             ETag: \"blob-{name}\"\r\nX-Repo-Commit: {HASH}\r\n\
                             Connection: close\r\n\r\n",
                            chunk.len(),
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(chunk);
                        r
                    }
                };
                let _ = s.write_all(&resp);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn downloads_missing_files_into_the_cache_layout() {
        let tmp = TempDir::new("download");
        // No model.safetensors on this hub: pytorch_model.bin is fetched instead.
        let endpoint = fake_hub(vec![
            (CONFIG.into(), b"{\"config\": 1}".to_vec()),
            (TOKENIZER.into(), b"{\"tokenizer\": 1}".to_vec()),
            (PYTORCH.into(), b"weights weights weights".to_vec()),
        ]);
        let got = resolve_with(&tmp.0, ID, Some(&endpoint)).unwrap();
        let repo_dir = tmp.0.join(repo_folder(ID));
        assert_eq!(got, repo_dir.join("snapshots").join(HASH));
        assert_eq!(
            std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
            HASH
        );
        assert_eq!(
            std::fs::read(got.join(PYTORCH)).unwrap(),
            b"weights weights weights"
        );
        assert_eq!(
            std::fs::read_to_string(got.join(CONFIG)).unwrap(),
            "{\"config\": 1}"
        );
        // Now complete, so found offline.
        assert_eq!(resolve_in(&tmp.0, ID, false).unwrap(), got);

        // A repo the hub does not have.
        let e = err(resolve_with(&tmp.0, "org/absent", Some(&endpoint)));
        assert!(e.contains("config.json: HTTP 404"), "{e}");
    }

    #[test]
    fn download_completes_a_partial_snapshot() {
        let tmp = TempDir::new("partial");
        let snap = snapshot(&tmp.0, ID, HASH, &[CONFIG, TOKENIZER]);
        set_ref(&tmp.0, ID, "main", HASH);
        let endpoint = fake_hub(vec![(SAFETENSORS.into(), b"st".to_vec())]);
        assert_eq!(resolve_with(&tmp.0, ID, Some(&endpoint)).unwrap(), snap);
        assert_eq!(std::fs::read(snap.join(SAFETENSORS)).unwrap(), b"st");
    }

    #[test]
    fn hub_ids() {
        for s in [
            ID,
            "gpt2",
            "org/name@main",
            "org/name@refs/pr/1",
            &format!("org/name@{HASH}"),
            "my_org/model.v2",
            "a/b",
        ] {
            assert!(is_hub_id(s), "{s}");
        }
        for s in [
            "",
            "/abs/path",
            "./model",
            "../model",
            "~/model",
            "a/b/c",
            "org/name@",
            "org/name@a b",
            "org/name@../x",
            "@main",
            "org/",
            "/name",
            "-org/name",
            "org/name-",
            "org/na--me",
            "org/na..me",
            "org name",
            "C:\\models\\x",
            // Existing paths (tests run in the crate root).
            "src",
            "src/model",
            "Cargo.toml",
        ] {
            assert!(!is_hub_id(s), "{s}");
        }
        assert!(!is_hub_id(&"a".repeat(97)));
    }

    #[test]
    fn cache_dir_precedence() {
        let home = Some(PathBuf::from("/home/u"));
        let from = |vars: &[(&str, &str)], home: Option<PathBuf>| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            cache_dir_from(
                move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
                home,
            )
        };
        let all = [
            ("HF_HUB_CACHE", "/c/hub-cache"),
            ("HUGGINGFACE_HUB_CACHE", "/c/legacy"),
            ("HF_HOME", "/c/hf-home"),
            ("XDG_CACHE_HOME", "/c/xdg"),
        ];
        assert_eq!(from(&all, home.clone()), PathBuf::from("/c/hub-cache"));
        assert_eq!(from(&all[1..], home.clone()), PathBuf::from("/c/legacy"));
        assert_eq!(
            from(&all[2..], home.clone()),
            PathBuf::from("/c/hf-home/hub")
        );
        assert_eq!(
            from(&all[3..], home.clone()),
            PathBuf::from("/c/xdg/huggingface/hub")
        );
        assert_eq!(
            from(&[], home.clone()),
            PathBuf::from("/home/u/.cache/huggingface/hub")
        );
        assert_eq!(from(&[], None), PathBuf::from(".cache/huggingface/hub"));
        // Empty counts as unset; `~` is expanded.
        assert_eq!(
            from(&[("HF_HUB_CACHE", ""), ("HF_HOME", "~/hf")], home.clone()),
            PathBuf::from("/home/u/hf/hub")
        );
        assert_eq!(
            from(&[("HF_HUB_CACHE", "~")], home.clone()),
            PathBuf::from("/home/u")
        );
        // `~user` is left alone.
        assert_eq!(
            from(&[("XDG_CACHE_HOME", "~other/x")], home),
            PathBuf::from("~other/x/huggingface/hub")
        );
    }
}
