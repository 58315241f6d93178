//! Bad input gets an error that names the op and the shapes; nothing panics.

mod common;

use dnagpu::ops::{self, Matmul, PoolMode};
use dnagpu::{Device, Error};

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Cpu];
    d.extend(common::gpu());
    d
}

fn expect_err<T>(r: dnagpu::Result<T>, needles: &[&str]) {
    match r {
        Ok(_) => panic!("expected an error mentioning {needles:?}"),
        Err(e) => {
            let msg = e.to_string();
            for n in needles {
                assert!(msg.contains(n), "error `{msg}` should mention `{n}`");
            }
        }
    }
}

#[test]
fn shape_mismatches_name_the_op_and_shapes() {
    for dev in devices() {
        let a = dev.tensor_f32(&[3, 4], &[0.0; 12]).unwrap();
        let b = dev.tensor_f32(&[5, 6], &[0.0; 30]).unwrap();
        expect_err(
            ops::matmul(&dev, &a, &b, None, Matmul::NN),
            &["matmul", "[3, 4]", "[5, 6]", "4 vs 5"],
        );
        let bias = dev.tensor_f32(&[7], &[0.0; 7]).unwrap();
        let w = dev.tensor_f32(&[4, 6], &[0.0; 24]).unwrap();
        expect_err(
            ops::matmul(&dev, &a, &w, Some(&bias), Matmul::NN),
            &["matmul", "bias [7]", "[6]"],
        );
        let qkv = dev.tensor_f32(&[1, 2, 9], &[0.0; 18]).unwrap();
        let mask = dev.tensor_u32(&[1, 2], &[1, 1]).unwrap();
        let slopes = dev.tensor_f32(&[2], &[0.0; 2]).unwrap();
        expect_err(
            ops::attention(&dev, &qkv, &mask, &slopes, 2),
            &["attention", "[1, 2, 9]", "2 heads"],
        );
        let qkv = dev.tensor_f32(&[1, 2, 12], &[0.0; 24]).unwrap();
        let bad_mask = dev.tensor_u32(&[2, 2], &[1; 4]).unwrap();
        expect_err(
            ops::attention(&dev, &qkv, &bad_mask, &slopes, 2),
            &["attention", "mask [2, 2]", "[1, 2]"],
        );
        let x = dev.tensor_f32(&[2, 4], &[0.0; 8]).unwrap();
        let w3 = dev.tensor_f32(&[3], &[0.0; 3]).unwrap();
        let b4 = dev.tensor_f32(&[4], &[0.0; 4]).unwrap();
        expect_err(
            ops::layer_norm(&dev, &x, None, &w3, &b4, 1e-12),
            &["layer_norm", "weight [3]", "[4]"],
        );
        expect_err(ops::add(&dev, &x, &w3), &["add", "[3]", "[2, 4]"]);
        expect_err(
            ops::geglu(&dev, &dev.tensor_f32(&[2, 3], &[0.0; 6]).unwrap()),
            &["geglu", "[2, 3]"],
        );
        expect_err(
            ops::pool(
                &dev,
                &x.reshape(&[1, 2, 4]).unwrap(),
                &bad_mask,
                PoolMode::Mean,
            ),
            &["pool", "[2, 2]"],
        );
        expect_err(
            dev.tensor_f32(&[3, 3], &[0.0; 8]),
            &["[3, 3]", "9 elements", "8"],
        );
        expect_err(x.reshape(&[3, 3]), &["reshape", "[2, 4]", "[3, 3]"]);
    }
}

#[test]
fn dtype_and_device_mismatches_are_errors() {
    for dev in devices() {
        let ids = dev.tensor_u32(&[2], &[0, 1]).unwrap();
        let table = dev.tensor_f32(&[2, 2], &[0.0; 4]).unwrap();
        expect_err(
            ops::embedding(&dev, &table, &table),
            &["embedding", "ids", "U32", "F32"],
        );
        expect_err(ops::gelu(&dev, &ids), &["gelu", "F32"]);
        assert!(ops::embedding(&dev, &ids, &table).is_ok());
    }
    if let Some(gpu) = common::gpu() {
        let on_cpu = Device::Cpu.tensor_f32(&[2], &[1.0, 2.0]).unwrap();
        match ops::gelu(&gpu, &on_cpu) {
            Err(Error::WrongDevice { op: "gelu", .. }) => {}
            other => panic!("expected WrongDevice, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn requests_over_a_device_limit_are_errors() {
    let Some(dev) = common::gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!() };
    // A batch dimension past the dispatch limit: the caller must split.
    let max = g.limits().max_compute_workgroups_per_dimension as usize;
    let a = dev
        .tensor_f32(&[max + 1, 1, 1], &vec![0.0; max + 1])
        .unwrap();
    let b = dev.tensor_f32(&[1, 1], &[0.0]).unwrap();
    expect_err(
        ops::matmul(&dev, &a, &b, None, Matmul::NN),
        &["matmul.wgsl", "device limit", "split"],
    );
    // A buffer larger than the device allows.
    let limit = g.limits().max_storage_buffer_binding_size;
    if limit < (1 << 34) {
        let big = (limit / 4 + 1) as usize;
        let x = dev.tensor_f32(&[1], &[0.0]).unwrap();
        let ids = dev
            .tensor_u32(&[big / 4 + 1], &vec![0; big / 4 + 1])
            .unwrap();
        let table = dev.tensor_f32(&[1, 4], &[0.0; 4]).unwrap();
        expect_err(
            ops::embedding(&dev, &ids, &table),
            &["embedding", "out of GPU memory", "largest buffer"],
        );
        drop(x);
    }
}
