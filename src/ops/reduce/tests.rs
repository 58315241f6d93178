//! The native tests of `ops::reduce`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run};
use crate::Device;

const HIDDEN: [usize; 5] = [1, 7, 128, 129, 768];

const ROWS: [usize; 6] = [1, 7, 63, 65, 255, 257];

fn sum_rows(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        for &cols in &HIDDEN {
            seed += 1;
            run(check_sum_rows(dev, rows, cols, seed));
        }
    }
    run(check_sum_rows(dev, 0, 5, 100));
    // Past lavapipe's 65,535 loop iterations if one invocation summed a column.
    run(check_sum_rows(dev, 70_000, 3, 101));
    run(check_sum_rows(dev, 65_793, 1, 102)); // 257 * 256 + 1: three passes
}

fn sum_squares(dev: &Device) {
    for (seed, shape) in [
        vec![0],
        vec![1],
        vec![7],
        vec![4095],
        vec![4097],
        vec![63, 65],
        vec![70_000, 3],
        vec![257, 4096, 1],
    ]
    .iter()
    .enumerate()
    {
        run(check_sum_squares(dev, shape, seed as u64));
    }
}

#[test]
fn cpu_sum_rows() {
    sum_rows(&Device::Cpu);
}

#[test]
fn cpu_sum_squares() {
    sum_squares(&Device::Cpu);
}

#[test]
fn gpu_sum_rows() {
    let Some(dev) = gpu() else { return };
    sum_rows(&dev);
}

#[test]
fn gpu_sum_squares() {
    let Some(dev) = gpu() else { return };
    sum_squares(&dev);
}
