//! The native tests of `ops::columns`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};

#[test]
fn column_blocks() {
    let Some(dev) = gpu() else { return };
    for (seed, &(rows, width, start, block)) in
        [(1, 3, 0, 3), (7, 12, 4, 4), (300, 96, 64, 32), (5, 9, 8, 1)]
            .iter()
            .enumerate()
    {
        run(check_columns(&dev, rows, width, start, block, seed as u64));
        run(check_columns(
            &crate::Device::Cpu,
            rows,
            width,
            start,
            block,
            seed as u64,
        ));
    }
}
