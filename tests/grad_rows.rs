//! Row-wise backward ops and the loss (layer norm backward, column sums, sum
//! of squares, embedding backward, fused cross-entropy): the f64 references
//! against central differences of f64 forwards, then the CPU backend and the
//! GPU (lavapipe in CI) against those references, at sizes off the 256-wide
//! workgroups and chunks.

mod common;

use common::{gpu, run};
use dnagpu::testing::Rng;
use dnagpu::Device;

const ROWS: [usize; 6] = [1, 7, 63, 65, 255, 257];
const HIDDEN: [usize; 5] = [1, 7, 128, 129, 768];

// ---------------------------------------------------------------- references vs finite differences

#[test]
fn layer_norm_backward_reference_matches_central_differences() {
    for (seed, &(rows, hidden)) in [(1, 1), (1, 2), (3, 7), (2, 16), (4, 33)]
        .iter()
        .enumerate()
    {
        for residual in [false, true] {
            dnagpu::ops::layer_norm_backward::check::fd_check_layer_norm_backward(
                rows,
                hidden,
                residual,
                seed as u64,
            )
            .unwrap();
        }
    }
}

#[test]
fn cross_entropy_reference_matches_central_differences() {
    for (seed, &(rows, vocab, scale)) in
        [(1, 1, 1.0), (3, 5, 0.25), (2, 17, 1.0 / 3.0), (4, 64, 2.0)]
            .iter()
            .enumerate()
    {
        dnagpu::ops::cross_entropy::check::fd_check_cross_entropy(rows, vocab, scale, seed as u64)
            .unwrap();
    }
}

#[test]
fn embedding_backward_reference_matches_central_differences() {
    dnagpu::ops::embedding_backward::check::fd_check_embedding_backward(&[2, 0, 2, 2, 4], 6, 3, 1)
        .unwrap();
    dnagpu::ops::embedding_backward::check::fd_check_embedding_backward(&[0], 1, 1, 2).unwrap();
}

// ---------------------------------------------------------------- op bodies, one per device

fn layer_norm_backward(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        for &hidden in &HIDDEN {
            seed += 1;
            run(
                dnagpu::ops::layer_norm_backward::check::check_layer_norm_backward(
                    dev,
                    rows,
                    hidden,
                    seed % 2 == 0,
                    seed,
                ),
            );
        }
    }
    // More than one chunk of 256 rows for the weight and bias gradients.
    run(
        dnagpu::ops::layer_norm_backward::check::check_layer_norm_backward(dev, 1000, 65, true, 99),
    );
}

fn sum_rows(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        for &cols in &HIDDEN {
            seed += 1;
            run(dnagpu::ops::reduce::check::check_sum_rows(
                dev, rows, cols, seed,
            ));
        }
    }
    run(dnagpu::ops::reduce::check::check_sum_rows(dev, 0, 5, 100));
    // Past lavapipe's 65,535 loop iterations if one invocation summed a column.
    run(dnagpu::ops::reduce::check::check_sum_rows(
        dev, 70_000, 3, 101,
    ));
    run(dnagpu::ops::reduce::check::check_sum_rows(
        dev, 65_793, 1, 102,
    )); // 257 * 256 + 1: three passes
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
        run(dnagpu::ops::reduce::check::check_sum_squares(
            dev,
            shape,
            seed as u64,
        ));
    }
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
        run(
            dnagpu::ops::embedding_backward::check::check_embedding_backward(
                dev,
                ids,
                *rows,
                *hidden,
                seed as u64,
            ),
        );
    }
    // Rows 0 and 3 unused; row 1 read at the most positions one index allows.
    let mut ids = vec![1u32; 65_535];
    ids.extend([2, 4, 2]);
    run(dnagpu::ops::embedding_backward::check::check_embedding_backward(dev, &ids, 5, 3, 20));
    run(dnagpu::ops::embedding_backward::check::check_embedding_backward_errors(dev));
}

fn cross_entropy(dev: &Device) {
    let mut seed = 0;
    for &rows in &ROWS {
        seed += 1;
        run(dnagpu::ops::cross_entropy::check::check_cross_entropy(
            dev,
            rows,
            5,
            1.0 / 37.0,
            seed,
        ));
    }
    for &rows in &[1, 7, 65, 257] {
        seed += 1;
        run(dnagpu::ops::cross_entropy::check::check_cross_entropy(
            dev, rows, 4096, 0.01, seed,
        ));
    }
    run(dnagpu::ops::cross_entropy::check::check_cross_entropy(
        dev, 9, 1, 0.5, 50,
    ));
    run(dnagpu::ops::cross_entropy::check::check_cross_entropy(
        dev, 3, 257, 3.0, 51,
    ));
    run(dnagpu::ops::cross_entropy::check::check_cross_entropy_bad_label(dev));
}

// ---------------------------------------------------------------- CPU backend vs f64

#[test]
fn cpu_layer_norm_backward() {
    layer_norm_backward(&Device::Cpu);
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
fn cpu_embedding_backward() {
    embedding_backward(&Device::Cpu);
}

#[test]
fn cpu_cross_entropy() {
    cross_entropy(&Device::Cpu);
}

// ---------------------------------------------------------------- GPU vs f64

#[test]
fn gpu_layer_norm_backward() {
    let Some(dev) = gpu() else { return };
    layer_norm_backward(&dev);
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

#[test]
fn gpu_embedding_backward() {
    let Some(dev) = gpu() else { return };
    embedding_backward(&dev);
}

#[test]
fn gpu_cross_entropy() {
    let Some(dev) = gpu() else { return };
    cross_entropy(&dev);
}
