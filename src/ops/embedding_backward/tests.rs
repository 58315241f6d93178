//! The native tests of `ops::embedding_backward`: its checks (check.rs) on the CPU backend
//! and on the GPU (lavapipe in CI; `DNAGPU_REQUIRE_GPU=1` fails rather than
//! skips without one).

use super::check::*;
use crate::testing::{gpu, run, Rng};
use crate::Device;

#[test]
fn embedding_backward_reference_matches_central_differences() {
    fd_check_embedding_backward(&[2, 0, 2, 2, 4], 6, 3, 1).unwrap();
    fd_check_embedding_backward(&[0], 1, 1, 2).unwrap();
}

fn embedding_backward(dev: &Device) {
    let mut rng = Rng::new(5);
    let mut ids = |n: usize, rows: u32| -> Vec<u32> { (0..n).map(|_| rng.below(rows)).collect() };
    // Many repeats (few rows), many unused rows (n << rows), and in between.
    let cases = [
        (ids(1, 1), 1, 1),
        (ids(7, 3), 3, 7),
        (ids(257, 5), 5, 768),
        (ids(63, 1000), 1000, 129),
        (ids(255, 64), 64, 128),
        (ids(65, 4096), 4096, 7),
    ];
    for (seed, (ids, rows, hidden)) in cases.iter().enumerate() {
        run(check_embedding_backward(
            dev,
            ids,
            *rows,
            *hidden,
            seed as u64,
        ));
    }
    // Rows 0 and 3 unused; row 1 read at the most positions one index allows.
    let mut ids = vec![1u32; 65_535];
    ids.extend([2, 4, 2]);
    run(check_embedding_backward(dev, &ids, 5, 3, 20));
    run(check_embedding_backward_errors(dev));
}

#[test]
fn cpu_embedding_backward() {
    embedding_backward(&Device::Cpu);
}

#[test]
fn gpu_embedding_backward() {
    let Some(dev) = gpu() else { return };
    embedding_backward(&dev);
}
