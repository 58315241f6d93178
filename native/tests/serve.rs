//! `dnagpu serve`: what it says without a built page, the headers the page
//! needs, and that it never serves a file outside its folder.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use common::{dnagpu, run, tmp};

const CSP: &str = "default-src 'self'; connect-src 'self' https://huggingface.co";

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A built page in `dir`: an index.html declaring [`CSP`].
fn write_page(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        format!("<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"></head></html>"),
    )
    .unwrap();
}

/// `dnagpu serve` on a free port for `dir`, once it listens: the child
/// (stderr piped) and its address.
fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = dnagpu()
        .args(["serve", "--port", "0", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr)
}

#[test]
fn without_a_built_page_it_says_how_to_build_one() {
    let dir = tmp("serve-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, _, err) = run(dnagpu().args(["serve", "--port", "0", "--dir"]).arg(&dir));
    assert!(!ok);
    assert!(err.contains("scripts/build-web.sh"), "{err}");
}

#[test]
fn serves_the_page_with_its_policy_and_nothing_outside_it() {
    let dir = tmp("serve-page").join("page");
    write_page(&dir);
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg/m.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.parent().unwrap().join("secret.txt"), b"secret").unwrap();
    let (mut child, addr) = start(&dir);

    let index = get(&addr, "/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    for h in [
        format!("Content-Security-Policy: {CSP}"),
        "Cross-Origin-Opener-Policy: same-origin".into(),
        "Cross-Origin-Embedder-Policy: require-corp".into(),
        "Content-Type: text/html".into(),
    ] {
        assert!(index.contains(&h), "missing {h}:\n{index}");
    }
    let wasm = get(&addr, "/pkg/m.wasm");
    assert!(wasm.contains("Content-Type: application/wasm"), "{wasm}");
    assert!(wasm.contains("Content-Length: 8"), "{wasm}");
    for bad in ["/../secret.txt", "/%2e%2e/secret.txt", "/nothing.js"] {
        let r = get(&addr, bad);
        assert!(r.starts_with("HTTP/1.1 404"), "{bad}: {r}");
        assert!(
            !r.contains("secret\n") && !r.ends_with("secret"),
            "{bad}: {r}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_page_source_newer_than_the_build_is_pointed_out() {
    let root = tmp("serve-stale");
    let dist = root.join("dist");
    write_page(&dist);
    std::fs::create_dir_all(root.join("www")).unwrap();
    // An hour old: whatever the file system's timestamp resolution.
    std::fs::File::options()
        .write(true)
        .open(dist.join("index.html"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    std::fs::write(root.join("www/app.js"), "// edited after the build").unwrap();
    let (mut child, _) = start(&dist);
    child.kill().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(
        err.contains("app.js is newer than the built page") && err.contains("scripts/build-web.sh"),
        "{err}"
    );
}
