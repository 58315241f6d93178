//! Embeds the built browser page (`web/dist`, made by
//! `scripts/build-web.sh`) in the binary when it exists at build time, so
//! that an installed `dnagpu serve` needs no checkout. Writes
//! `$OUT_DIR/page.rs`: a table of (path, bytes), empty when there is no
//! page. The page's copy of the shipped model is left out: `serve` answers
//! those paths from the model the CLI already embeds (native/src/shipped.rs,
//! passed to `run` as its extra files).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders of the page served from the CLI's own model (native/src/shipped.rs).
const SHIPPED: [&str; 2] = [
    "models/dnabert2-small-gue/",
    "models/dnabert2-small-gue-promoter-lora/",
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("..");
    let dist = web.join("dist");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        // A rebuilt, changed or removed page rebuilds the binary.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
        files.sort();
    } else if web.is_dir() {
        // No page yet: building it (web/dist appears) rebuilds the binary.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    let mut code = String::from(
        "/// The built page's files (path under web/dist, bytes), sorted by path.\n\
         pub static PAGE: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        if SHIPPED.iter().any(|s| rel.starts_with(s)) {
            continue;
        }
        writeln!(code, "    ({rel:?}, include_bytes!({:?})),", path.display()).unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("page.rs"), code).expect("writing page.rs");
}

/// Every regular file under `dir` as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            collect(root, &path, out);
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("under root");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let abs = path.canonicalize().unwrap_or(path);
            out.push((rel.join("/"), abs));
        }
    }
}
