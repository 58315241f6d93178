//! A training batch that runs out of GPU memory runs again as smaller
//! micro-batches, halves down to one sequence, its gradients summed: each
//! micro-batch's loss is already scaled by the whole step's count, so the
//! sum is the whole batch's gradient (within f32 rounding; with dropout on,
//! each micro-batch draws its own masks).

use std::ops::Range;

use crate::error::{Error, Result};
use crate::rng::derive_seed;
use crate::{ops, Device, Tensor};

/// What to do when a step does not fit, and when one sequence does not.
const FIX_STEP: &str =
    "lower --batch-size or --max-length, or train on the CPU backend (--backend cpu)";
const FIX_ONE: &str = "lower --max-length, or train on the CPU backend (--backend cpu)";

/// What the micro-batches of a step have given so far.
#[derive(Default)]
pub(crate) struct Accumulated {
    /// Each micro-batch's per-row losses.
    pub loss_rows: Vec<Tensor>,
    /// The summed gradients (none before the first micro-batch).
    pub grads: Option<Vec<Tensor>>,
}

impl Accumulated {
    fn add(&mut self, dev: &Device, rows: Tensor, grads: Vec<Tensor>) -> Result<()> {
        self.loss_rows.push(rows);
        self.grads = Some(match self.grads.take() {
            None => grads,
            Some(acc) => acc
                .iter()
                .zip(&grads)
                .map(|(a, g)| ops::add(dev, a, g))
                .collect::<Result<_>>()?,
        });
        Ok(())
    }
}

/// Runs `pass` over rows `0..rows` of a batch and adds its loss rows and
/// gradients to `acc`; when the GPU runs out of memory, over the two
/// halves instead, and so on down to one row, which then fails saying
/// what to do. `pass(range, part)` gets `part` 0 for the whole batch, else a
/// number unique within it (for dropout seeds); it returns `None` for a
/// range with nothing to learn from (no labelled token).
pub(crate) fn accumulate(
    dev: &Device,
    step: u64,
    rows: usize,
    acc: &mut Accumulated,
    mut pass: impl FnMut(Range<usize>, u64) -> Result<Option<(Tensor, Vec<Tensor>)>>,
) -> Result<()> {
    // A stack, next on top; parts are numbered as a binary heap (whole = 1).
    let mut pending = vec![(0..rows, 1u64)];
    while let Some((range, part)) = pending.pop() {
        // Only this range's commands are dropped if it fails.
        dev.flush()?;
        match pass(range.clone(), part - 1) {
            Ok(Some((loss_rows, grads))) => acc.add(dev, loss_rows, grads)?,
            Ok(None) => {}
            Err(e) if e.is_out_of_memory() && range.len() > 1 => {
                dev.recover();
                let mid = range.start + range.len() / 2;
                pending.push((mid..range.end, 2 * part + 1));
                pending.push((range.start..mid, 2 * part));
            }
            Err(e) if e.is_out_of_memory() => {
                dev.recover();
                return Err(Error::Invalid(format!(
                    "step {step}: one sequence of the batch does not fit on the GPU even alone ({e}): {FIX_ONE}"
                )));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The dropout seed of micro-batch `part` of a batch seeded `seed` (the
/// whole batch keeps it, so a run that never splits is unchanged).
pub(crate) fn part_seed(seed: u64, part: u64) -> u64 {
    match part {
        0 => seed,
        p => derive_seed(seed, 10, p),
    }
}

/// An error of step `step` after its micro-batches: out of GPU memory
/// there (the optimizer's state, or what the browser reports only at the
/// step's readback) no split helps, so it says what does.
pub(crate) fn step_error(e: Error, step: u64) -> Error {
    if e.is_out_of_memory() {
        Error::Invalid(format!("step {step}: {e}: {FIX_STEP}"))
    } else {
        Error::Invalid(format!("step {step}: {e}"))
    }
}
