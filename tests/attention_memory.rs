//! Attention allocates memory linear in T: its only buffers are the
//! [B, T, H] output and the [B, heads, T] log-sum-exp (no T x T scores).

mod common;

use dnagpu::{ops, Device};

fn bytes_for(dev: &Device, t: usize, heads: usize, d: usize) -> u64 {
    let Device::Gpu(g) = dev else { unreachable!() };
    let qkv = dev
        .tensor_f32(&[1, t, 3 * heads * d], &vec![0.5; t * 3 * heads * d])
        .unwrap();
    let mask = dev.tensor_u32(&[1, t], &vec![1; t]).unwrap();
    let slopes = dev.tensor_f32(&[heads], &ops::alibi_slopes(heads)).unwrap();
    let before = g.memory().requested_bytes;
    let out = ops::attention(dev, &qkv, &mask, &slopes, heads).unwrap();
    dev.synchronize().unwrap();
    let used = g.memory().requested_bytes - before;
    drop(out);
    used
}

#[test]
fn attention_bytes_grow_linearly_in_t() {
    let Some(dev) = common::gpu() else { return };
    let (heads, d) = (2, 8);
    for t in [512usize, 1024, 2048, 4096] {
        let used = bytes_for(&dev, t, heads, d);
        let expect = (t * heads * d + heads * t) as u64 * 4;
        assert_eq!(
            used, expect,
            "T = {t}: attention requested {used} bytes, the output and lse need {expect}"
        );
    }
}
