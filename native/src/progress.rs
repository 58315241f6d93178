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
