//! The built page: where it is, the policy it declares, and whether its
//! sources changed since it was built.

use std::path::{Path, PathBuf};

/// The script that builds the page, named in every message about it.
pub const BUILD: &str = "scripts/build-web.sh";

mod built_in {
    include!(concat!(env!("OUT_DIR"), "/page.rs"));
}

/// Files the binary holds besides the page (the CLI's shipped model and
/// adapter, which build.rs leaves out of the page), by path under the page.
pub type Extra = fn(&str) -> Option<&'static [u8]>;

/// Where the served files come from.
pub enum Root {
    /// A folder on disk (`--dir`, or web/dist in the current folder).
    Dir(PathBuf),
    /// The page built into the binary (web/dist when it was built), with
    /// the binary's other files it loads.
    BuiltIn(Extra),
}

/// What `serve` serves without `--dir`: web/dist in the current folder (a
/// checkout's fresh build), else the page built into the binary, if any.
pub fn default_root(extra: Extra) -> Option<Root> {
    let here = PathBuf::from("web/dist");
    if here.join("index.html").is_file() {
        Some(Root::Dir(here))
    } else if built_in_file("index.html", extra).is_some() {
        Some(Root::BuiltIn(extra))
    } else {
        None
    }
}

/// A file of the built-in page by its path (`a/b.js`, no leading `/`):
/// the page's own files, then `extra`'s.
pub fn built_in_file(path: &str, extra: Extra) -> Option<&'static [u8]> {
    built_in::PAGE
        .binary_search_by(|(p, _)| (*p).cmp(path))
        .ok()
        .map(|i| built_in::PAGE[i].1)
        .or_else(|| extra(path))
}

/// Whether `path` (no leading `/`) is a folder of the built-in page.
pub fn built_in_dir(path: &str) -> bool {
    let prefix = format!("{}/", path.trim_end_matches('/'));
    path.is_empty() || built_in::PAGE.iter().any(|(p, _)| p.starts_with(&prefix))
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
pub fn newer_source(dist: &Path) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
