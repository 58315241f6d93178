//! Per-op wall time on the CPU backend, for `dnagpu bench embed --profile`.
//! The CPU twins run one after another on the calling thread (each spreads
//! its own work over rayon), and every op hands its result to
//! `Device::output_f32`; so the time since the previous output is the op's
//! time. Glue between ops (a reshape, a token upload) counts as the next
//! op's; an op with several outputs (layer norm: y, mean, rstd) shows each.

use std::collections::HashMap;
use std::sync::Mutex;
#[cfg(not(target_arch = "wasm32"))]
use std::time::{Duration, Instant};
// std's Instant panics on wasm32-unknown-unknown; web-time reads performance.now().
#[cfg(target_arch = "wasm32")]
use web_time::{Duration, Instant};

struct State {
    last: Instant,
    per_op: HashMap<&'static str, (u32, Duration)>,
}

static PROFILE: Mutex<Option<State>> = Mutex::new(None);

/// Starts timing (clearing earlier times) or stops it.
pub fn set_enabled(on: bool) {
    let mut p = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
    *p = on.then(|| State {
        last: Instant::now(),
        per_op: HashMap::new(),
    });
}

/// Charges the time since the previous output to `op` (nothing when off).
pub(crate) fn output(op: &'static str) {
    let mut p = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = p.as_mut() {
        let now = Instant::now();
        let e = s.per_op.entry(op).or_default();
        e.0 += 1;
        e.1 += now - s.last;
        s.last = now;
    }
}

/// (op, outputs, seconds), slowest first.
pub fn rows() -> Vec<(&'static str, u32, f64)> {
    let p = PROFILE.lock().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<_> = p
        .iter()
        .flat_map(|s| s.per_op.iter())
        .map(|(&op, &(n, d))| (op, n, d.as_secs_f64()))
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows
}
