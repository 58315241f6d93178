//! What a training run tells the person watching it (the CLI draws a bar).

/// How fast a run goes, in its own unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Throughput {
    /// Sequences per second (fine-tuning).
    Samples(f64),
    /// Tokens per second (pretraining).
    Tokens(f64),
}

pub trait RunProgress {
    /// The run has `total` steps, `done` of them before this process.
    fn start(&mut self, total: u64, done: u64);
    /// A step is done.
    fn step(&mut self, step: u64, loss: f64, rate: Throughput);
    /// A line worth reading (an evaluation, a warning, a note).
    fn note(&mut self, line: &str);
    fn finish(&mut self);
}

/// Says nothing: the data-parallel ranks other than 0.
pub struct Silent;

impl RunProgress for Silent {
    fn start(&mut self, _: u64, _: u64) {}
    fn step(&mut self, _: u64, _: f64, _: Throughput) {}
    fn note(&mut self, _: &str) {}
    fn finish(&mut self) {}
}
