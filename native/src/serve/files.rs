//! Which file a request names, confined to the served folder (or the
//! page built into the binary), and its type.

use std::path::{Component, Path, PathBuf};

use super::page::{self, Root};

/// A file to send: where its bytes are and its `Content-Type`.
pub struct Found {
    pub body: Body,
    pub kind: &'static str,
}

pub enum Body {
    /// Where the file really is (canonical).
    File(PathBuf),
    /// A file of the built-in page.
    Bytes(&'static [u8]),
}

/// The file `url` names under `root`, if it is one: for a folder, a file
/// whose canonical path is under it (a symlink may point anywhere inside the
/// folder, never out of it); for the built-in page, one of its files.
pub fn find(root: &Root, url: &str) -> Option<Found> {
    match root {
        Root::Dir(dir) => find_in(dir, url),
        Root::BuiltIn => {
            let rel = relative(url)?;
            let mut parts: Vec<String> = rel
                .components()
                .filter_map(|c| match c {
                    Component::Normal(p) => Some(p.to_str()?.to_owned()),
                    _ => None,
                })
                .collect();
            if page::built_in_dir(&parts.join("/")) {
                parts.push("index.html".to_owned());
            }
            let name = parts.join("/");
            let bytes = page::built_in_file(&name)?;
            Some(Found {
                body: Body::Bytes(bytes),
                kind: mime(Path::new(&name)),
            })
        }
    }
}

/// [`find`] in a folder (a canonical path).
fn find_in(root: &Path, url: &str) -> Option<Found> {
    let named = resolve(root, url)?;
    let path = named.canonicalize().ok()?;
    (path.starts_with(root) && path.is_file()).then(|| Found {
        // The type of the name asked for: a link keeps its own extension.
        kind: mime(&named),
        body: Body::File(path),
    })
}

/// The relative path `url` names (percent-decoded, query and fragment
/// dropped), or `None` for one that would leave the root by its own
/// components (`..`, absolute).
fn relative(url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let rel = PathBuf::from(decoded.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    Some(rel)
}

/// The path under `root` that `url` names (`/` = index.html), or `None`
/// for one that would leave `root` by its own components (`..`, absolute).
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let mut p = root.join(relative(url)?);
    if p.is_dir() {
        p = p.join("index.html");
    }
    Some(p)
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "webmanifest" => "application/manifest+json",
        "png" => "image/png",
        "csv" | "fa" | "fasta" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
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
}
