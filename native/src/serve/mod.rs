//! `dnagpu serve`: serves the built browser page (`web/dist`, made by
//! `scripts/build-web.sh`) on localhost: GET and HEAD of static files, one
//! request per connection, with the headers the page needs: its Content
//! Security Policy (also for the worker, which a `<meta>` tag does not
//! reach), cross-origin isolation (COOP/COEP, for threaded WASM), and
//! `application/wasm` for the module.
//!
//! Hardened against hostile clients: one thread runs every connection as a
//! task (tokio, current-thread), so no spawn can fail; at most 1024 open at
//! once, fewer under a low open-file limit, and past that 503 at once
//! (`listen.rs`, `limits.rs`); the whole request head must arrive within
//! `--header-timeout` (10 s), a stalled reader is dropped after 30 s and
//! every response ends within 10 min (`http.rs`); only files whose
//! canonical path is inside the folder are served, so a symlink never
//! leads out of it (`files.rs`).

mod files;
mod http;
mod hub;
mod limits;
mod listen;
mod page;

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use page::{Root, BUILD};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; other machines reach the page only if this is not loopback.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The built page; default web/dist in the current folder, else the page built into this binary.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds a client has to send its whole request head; slower ones are closed.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Log every request to stderr.
    #[arg(long)]
    verbose: bool,
    /// Tests only: the hub the page downloads models from (a stand-in on
    /// loopback), in place of the page's own, in its policy and its page.
    #[arg(long, hide = true, value_name = "ORIGIN", value_parser = hub::parse_origin,
          requires = "hub_file_host")]
    hub_origin: Option<String>,
    /// Tests only: an origin the stand-in hub redirects file downloads to
    /// (repeatable); these replace the page's list of the hub's file hosts.
    #[arg(long, hide = true, value_name = "ORIGIN", value_parser = hub::parse_origin,
          requires = "hub_origin")]
    hub_file_host: Vec<String>,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let root = match &args.dir {
        Some(dir) => Root::Dir(dir.clone()),
        None => page::default_root().with_context(|| {
            format!(
                "no --dir given, no web/dist here, and this dnagpu was built without the browser page: \
                 in a dnagpu checkout, build the page with `{BUILD}` (needs the wasm32 target and wasm-bindgen-cli: \
                 scripts/setup.sh installs them), then serve it with `dnagpu serve --dir web/dist`, \
                 or reinstall (`cargo install --path native`) to build it into the binary"
            )
        })?,
    };
    let (shown, html, root) = match root {
        Root::BuiltIn => {
            let index = page::built_in_file("index.html").unwrap_or_default();
            let html = String::from_utf8_lossy(index).into_owned();
            ("the built-in page".to_string(), html, Root::BuiltIn)
        }
        Root::Dir(root) => {
            let index = root.join("index.html");
            if !index.is_file() {
                bail!(
                    "{}: the browser page is not built (no index.html); build it with `{BUILD}` (needs the wasm32 target and wasm-bindgen-cli: scripts/setup.sh installs them), then run `dnagpu serve` again",
                    root.display()
                );
            }
            if let Some(newer) = page::newer_source(&root) {
                eprintln!(
                    "warning: {} is newer than the built page in {}: run `{BUILD}` to include it",
                    newer.display(),
                    root.display()
                );
            }
            let html =
                std::fs::read_to_string(&index).with_context(|| index.display().to_string())?;
            let canonical = root
                .canonicalize()
                .with_context(|| root.display().to_string())?;
            (root.display().to_string(), html, Root::Dir(canonical))
        }
    };
    let mut csp = page::page_csp(&html)
        .with_context(|| format!("{shown}: index.html has no Content-Security-Policy meta tag; the page must declare its policy"))?;
    // A stand-in hub: the policy and the page change together, and the page
    // is then answered from memory.
    let mut index = None;
    if let Some(origin) = &args.hub_origin {
        let stand_in = hub::HubOverride {
            origin: origin.clone(),
            file_hosts: args.hub_file_host.clone(),
        };
        csp = hub::policy_with_hub(&csp, &stand_in).with_context(|| shown.clone())?;
        let page = hub::page_with_hub(&html, &csp, origin).with_context(|| shown.clone())?;
        eprintln!("the page downloads models from {origin} (a stand-in hub), policy: {csp}");
        // Served for the life of the process.
        index = Some(&*Box::leak(page.into_bytes().into_boxed_slice()));
    }
    let site = Arc::new(http::Site {
        root,
        index,
        csp,
        verbose: args.verbose,
        head_timeout: Duration::from_secs(args.header_timeout),
    });
    let cap = limits::connection_cap();
    // Resolved here, not by tokio, which would ask a blocking thread.
    let addrs: Vec<SocketAddr> = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the server's event loop")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addrs[..])
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        // The tests read this line for the port.
        println!("serving {shown} at http://{addr}/ (Ctrl-C to stop)");
        std::io::stdout().flush().ok();
        if args.verbose {
            eprintln!(
                "at most {cap} connections at once; request heads within {} s",
                args.header_timeout
            );
        }
        listen::serve(listener, site, cap).await;
        Ok(())
    })
}
