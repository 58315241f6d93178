//! `dnagpu serve`: what it says without a built page, the headers the page
//! needs, that it never serves a file outside its folder (symlinks
//! included), and that hostile clients (a burst of connections, idle and
//! trickling ones, more than its cap) neither stop it nor hold it up.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{dnagpu, run, tmp};

const CSP: &str = "default-src 'self'; connect-src 'self' https://huggingface.co";

/// The whole response to a GET; a server that stalls fails the test.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
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
fn write_page(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        format!("<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"></head></html>"),
    )
    .unwrap();
}

/// A running `dnagpu serve` (stderr piped), ended when dropped, so a
/// failing test leaves no server behind.
struct Server(Child);

impl Server {
    /// Ends it; its stderr.
    fn stop(mut self) -> String {
        let _ = self.0.kill();
        let mut err = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }

    /// Its threads now (Linux): the old design spent one per connection.
    #[cfg(target_os = "linux")]
    fn threads(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dnagpu serve` on a free port for `dir`, once it listens, and its address.
fn start(dir: &Path) -> (Server, String) {
    start_with(dnagpu(), dir, &[])
}

/// As [`start`], for `dnagpu` (or a shell that execs it) with more arguments.
fn start_with(mut cmd: Command, dir: &Path, args: &[&str]) -> (Server, String) {
    let mut server = Server(
        cmd.args(["serve", "--port", "0", "--dir"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = common::served_address(&line);
    (server, addr)
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
    let (_server, addr) = start(&dir);

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
    let (server, _) = start(&dist);
    let err = server.stop();
    assert!(
        err.contains("app.js is newer than the built page") && err.contains("scripts/build-web.sh"),
        "{err}"
    );
}

/// `dnagpu serve` through a shell that first sets `ulimit {limits}`: the
/// limits of a small container or a hostile tester. Pass it to [`start_with`].
#[cfg(unix)]
fn limited(limits: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit {limits} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_dnagpu"))
        .env_remove("DNAGPU_BACKEND")
        .env("RUST_BACKTRACE", "0");
    c
}

/// Room for the tests' own ends of a thousand connections and more (the
/// default soft limit is often 1024); servers started later inherit it.
fn allow_open_files() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read or write only the struct given.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        lim.rlim_cur = lim.rlim_cur.max(lim.rlim_max.min(4096));
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert!(
            lim.rlim_cur >= 2048,
            "these tests need 2048 open files; the hard limit is {}",
            lim.rlim_max
        );
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_folder_are_not_followed() {
    use std::os::unix::fs::symlink;
    let root = tmp("serve-links");
    let dir = root.join("page");
    write_page(&dir);
    std::fs::write(root.join("secret.txt"), "secret").unwrap();
    symlink(root.join("secret.txt"), dir.join("leak.txt")).unwrap();
    symlink("/etc/passwd", dir.join("passwd")).unwrap();
    symlink(&root, dir.join("up")).unwrap();
    // Inside the folder a link is fine, and so is a linked folder to serve.
    symlink("index.html", dir.join("home.html")).unwrap();
    symlink(&dir, root.join("linked")).unwrap();
    let (_server, addr) = start(&root.join("linked"));

    for bad in ["/leak.txt", "/passwd", "/up/secret.txt", "/up/"] {
        let r = get(&addr, bad);
        assert!(r.starts_with("HTTP/1.1 404"), "{bad}: {r}");
        assert!(!r.contains("secret") && !r.contains("root:"), "{bad}: {r}");
    }
    let home = get(&addr, "/home.html");
    assert!(
        home.starts_with("HTTP/1.1 200") && home.contains("Content-Type: text/html"),
        "{home}"
    );
    assert!(get(&addr, "/up/page/index.html").starts_with("HTTP/1.1 200"));
}

/// A thousand connections at once, first idle, then each with a request:
/// all answered by one thread. (A thread each, as before, could not be
/// spawned past a few hundred under this address-space limit: the server
/// panicked and was gone.)
#[cfg(unix)]
#[test]
fn a_burst_of_a_thousand_connections_leaves_it_serving() {
    allow_open_files();
    let dir = tmp("serve-burst");
    write_page(&dir);
    // 1 GiB of address space: room for the server, not for 1,000 stacks.
    let (mut server, addr) = start_with(limited("-v 1048576"), &dir, &[]);

    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let r = get(&addr, "/");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    #[cfg(target_os = "linux")]
    assert!(server.threads() <= 4, "{} threads", server.threads());
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    for (i, mut c) in conns.into_iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = String::new();
        let read = c.read_to_string(&mut r);
        assert!(
            read.is_ok() && r.starts_with("HTTP/1.1 200"),
            "{i}: {read:?} {r}"
        );
    }
    assert!(get(&addr, "/").starts_with("HTTP/1.1 200"));
    assert!(server.0.try_wait().unwrap().is_none(), "the server ended");
}

/// Three hundred connections that never finish a request, half of them
/// trickling a byte at a time, hold up neither a normal request nor a
/// thread each.
#[test]
fn idle_and_trickling_connections_do_not_hold_up_a_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    allow_open_files();
    let dir = tmp("serve-idle");
    write_page(&dir);
    let (server, addr) = start(&dir);

    let connect = |_| TcpStream::connect(&addr).unwrap();
    let idle: Vec<TcpStream> = (0..150).map(connect).collect();
    let mut slow: Vec<TcpStream> = (0..150).map(connect).collect();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let trickle = {
        let done = done.clone();
        std::thread::spawn(move || {
            // Never the blank line that ends a head.
            let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n";
            for b in head.iter().cycle() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                for s in &mut slow {
                    s.write_all(&[*b]).unwrap();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            slow
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let r = get(&addr, "/");
    let took = t.elapsed();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    #[cfg(target_os = "linux")]
    assert!(server.threads() <= 4, "{} threads", server.threads());
    done.store(true, Ordering::Relaxed);
    drop((idle, trickle.join().unwrap(), server));
}

/// A client that trickles its request head (each byte well within any
/// per-read timeout) or sends nothing is closed at the head deadline.
#[test]
fn a_request_head_must_arrive_within_the_header_timeout() {
    let dir = tmp("serve-slowloris");
    write_page(&dir);
    let (_server, addr) = start_with(dnagpu(), &dir, &["--header-timeout", "1"]);
    assert!(get(&addr, "/").starts_with("HTTP/1.1 200"));

    let mut trickle = TcpStream::connect(&addr).unwrap();
    let idle = TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    let reader = trickle.try_clone().unwrap();
    let dripping = std::thread::spawn(move || {
        for b in b"GET / HTTP/1.1\r\nHost: x\r\n".iter().cycle().take(50) {
            if trickle.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    for mut s in [reader, idle] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let read = s.read_to_end(&mut got).map_err(|e| e.kind());
        let took = t.elapsed();
        // Closed: the end of the stream, or a reset for bytes sent after.
        assert!(
            matches!(read, Ok(0) | Err(std::io::ErrorKind::ConnectionReset)),
            "{read:?} after {took:?}"
        );
        assert!(
            took > Duration::from_millis(900) && took < Duration::from_secs(3),
            "closed after {took:?}"
        );
    }
    dripping.join().unwrap();
}

/// Past its cap (16 connections under 64 open files) the server answers 503
/// at once instead of failing to accept, and serves again when they close.
#[cfg(unix)]
#[test]
fn connections_past_the_cap_are_told_503() {
    let dir = tmp("serve-cap");
    write_page(&dir);
    let (server, addr) = start_with(limited("-n 64"), &dir, &[]);

    let held: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let mut last = held.last().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = String::new();
    last.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    drop(held);
    let again = (0..30)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            get(&addr, "/")
        })
        .find(|r| r.starts_with("HTTP/1.1 200"));
    assert!(again.is_some(), "no 200 after the crowd left");
    let err = server.stop();
    assert!(err.contains("connections busy"), "{err}");
}
