//! `dnagpu serve`: serves the built browser page (`web/dist`, made by
//! `scripts/build-web.sh`) on localhost (a few lines of std HTTP/1.1: GET
//! and HEAD of static files), with the headers the page needs:
//! its Content Security Policy (also for the worker, which a `<meta>` tag
//! does not reach), cross-origin isolation (COOP/COEP, for threaded WASM),
//! and `application/wasm` for the module.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; other machines reach the page only if this is not loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The built page; default web/dist in the current folder, else in the dnagpu checkout.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Log every request to stderr.
    #[arg(long)]
    verbose: bool,
}

const BUILD: &str = "scripts/build-web.sh";

fn default_dir() -> PathBuf {
    let here = PathBuf::from("web/dist");
    if here.join("index.html").is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist")
}

/// The policy of the page's `<meta http-equiv="Content-Security-Policy">`,
/// so the header and the tag can never disagree.
pub fn page_csp(index_html: &str) -> Option<String> {
    let at = index_html.find("http-equiv=\"Content-Security-Policy\"")?;
    let tag_end = at + index_html[at..].find('>')?;
    let tag = &index_html[..tag_end];
    let tag_start = tag.rfind('<')?;
    let tag = &tag[tag_start..];
    let c = tag.find("content=\"")? + "content=\"".len();
    let end = c + tag[c..].find('"')?;
    Some(tag[c..end].to_string())
}

/// A page source file (web/www beside web/dist, in a checkout) changed
/// after the page was built, if any: serving a stale build is confusing.
fn newer_source(dist: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(dist.join("index.html"))
        .ok()?
        .modified()
        .ok()?;
    let www = dist.parent()?.join("www");
    std::fs::read_dir(www)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .find(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > built)
        })
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "csv" | "fa" | "fasta" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `root` that `url` names (`/` = index.html), or `None`
/// for anything that would leave `root`.
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let mut p = root.join(rel);
    if p.is_dir() {
        p = p.join("index.html");
    }
    Some(p)
}

/// Reads a request head (up to the blank line): (method, target).
fn read_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut first = text.lines().next()?.split_whitespace();
    Some((first.next()?.to_string(), first.next()?.to_string()))
}

/// Answers one connection: one request, then `Connection: close` (a page
/// on localhost loses nothing by it, and every response stands alone).
fn serve_one(mut stream: TcpStream, root: &Path, csp: &str, verbose: bool) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Some((method, url)) = read_head(&mut stream) else {
        return;
    };
    let file = resolve(root, &url)
        .filter(|p| p.is_file())
        .and_then(|p| std::fs::File::open(&p).ok().map(|f| (f, p)));
    let (status, kind, body): (&str, &str, Option<(std::fs::File, u64)>) =
        if method != "GET" && method != "HEAD" {
            ("405 Method Not Allowed", "text/plain; charset=utf-8", None)
        } else if let Some((f, p)) = file {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            ("200 OK", mime(&p), Some((f, len)))
        } else {
            ("404 Not Found", "text/plain; charset=utf-8", None)
        };
    let len = body.as_ref().map_or(0, |b| b.1);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\n\
         Content-Security-Policy: {csp}\r\nCross-Origin-Opener-Policy: same-origin\r\n\
         Cross-Origin-Embedder-Policy: require-corp\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    );
    let mut sent = stream.write_all(head.as_bytes());
    if let (Ok(()), Some((mut f, _)), true) = (&sent, body, method == "GET") {
        sent = std::io::copy(&mut f, &mut stream).map(|_| ());
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if !status.starts_with("200") || verbose || sent.is_err() {
        // A client that went away is not the server's problem: noted only.
        match sent {
            Ok(()) => eprintln!("{method} {url}: {status}"),
            Err(e) => eprintln!("{method} {url}: {status} (not sent: {e})"),
        }
    }
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let root = args.dir.clone().unwrap_or_else(default_dir);
    let index = root.join("index.html");
    if !index.is_file() {
        bail!(
            "{}: the browser page is not built (no index.html); build it with `{BUILD}` (needs the wasm32 target and wasm-bindgen-cli: scripts/setup.sh installs them), then run `dnagpu serve` again",
            root.display()
        );
    }
    if let Some(newer) = newer_source(&root) {
        eprintln!(
            "warning: {} is newer than the built page in {}: run `{BUILD}` to include it",
            newer.display(),
            root.display()
        );
    }
    let html = std::fs::read_to_string(&index).with_context(|| index.display().to_string())?;
    let csp = page_csp(&html).with_context(|| {
        format!(
            "{}: no Content-Security-Policy meta tag; the page must declare its policy",
            index.display()
        )
    })?;
    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    // The tests read this line for the port.
    println!(
        "serving {} at http://{addr}/ (Ctrl-C to stop)",
        root.display()
    );
    std::io::stdout().flush().ok();
    let csp: std::sync::Arc<str> = csp.into();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // One thread per connection: a client that stops reading (a
        // cancelled download, a busy tab) must not hold up the others.
        let (root, csp, verbose) = (root.clone(), csp.clone(), args.verbose);
        std::thread::spawn(move || serve_one(stream, &root, &csp, verbose));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv/page");
        assert_eq!(resolve(root, "/app.js?v=1"), Some(root.join("app.js")));
        assert_eq!(
            resolve(root, "/models/a%20b/config.json"),
            Some(root.join("models/a b/config.json"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%zz",
            "//etc/passwd",
        ] {
            let r = resolve(root, bad);
            assert!(
                r.is_none() || r.as_ref().unwrap().starts_with(root),
                "{bad}: {r:?}"
            );
        }
        assert_eq!(resolve(root, "/%2e%2e/x"), None);
    }

    #[test]
    fn the_header_policy_is_the_page_policy() {
        let html = r#"<head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'self'; connect-src 'self' https://huggingface.co"></head>"#;
        assert_eq!(
            page_csp(html).as_deref(),
            Some("default-src 'self'; connect-src 'self' https://huggingface.co")
        );
        assert_eq!(page_csp("<html></html>"), None);
    }
}
