//! An installed `dnagpu` works from any folder: the binary copied out of
//! the build (what `cargo install --path native` leaves in `~/.cargo/bin`)
//! and run from `/` embeds and classifies with its defaults (the shipped
//! model and demo adapter, built in) giving the numbers the checkout's
//! model folders give, and serves the page built into it (or says how to
//! get one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{dnagpu, run, tmp};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The binary copied to `dir/bin`, run from `/` on the CPU backend.
fn installed(dir: &Path) -> impl Fn() -> Command {
    let bin = dir.join("bin/dnagpu");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_dnagpu"), &bin).unwrap();
    move || {
        let mut c = Command::new(&bin);
        c.current_dir("/")
            .env_remove("DNAGPU_BACKEND")
            .env("RUST_BACKTRACE", "0")
            .args(["--backend", "cpu"]);
        c
    }
}

#[test]
fn an_installed_binary_embeds_and_classifies_from_root_with_its_defaults() {
    let dir = tmp("install");
    let cmd = installed(&dir);
    let input = dir.join("in.fa");
    std::fs::copy(root().join("examples/sample.fa"), &input).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (input, model) = (s(&input), s(&root().join("models/dnabert2-small-gue")));
    let adapter = s(&root().join("models/dnabert2-small-gue-promoter-lora"));
    let (installed_npy, tree_npy) = (s(&dir.join("installed.npy")), s(&dir.join("tree.npy")));
    // The checkout's binary, from the checkout's model folders.
    let tree = |args: &[&str]| run(dnagpu().args(["--backend", "cpu"]).args(args));

    let (ok, _, err) = run(cmd().args(["embed", "--input", &input, "--output", &installed_npy]));
    assert!(ok, "{err}");
    assert!(err.contains("dnabert2-small-gue (shipped)"), "{err}");
    let (ok, _, err) = tree(&[
        "embed", "--model", &model, "--input", &input, "--output", &tree_npy,
    ]);
    assert!(ok, "{err}");
    let installed_npy = std::fs::read(installed_npy).unwrap();
    assert!(installed_npy.len() > 1000);
    assert_eq!(
        installed_npy,
        std::fs::read(tree_npy).unwrap(),
        "the built-in model embeds as models/dnabert2-small-gue does"
    );

    let (ok, from_root, err) = run(cmd().args(["classify", "--input", &input]));
    assert!(ok, "{err}");
    assert!(err.contains("demo adapter"), "{err}");
    let (ok, from_tree, err) = tree(&[
        "classify",
        "--model",
        &model,
        "--adapter",
        &adapter,
        "--input",
        &input,
    ]);
    assert!(ok, "{err}");
    assert!(
        from_root.starts_with("id,prediction,prob_0,prob_1\n"),
        "{from_root}"
    );
    assert_eq!(from_root, from_tree);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One GET: (status line, body).
fn get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    (
        head.lines().next().unwrap_or("").to_string(),
        out[end + 4..].to_vec(),
    )
}

#[test]
fn an_installed_binary_serves_its_built_in_page_or_says_how_to_get_one() {
    let dir = tmp("install-serve");
    let cmd = installed(&dir);
    let dist = root().join("web/dist");
    if !dist.join("index.html").is_file() {
        // Built without a page (web/dist is made by scripts/build-web.sh).
        let (ok, _, err) = run(cmd().args(["serve", "--port", "0"]));
        assert!(!ok);
        assert!(err.contains("scripts/build-web.sh"), "{err}");
        assert!(err.contains("cargo install --path native"), "{err}");
        eprintln!("no web/dist at build time: checked the message only");
        return;
    }
    let mut child = cmd()
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = common::served_address(&line);
    let checks = [
        ("/", dist.join("index.html")),
        (
            "/pkg/dnagpu_web_bg.wasm",
            dist.join("pkg/dnagpu_web_bg.wasm"),
        ),
        (
            "/models/dnabert2-small-gue/model.safetensors",
            root().join("models/dnabert2-small-gue/model.safetensors"),
        ),
        (
            "/models/dnabert2-small-gue-promoter-lora/adapter_config.json",
            root().join("models/dnabert2-small-gue-promoter-lora/adapter_config.json"),
        ),
    ];
    let mut problems = Vec::new();
    for (path, want) in checks {
        let (status, body) = get(&addr, path);
        if status != "HTTP/1.1 200 OK" || body != std::fs::read(&want).unwrap() {
            problems.push(format!("{path}: {status}, {} bytes", body.len()));
        }
    }
    for path in ["/nothing.js", "/../Cargo.toml", "/%2e%2e/Cargo.toml"] {
        let (status, _) = get(&addr, path);
        if status != "HTTP/1.1 404 Not Found" {
            problems.push(format!("{path}: {status}"));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(line.contains("the built-in page"), "{line}");
    assert!(problems.is_empty(), "{problems:?}");
}
