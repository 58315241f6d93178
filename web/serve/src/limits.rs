//! How many connections to serve at once: each takes a socket and, while
//! a file is sent, the file, so the open-file limit bounds them.

/// The most, whatever the limit: far more than a page's few requests.
const MOST: u64 = 1024;
/// Descriptors not for connections: stdio, the listener, the event loop's
/// own, and a connection being told 503.
const SPARE: u64 = 32;

/// The connection cap: [`MOST`], or fewer where the open-file limit (raised
/// first as far as allowed, as other servers do) cannot hold two each.
pub fn connection_cap() -> usize {
    let files = open_file_limit(2 * MOST + SPARE);
    (files.saturating_sub(SPARE) / 2).clamp(1, MOST) as usize
}

/// The soft open-file limit, raised toward `want` within the hard limit.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not u64 on every target
fn open_file_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        // Unknown: a failed accept is survived anyway.
        return want;
    }
    let current = lim.rlim_cur as u64;
    if current >= want {
        return current;
    }
    let raised = libc::rlimit {
        rlim_cur: (want as libc::rlim_t).min(lim.rlim_max),
        ..lim
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        raised.rlim_cur as u64
    } else {
        current
    }
}

/// Elsewhere sockets are not bounded by a per-process file limit.
#[cfg(not(unix))]
fn open_file_limit(want: u64) -> u64 {
    want
}
