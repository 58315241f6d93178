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

/// Half-precision activations (LoRA beside f16 weights): a block taken
/// from, and added into, f16 rows.
#[test]
fn columns_half_activations() {
    for dev in &crate::testing::half_devices() {
        for (seed, &(rows, width, start, block)) in
            [(1, 3, 0, 3), (7, 12, 4, 4), (300, 96, 64, 32), (5, 9, 8, 1)]
                .iter()
                .enumerate()
        {
            let mut rng = crate::testing::Rng::new(2000 + seed as u64);
            let x = (vec![rows, width], rng.vec(rows * width, 3.0));
            let v = (vec![rows, block], rng.vec(rows * block, 3.0));
            let what = format!("{rows}x{width} columns {start}+{block}");
            run(crate::testing::half::check_half_op(
                &format!("take_columns {what}"),
                dev,
                std::slice::from_ref(&x),
                |d, t| crate::ops::take_columns(d, &t[0], start, block),
            ));
            run(crate::testing::half::check_half_op(
                &format!("add_columns {what}"),
                dev,
                &[x, v],
                |d, t| crate::ops::add_columns(d, &t[0], &t[1], start),
            ));
        }
    }
}
