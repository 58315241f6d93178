//! The progress bar long commands show on stderr (hidden when stderr is
//! not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(ProgressBar);

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
        Self(bar)
    }

    /// Sequences done and tokens done since `start`.
    pub fn update(&self, sequences: u64, tokens: usize, start: std::time::Instant) {
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        self.0.set_position(sequences);
        self.0.set_message(format!(
            "{:.1} seq/s, {:.0} tokens/s",
            sequences as f64 / secs,
            tokens as f64 / secs
        ));
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

    pub fn update(
        &self,
        step: u64,
        loss: f64,
        tokens_per_s: f64,
        val: Option<dnagpu::train::trainer::EvalStats>,
    ) {
        self.0.set_position(step);
        let mut msg = format!("loss {loss:.4}, {tokens_per_s:.0} tokens/s");
        if let Some(v) = val {
            msg.push_str(&format!(
                ", val loss {:.4} acc {:.1}%",
                v.loss,
                100.0 * v.accuracy
            ));
            self.note(&format!("step {step}: {msg}"));
        }
        self.0.set_message(msg);
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

    /// Fine-tuning progress: step, loss, samples/s.
    pub fn update_fine(&self, step: u64, loss: f64, samples_per_s: f64) {
        self.0.set_position(step);
        self.0
            .set_message(format!("loss {loss:.4}, {samples_per_s:.1} samples/s"));
    }
}
