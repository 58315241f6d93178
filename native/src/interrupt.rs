//! Signals during training: SIGINT (Ctrl-C), SIGTERM (`kill`, SLURM, `docker
//! stop`) and SIGHUP (a closed terminal). The first asks the run to save and
//! stop (the library checks a flag after every step); a second quits at
//! once. Either way the process then exits with 128 + the signal's number
//! (130, 143, 129), as shells report a process a signal ended, so that
//! `dnagpu pretrain && next` stops there and schedulers see the job
//! interrupted. Windows has Ctrl-C only.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use anyhow::Result;

pub struct Interrupt {
    stop: Arc<AtomicBool>,
    /// The first signal's number; 0 before any.
    signal: Arc<AtomicI32>,
}

impl Interrupt {
    /// Installs the handlers; `saving` is what the run does when asked to
    /// stop ("saving a checkpoint"), said as the first signal comes.
    pub fn install(saving: &'static str) -> Result<Self> {
        let me = Self {
            stop: Arc::default(),
            signal: Arc::default(),
        };
        let (stop, signal) = (me.stop.clone(), me.signal.clone());
        listen(move |number, name| {
            if signal
                .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // No eprintln!: after SIGHUP the terminal may be gone, and a
                // failed write must not stop the exit.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n{name} again: quitting at once, without saving"
                );
                std::process::exit(128 + number);
            }
            // Set after the number, so a stopped run always finds it.
            stop.store(true, Ordering::SeqCst);
            let _ = writeln!(
                std::io::stderr(),
                "\n{name}: {saving} after the current step, then stopping (a second signal quits at once)"
            );
        })?;
        Ok(me)
    }

    /// The flag the run checks after every step.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// 128 + the number of the signal that came, if one did.
    pub fn exit_code(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(128 + n),
        }
    }
}

/// Calls `on_signal(number, name)` for each signal, on a thread of its own
/// (so it may print and exit).
#[cfg(unix)]
fn listen(on_signal: impl Fn(i32, &str) + Send + 'static) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        for number in signals.forever() {
            let name = match number {
                SIGINT => "SIGINT (Ctrl-C)",
                n => signal_hook::low_level::signal_name(n).unwrap_or("a signal"),
            };
            on_signal(number, name);
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn listen(on_signal: impl Fn(i32, &str) + Send + 'static) -> Result<()> {
    // 2 is SIGINT's number: Ctrl-C exits 130 as on Unix.
    ctrlc::set_handler(move || on_signal(2, "Ctrl-C"))?;
    Ok(())
}
