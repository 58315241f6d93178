//! Hub ids resolved in a cache built by hand, offline, and through a
//! stand-in hub on localhost.

use super::cache::repo_dir;
use super::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
    let repo_dir = repo_dir(cache, repo);
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
    let p = repo_dir(cache, repo).join("refs").join(revision);
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
    std::fs::remove_dir_all(repo_dir(&tmp.0, ID).join("blobs")).unwrap();
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
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
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
    let repo_dir = repo_dir(&tmp.0, ID);
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
