//! A `dnagpu` run in the background, for the tests that signal it: its
//! stderr read on a thread (so waits can time out instead of hanging), and
//! signals sent to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any wait lasts before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(180);

pub struct Running {
    child: Child,
    lines: Receiver<String>,
    /// Everything read from stderr so far.
    pub stderr: String,
}

impl Running {
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("dnagpu starts");
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: String::new(),
        }
    }

    /// Waits for a line of stderr that contains `what`.
    pub fn wait_for_line(&mut self, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push_str(&line);
                    self.stderr.push('\n');
                    if line.contains(what) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line with {what:?} in time; stderr:\n{}", self.stderr)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("dnagpu ended before a line with {what:?}:\n{}", self.stderr)
                }
            }
        }
    }

    /// Waits until `ready()` holds, polling.
    pub fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dnagpu ended ({status}) before {what}:\n{}", self.rest());
            }
            assert!(Instant::now() < deadline, "{what}: not in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's process id.
        let sent = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(sent, 0, "kill({signal})");
    }

    /// Waits for the exit: its code (`None`: ended by a signal) and all of
    /// stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("dnagpu did not exit in time:\n{}", self.rest());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let err = self.rest();
        (status.code(), err)
    }

    /// stderr so far, with what is left to read once the process ended.
    fn rest(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        self.stderr.clone()
    }
}

/// A test that fails mid-wait leaves no run behind.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
