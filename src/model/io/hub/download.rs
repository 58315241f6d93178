//! Downloads through `hf-hub` into the cache layout, with the hub's HTTP
//! status read from hf-hub's typed error and a fast reachability check.

use std::io::IsTerminal;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::api::sync::ApiError;

use super::cache::{expand_user, hf_home_from, home_dir, locate, Local, Need};
use super::{CONFIG, PYTORCH, SAFETENSORS, TOKENIZER, VOCAB};

/// How long the reachability check before a download may wait per address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Downloads what the snapshot of `repo@revision` lacks into `cache`, then
/// returns the complete snapshot folder; the error is the reason, in words.
pub(super) fn download(
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

/// The HTTP status the hub answered with, if the error is one: ureq's
/// `Status` error, possibly behind hf-hub's retries.
fn http_status(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(req) => match &**req {
            ureq::Error::Status(code, _) => Some(*code),
            ureq::Error::Transport(_) => None,
        },
        ApiError::TooManyRetries(last) => http_status(last),
        _ => None,
    }
}

fn describe(name: &str, e: ApiError) -> FetchError {
    match http_status(&e) {
        Some(404) => FetchError::NotFound(format!(
            "{name}: HTTP 404 (no such repository, revision or file)"
        )),
        Some(code @ (401 | 403)) => FetchError::Other(format!(
            "{name}: HTTP {code} (the repository does not exist, or is private or gated: \
             set HF_TOKEN or run huggingface-cli login)"
        )),
        Some(code) => FetchError::Other(format!("{name}: HTTP {code}")),
        None => FetchError::Other(format!("{name}: {e}")),
    }
}

/// Fails fast, with a reason, when the endpoint's host cannot be resolved or
/// reached: hf-hub's client would otherwise wait 30 s per address. Skipped
/// behind a proxy, which the client goes through instead.
pub(super) fn check_reachable(endpoint: &str) -> std::result::Result<(), String> {
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
