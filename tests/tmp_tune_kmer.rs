// Throwaway tuning harness (to be deleted).
use dnagpu::baseline::{KmerBaseline, KmerOptions};
use dnagpu::rng::Rng;
const MOTIF: &str = "TATAAA";
fn random_seq(rng: &mut Rng, len: usize) -> String { (0..len).map(|_| b"ACGT"[rng.below(4) as usize] as char).collect() }
fn motif_data(n: usize, seed: u64) -> Vec<(String, usize)> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| { let label = i % 2; loop { let mut s = random_seq(&mut rng, 100);
        if label == 1 { let at = rng.below(95) as usize; s.replace_range(at..at + 6, MOTIF); }
        if s.contains(MOTIF) == (label == 1) { break (s, label); } } }).collect()
}
#[test]
fn tune() {
    let train = motif_data(2000, 1);
    let test = motif_data(1000, 2);
    for standardize in [true] {
    for lr in [1e-3f32, 3e-3, 1e-2] {
    for l2 in [1e-2f32, 1e-1, 3e-1, 1.0, 3.0] {
        let o = KmerOptions { l2, learning_rate: lr, standardize, tolerance: 0.0, max_epochs: 20, ..Default::default() };
        let t = std::time::Instant::now();
        let m = KmerBaseline::train(&train, None, 2, &o).unwrap();
        let e = m.evaluate(&test).unwrap(); let tr = m.evaluate(&train).unwrap();
        eprintln!("std {standardize} lr {lr} l2 {l2}: test acc {:.3} train acc {:.3} epochs {} {:.2?}", e.accuracy, tr.accuracy, m.epochs(), t.elapsed());
    }}}
}
#[test]
#[ignore]
fn tune_gue() {
    use dnagpu::data::{read_path, InvalidPolicy};
    let load = |path: String| -> Vec<(String, usize)> {
        read_path(&path, InvalidPolicy::Error).unwrap().records.into_iter()
            .map(|r| (r.seq, r.label.unwrap().parse().unwrap())).collect()
    };
    let lrs: Vec<f32> = std::env::var("LRS").unwrap_or("0.01".into()).split(',').map(|x| x.parse().unwrap()).collect();
    let l2s: Vec<f32> = std::env::var("L2S").unwrap_or("1e-4,1e-3,1e-2,1e-1".into()).split(',').map(|x| x.parse().unwrap()).collect();
    let bs: usize = std::env::var("BS").unwrap_or("256".into()).parse().unwrap();
    let ep: usize = std::env::var("EP").unwrap_or("30".into()).parse().unwrap();
    let subsets = std::env::var("SUBSETS").unwrap_or("prom/prom_core_all,tf/0".into());
    for subset in subsets.split(',') {
        let dir = format!("/work/shared/data/GUE/{subset}");
        let train = load(format!("{dir}/train.csv.gz"));
        let dev = load(format!("{dir}/dev.csv"));
        let test = load(format!("{dir}/test.csv"));
        for &lr in &lrs { for &l2 in &l2s {
            let tol: f32 = std::env::var("TOL").unwrap_or("0.001".into()).parse().unwrap(); let o = KmerOptions { l2, learning_rate: lr, batch_size: bs, max_epochs: ep, tolerance: tol, ..Default::default() };
            let t = std::time::Instant::now();
            let m = KmerBaseline::train(&train, None, 2, &o).unwrap();
            let took = t.elapsed();
            let d = m.evaluate(&dev).unwrap(); let e = m.evaluate(&test).unwrap();
            eprintln!("{subset} lr {lr} l2 {l2} bs {bs}: dev mcc {:.4} test mcc {:.4} epochs {} {:.2?}", d.mcc, e.mcc, m.epochs(), took);
        }}
    }
}
