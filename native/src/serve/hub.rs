//! The model hub the page downloads from and the hosts the hub's file
//! redirects lead to. The page's own policy (`index.html`, its
//! `connect-src`) is the one list of them; `serve` sends that policy as its
//! header. For tests only, `--hub-origin` and `--hub-file-host` put a
//! stand-in hub on loopback in their place, in the header and in the page
//! alike, so the two still agree.

use anyhow::{bail, Result};

/// A stand-in for the hub: its origin and the origins its redirects lead to.
pub struct HubOverride {
    pub origin: String,
    pub file_hosts: Vec<String>,
}

/// An origin from the command line (`http[s]://host[:port]`), refused if it
/// holds anything more: it is written into a policy and into the page.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("{text}: an origin starts with http:// or https://"))?;
    let (host, port) = rest.split_once(':').unwrap_or((rest, ""));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0);
    if !host_ok || !port_ok || rest.ends_with(':') {
        return Err(format!(
            "{text}: not an origin (scheme://host[:port], no path)"
        ));
    }
    Ok(text.to_string())
}

/// `csp` with its `connect-src` made `'self'`, the stand-in hub and its file hosts.
pub fn policy_with_hub(csp: &str, hub: &HubOverride) -> Result<String> {
    let mut found = false;
    let directives: Vec<String> = csp
        .split(';')
        .map(|d| {
            let d = d.trim();
            if d.split_whitespace().next() == Some("connect-src") {
                found = true;
                let mut sources = vec!["connect-src", "'self'", hub.origin.as_str()];
                sources.extend(hub.file_hosts.iter().map(String::as_str));
                sources.join(" ")
            } else {
                d.to_string()
            }
        })
        .collect();
    if !found {
        bail!("the page's policy has no connect-src to put the hub in");
    }
    Ok(directives.join("; "))
}

/// The page with its policy tag's content set to `csp` and its `dnagpu-hub`
/// tag (where the page's scripts read the hub from) set to `origin`.
pub fn page_with_hub(html: &str, csp: &str, origin: &str) -> Result<String> {
    let html = replace_meta_content(html, "http-equiv=\"Content-Security-Policy\"", csp)?;
    replace_meta_content(&html, "name=\"dnagpu-hub\"", origin)
}

/// The byte range of the `content` value of the first `<meta>` with `marker`.
fn meta_content(html: &str, marker: &str) -> Option<(usize, usize)> {
    let at = html.find(marker)?;
    let tag_end = at + html[at..].find('>')?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_end];
    let c = tag_start + tag.find("content=\"")? + "content=\"".len();
    let end = c + html[c..tag_end].find('"')?;
    Some((c, end))
}

fn replace_meta_content(html: &str, marker: &str, value: &str) -> Result<String> {
    let Some((start, end)) = meta_content(html, marker) else {
        bail!("the page has no <meta {marker} content=\"...\"> tag");
    };
    Ok(format!("{}{value}{}", &html[..start], &html[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's own policy, as it ships.
    const PAGE: &str = include_str!("../../../web/www/index.html");

    /// The hub origin the page names (`<meta name="dnagpu-hub" content="...">`).
    fn page_hub(html: &str) -> Option<&str> {
        let (start, end) = meta_content(html, "name=\"dnagpu-hub\"")?;
        Some(&html[start..end])
    }

    #[test]
    fn the_page_admits_its_hub_and_exactly_the_hubs_file_hosts() {
        let csp = super::super::page::page_csp(PAGE).expect("the page has a policy");
        let connect: Vec<&str> = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("connect-src "))
            .expect("a connect-src")
            .split_whitespace()
            .skip(1)
            .collect();
        let hub = page_hub(PAGE).expect("the page names its hub");
        assert_eq!(hub, "https://huggingface.co");
        // The hosts docs/design.md lists with its sources; nothing wider (no wildcard).
        assert_eq!(
            connect,
            [
                "'self'",
                hub,
                "https://us.aws.cdn.hf.co",
                "https://us.gcp.cdn.hf.co",
                "https://cdn-lfs-us-1.hf.co",
                "https://cdn-lfs-eu-1.hf.co",
            ]
        );
    }

    #[test]
    fn a_stand_in_hub_replaces_the_hosts_in_policy_and_page() {
        let hub = HubOverride {
            origin: "http://127.0.0.1:4000".into(),
            file_hosts: vec!["http://127.0.0.1:4001".into()],
        };
        let csp = super::super::page::page_csp(PAGE).unwrap();
        let policy = policy_with_hub(&csp, &hub).unwrap();
        assert!(
            policy.contains("; connect-src 'self' http://127.0.0.1:4000 http://127.0.0.1:4001; ")
        );
        assert!(!policy.contains("huggingface.co") && !policy.contains("hf.co"));
        assert!(policy.starts_with("default-src 'self'; script-src"));
        let page = page_with_hub(PAGE, &policy, &hub.origin).unwrap();
        assert_eq!(
            super::super::page::page_csp(&page).as_deref(),
            Some(policy.as_str())
        );
        assert_eq!(page_hub(&page), Some("http://127.0.0.1:4000"));
        assert!(policy_with_hub("default-src 'self'", &hub).is_err());
        assert!(page_with_hub("<html></html>", &policy, &hub.origin).is_err());
    }

    #[test]
    fn origins_hold_nothing_more() {
        for good in [
            "http://127.0.0.1:4000",
            "https://hub.example",
            "http://localhost:1",
        ] {
            assert_eq!(parse_origin(good).as_deref(), Ok(good));
        }
        for bad in [
            "127.0.0.1:4000",
            "http://",
            "http://a/b",
            "http://a:",
            "http://a:0",
            "http://a:99999",
            "http://a; script-src *",
            "http://a\" onload=\"x",
            "ftp://a",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
