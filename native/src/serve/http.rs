//! One connection: a request head read within the head deadline, one
//! response with the file streamed in chunks, then `Connection: close` (a
//! page on localhost loses nothing by it, and every response stands alone).

use std::io::{self, Read};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::files::{self, Body, Found};
use super::page::Root;

/// What every connection shares.
pub struct Site {
    /// The served folder, canonical (what [`files::find`] confines to), or
    /// the built-in page.
    pub root: Root,
    /// The page (`/`, `/index.html`) when `serve` rewrote it (a stand-in hub).
    pub index: Option<&'static [u8]>,
    pub csp: String,
    pub verbose: bool,
    /// The whole request head must arrive within this, however it trickles
    /// in: a deadline per read would let one byte a minute hold a connection.
    pub head_timeout: Duration,
}

/// A client that takes no part of the response for this long is dropped...
const STALL: Duration = Duration::from_secs(30);
/// ...and every response ends within this: the largest shipped file (13 MB)
/// needs under 200 kbit/s to make it.
const WHOLE: Duration = Duration::from_secs(600);
/// A longer request head is not a request for a static file.
const MAX_HEAD: usize = 64 * 1024;
const CHUNK: usize = 64 * 1024;
pub const TEXT: &str = "text/plain; charset=utf-8";

pub async fn answer(mut stream: TcpStream, site: &Site) {
    let (method, url) = match timeout(site.head_timeout, read_head(&mut stream)).await {
        Ok(Some(head)) => head,
        // Closed before a whole head, or too long a head.
        Ok(None) => return,
        Err(_) => {
            if site.verbose {
                eprintln!("no request within {:?}: closed", site.head_timeout);
            }
            return;
        }
    };
    let rewritten = site
        .index
        .filter(|_| matches!(url.split(['?', '#']).next(), Some("/" | "/index.html")))
        .map(|page| Found {
            body: Body::Bytes(page),
            kind: "text/html; charset=utf-8",
        });
    let file = rewritten
        .or_else(|| files::find(&site.root, &url))
        .and_then(|found| {
            let content = match found.body {
                Body::File(path) => {
                    let f = std::fs::File::open(&path).ok()?;
                    let len = f.metadata().ok()?.len();
                    Content::File(f, len)
                }
                Body::Bytes(bytes) => Content::Bytes(bytes),
            };
            Some((found.kind, content))
        });
    let (status, kind, body) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", TEXT, None)
    } else if let Some((kind, content)) = file {
        ("200 OK", kind, Some(content))
    } else {
        ("404 Not Found", TEXT, None)
    };
    let head = head(
        status,
        kind,
        body.as_ref().map_or(0, Content::len),
        &site.csp,
    );
    let body = body.filter(|_| method == "GET");
    let sent = timeout(WHOLE, send(&mut stream, &head, body))
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "too slow a client")));
    let _ = stream.shutdown().await;
    if !status.starts_with("200") || site.verbose || sent.is_err() {
        // A client that went away is not the server's problem: noted only.
        match sent {
            Ok(()) => eprintln!("{method} {url}: {status}"),
            Err(e) => eprintln!("{method} {url}: {status} (not sent: {e})"),
        }
    }
}

/// The response head; every response carries the page's policy and the
/// isolation headers, since the worker and the wasm module need them too.
pub fn head(status: &str, kind: &str, len: u64, csp: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\n\
         Content-Security-Policy: {csp}\r\nCross-Origin-Opener-Policy: same-origin\r\n\
         Cross-Origin-Embedder-Policy: require-corp\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )
}

/// Reads a request head (up to the blank line): (method, target).
async fn read_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        // Only the new bytes (and the 3 before) can complete the blank line:
        // rescanning the whole head per byte would let a trickle burn CPU.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut first = text.lines().next()?.split_whitespace();
    Some((first.next()?.to_string(), first.next()?.to_string()))
}

/// A response's body: an open file and its length then, or built-in bytes.
enum Content {
    File(std::fs::File, u64),
    Bytes(&'static [u8]),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::File(_, len) => *len,
            Content::Bytes(b) => b.len() as u64,
        }
    }
}

/// Sends the head, then the body (a file: the `len` bytes it held when opened).
async fn send(stream: &mut TcpStream, head: &str, body: Option<Content>) -> io::Result<()> {
    write(stream, head.as_bytes()).await?;
    let (file, len) = match body {
        None => return Ok(()),
        Some(Content::Bytes(bytes)) => {
            for chunk in bytes.chunks(CHUNK) {
                write(stream, chunk).await?;
            }
            return Ok(());
        }
        Some(Content::File(file, len)) => (file, len),
    };
    // Plain reads on the event loop: a chunk of a local file takes
    // microseconds, and tokio::fs would need blocking threads, whose spawn
    // a process limit can refuse.
    let mut file = file.take(len);
    let mut buf = vec![0; len.min(CHUNK as u64) as usize];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => write(stream, &buf[..n]).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    timeout(STALL, stream.write_all(bytes))
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))
        })
}
