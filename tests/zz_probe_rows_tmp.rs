mod common;
#[test]
fn probe() {
    let Some(dev) = common::gpu() else { return };
    let mut ids = vec![1u32; 70_000];
    ids.push(0);
    common::run(dnagpu::testing::backward_rows::check_embedding_backward(&dev, &ids, 3, 1, 1));
}
