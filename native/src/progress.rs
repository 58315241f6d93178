//! The progress bar long commands show on stderr (hidden when stderr is
//! not a terminal).

use dnagpu::train::progress::{RunProgress, Throughput};
use indicatif::{ProgressBar, ProgressStyle};

/// The embed / classify bar; where stderr is not a terminal (a workflow's
/// log), a line every [`LOG_EVERY`] instead.
pub struct Bar(ProgressBar, std::cell::Cell<bool>, Log);

/// How often a hidden bar writes its line.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What a hidden bar writes: its name, and when it last wrote.
struct Log {
    what: String,
    last: std::cell::Cell<std::time::Instant>,
}

impl Bar {
    pub fn new(total: u64, what: &str) -> Self {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} sequences, {msg} ({eta} left)",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        let log = Log {
            what: what.to_string(),
            last: std::cell::Cell::new(std::time::Instant::now()),
        };
        Self(bar, std::cell::Cell::new(false), log)
    }

    /// An embed or classify run's progress since `start`; the first time
    /// batches were split (out of GPU memory), a note says so, once.
    pub fn show(&self, p: &dnagpu::embed::Progress, start: std::time::Instant) {
        if let Some(notice) = p.split_notice().filter(|_| !self.1.replace(true)) {
            let line =
                format!("note: {notice}; a lower --batch-size or --max-tokens avoids the retries");
            if self.0.is_hidden() {
                eprintln!("{line}");
            } else {
                self.0.println(line);
            }
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        self.0.set_position(p.sequences as u64);
        let rate = format!(
            "{:.1} seq/s, {:.0} tokens/s",
            p.sequences as f64 / secs,
            p.tokens as f64 / secs
        );
        if self.0.is_hidden() && self.2.last.get().elapsed() >= LOG_EVERY {
            self.2.last.set(std::time::Instant::now());
            let total = p.total_sequences.max(1);
            let left =
                (total.saturating_sub(p.sequences)) as f64 * secs / p.sequences.max(1) as f64;
            eprintln!(
                "{}: {}/{} sequences ({:.1}%), {rate}, ~{} left",
                self.2.what,
                p.sequences,
                p.total_sequences,
                100.0 * p.sequences as f64 / total as f64,
                indicatif::HumanDuration(std::time::Duration::from_secs_f64(left))
            );
        }
        self.0.set_message(rate);
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The training progress bar: step, loss, tokens/s, validation, ETA.
pub struct TrainBar(ProgressBar);

impl TrainBar {
    pub fn new(steps: u64, done: u64) -> Self {
        let bar = ProgressBar::new(steps);
        bar.set_style(
            ProgressStyle::with_template("step {pos}/{len} [{bar:30}] {msg} ({eta} left)")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(done);
        Self(bar)
    }

    pub fn update(&self, step: u64, loss: f64, rate: Throughput) {
        self.0.set_position(step);
        self.0.set_message(match rate {
            Throughput::Tokens(r) => format!("loss {loss:.4}, {r:.0} tokens/s"),
            Throughput::Samples(r) => format!("loss {loss:.4}, {r:.1} samples/s"),
        });
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl TrainBar {
    /// A line above the bar (on stderr when there is no terminal).
    pub fn note(&self, line: &str) {
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.println(line);
        }
    }
}

/// A training run's progress on a bar, made once the run knows its steps.
pub struct BarProgress(Option<TrainBar>);

impl BarProgress {
    pub fn new() -> Self {
        Self(None)
    }
}

impl RunProgress for BarProgress {
    fn start(&mut self, total: u64, done: u64) {
        self.0 = Some(TrainBar::new(total, done));
    }

    fn step(&mut self, step: u64, loss: f64, rate: Throughput) {
        if let Some(b) = &self.0 {
            b.update(step, loss, rate);
        }
    }

    fn note(&mut self, line: &str) {
        match &self.0 {
            Some(b) => b.note(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = &self.0 {
            b.finish();
        }
    }
}
