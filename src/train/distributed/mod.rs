//! Data-parallel training: one process (rank) per device, each computing
//! the gradient of its share of the global batch; the shares' gradients
//! are summed across ranks (an all-reduce over the host: wgpu has no
//! peer-to-peer) before clipping and AdamW, so every rank takes the same
//! step and holds the same weights. The trainers call one hook
//! ([`Distributed::reduce`]); without it (`None`) they are the
//! single-process code, unchanged. [`Collective`] is the transport:
//! MPI (`mpi`, behind the `mpi` Cargo feature) or [`Single`], one process.
//!
//! The global batch is formed on every rank exactly as one process forms
//! it (same data order and masking), each rank keeping rows
//! [`shard_rows`] of it; dropout masks are those of the whole batch
//! (`Dropout::rows`), and the loss is scaled by the global count, so the
//! summed gradient is the one-process gradient up to f32 summation order.

#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod mpi;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::split::{step_error, Accumulated};
use crate::error::{Error, Result};
use crate::{Device, Tensor};

/// The few collective operations data-parallel training needs. Every rank
/// calls them in the same order.
pub trait Collective {
    /// This process's rank, 0..size.
    fn rank(&self) -> usize;
    /// Processes in the job.
    fn size(&self) -> usize;
    /// Rank among the processes on this machine (picks the adapter).
    fn local_rank(&self) -> usize;
    /// Processes on this machine.
    fn local_size(&self) -> usize;
    /// Element-wise sum over every rank, in place; every rank gets the
    /// same result.
    fn all_reduce_sum(&self, data: &mut [f32]);
    /// Every rank's `value`, in rank order.
    fn all_gather_u64(&self, value: u64) -> Vec<u64>;
    /// Ends every process of the job with `code` (a rank that failed).
    fn abort(&self, code: i32) -> !;
}

/// One process: the collectives are identities.
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn local_rank(&self) -> usize {
        0
    }
    fn local_size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _data: &mut [f32]) {}
    fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        vec![value]
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// Rows `rank`'s share of a batch of `rows` among `size` ranks: contiguous,
/// in rank order, sizes differing by at most one.
pub fn shard_rows(rows: usize, rank: usize, size: usize) -> Range<usize> {
    rows * rank / size..rows * (rank + 1) / size
}

/// A trainer's link to the other ranks, and the time spent on it.
pub struct Distributed {
    pub collective: Arc<dyn Collective>,
    /// Nanoseconds in [`Distributed::reduce`] (readback, all-reduce,
    /// upload) so far.
    reduce_ns: AtomicU64,
}

impl Distributed {
    pub fn new(collective: Arc<dyn Collective>) -> Self {
        Self {
            collective,
            reduce_ns: AtomicU64::new(0),
        }
    }

    pub fn rank(&self) -> usize {
        self.collective.rank()
    }

    pub fn size(&self) -> usize {
        self.collective.size()
    }

    /// Rank 0 writes the run's files; the others write nothing.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's rows of a global batch of `rows`.
    pub fn shard(&self, rows: usize) -> Range<usize> {
        shard_rows(rows, self.rank(), self.size())
    }

    /// Seconds spent summing gradients so far.
    pub fn reduce_seconds(&self) -> f64 {
        self.reduce_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Whether any rank says `flag` (a stop request seen by one rank stops
    /// them all at the same step).
    pub fn any(&self, flag: bool) -> bool {
        let mut v = [f32::from(u8::from(flag))];
        self.collective.all_reduce_sum(&mut v);
        v[0] > 0.0
    }

    /// The sum over every rank of this rank's gradients (`None`: its share
    /// had nothing to learn from, zeros shaped like `params`) and summed
    /// loss ([1]): read back, one all-reduce, written back.
    pub async fn reduce(
        &self,
        dev: &Device,
        params: &[Tensor],
        grads: Option<Vec<Tensor>>,
        loss_sum: &Tensor,
    ) -> Result<(Vec<Tensor>, Tensor)> {
        let began = std::time::Instant::now();
        let total: usize = params.iter().map(Tensor::numel).sum();
        let mut flat = Vec::with_capacity(total + 1);
        match &grads {
            Some(g) => {
                for t in g {
                    flat.extend(dev.read_f32(t).await?);
                }
            }
            None => flat.resize(total, 0.0),
        }
        if flat.len() != total {
            return Err(Error::Invalid(format!(
                "all-reduce: {} gradient values for {total} parameters",
                flat.len()
            )));
        }
        flat.extend(dev.read_f32(loss_sum).await?);
        self.collective.all_reduce_sum(&mut flat);
        let mut out = Vec::with_capacity(params.len());
        let mut at = 0;
        for p in params {
            out.push(dev.tensor_f32(p.shape(), &flat[at..at + p.numel()])?);
            at += p.numel();
        }
        let loss = dev.tensor_f32(&[1], &flat[total..])?;
        self.reduce_ns
            .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok((out, loss))
    }

    /// Fails unless every rank trains in mixed precision alike: each rank
    /// decides from its own device (`mixed::applies`), and ranks that
    /// differ would skip different steps and drift apart.
    pub fn check_same_precision(&self, mixed: bool) -> Result<()> {
        let all = self.collective.all_gather_u64(u64::from(mixed));
        if let Some(r) = all.iter().position(|&x| x != all[0]) {
            let kind = |x: u64| {
                if x != 0 {
                    "in mixed precision"
                } else {
                    "in f32"
                }
            };
            return Err(Error::Invalid(format!(
                "--distributed --precision f16: rank {r} would train {}, rank 0 {} (their GPUs differ in shader-f16 or cooperative matrices: dnagpu info); give every rank the same kind of GPU, or train with --precision f32",
                kind(all[r]),
                kind(all[0])
            )));
        }
        Ok(())
    }

    /// Fails unless every rank holds the same `weights` (each loaded the
    /// same checkpoint, or drew the same initialisation): a fingerprint of
    /// their bits, compared across ranks.
    pub async fn check_same(&self, dev: &Device, what: &str, weights: &[Tensor]) -> Result<()> {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for t in weights {
            for v in dev.read_f32(t).await? {
                h = (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3);
            }
        }
        let all = self.collective.all_gather_u64(h);
        if let Some(r) = all.iter().position(|&x| x != all[0]) {
            return Err(Error::Invalid(format!(
                "--distributed: rank {r} starts from other {what} than rank 0 (every rank must read the same files: a shared filesystem, the same --seed)"
            )));
        }
        Ok(())
    }

    /// `result`, or on this rank's failure: says which rank failed and why,
    /// and ends every rank (no rank waits forever on a collective).
    pub fn or_abort<T>(&self, result: Result<T>) -> T {
        match result {
            Ok(v) => v,
            Err(e) => {
                // One write, so that mpirun does not interleave another
                // rank's output into the line.
                let line = format!(
                    "error: rank {} of {} failed: {e}; stopping every rank\n",
                    self.rank(),
                    self.size()
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                self.collective.abort(1)
            }
        }
    }
}

/// Whether this build trains over MPI (the `mpi` Cargo feature).
pub const HAS_MPI: bool = cfg!(all(feature = "mpi", not(target_arch = "wasm32")));

/// Joins the MPI job this process was launched in (`mpirun`, `srun`): one
/// rank of the data-parallel run. On the CPU backend each rank's thread
/// pool gets its share of the machine's cores (unless RAYON_NUM_THREADS
/// says). Without the `mpi` feature, an error saying how to build it.
#[cfg(not(target_arch = "wasm32"))]
// Shared by the run and its trainer on the one thread MPI was initialised
// on (MPI_THREAD_SINGLE): an Arc for ownership, never sent.
#[allow(clippy::arc_with_non_send_sync)]
pub fn join_mpi() -> Result<Arc<Distributed>> {
    #[cfg(feature = "mpi")]
    {
        let m = mpi::Mpi::init()?;
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = (cores / m.local_size().max(1)).max(1);
            // Fails only if the pool already exists: it then stays as it is.
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build_global();
        }
        Ok(Arc::new(Distributed::new(Arc::new(m))))
    }
    #[cfg(not(feature = "mpi"))]
    Err(Error::Invalid(
        "--distributed: this dnagpu was built without MPI (`dnagpu info` says); build it with `cargo build --release --features mpi` (needs Open MPI or MPICH and libclang: see README.md)".into(),
    ))
}

/// The MPI library this build links, in its own words (`dnagpu info`).
pub fn mpi_library() -> Option<String> {
    #[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
    return Some(mpi::Mpi::library_version());
    #[cfg(not(all(feature = "mpi", not(target_arch = "wasm32"))))]
    None
}

/// The gradients and summed loss step `step` applies, from what its
/// micro-batches gave (`acc`): this process's (`dist` None: the one-process
/// path) or the sum over ranks; `nothing` is the error of a step without
/// gradients.
pub(crate) async fn step_gradients(
    dist: Option<&Distributed>,
    dev: &Device,
    params: &[Tensor],
    acc: Accumulated,
    step: u64,
    nothing: &str,
) -> Result<(Vec<Tensor>, Tensor)> {
    let sum = |rows: &[Tensor]| super::optimizer::loss_sum(dev, rows);
    let out = match (dist, acc.grads) {
        (None, None) => return Err(Error::Invalid(nothing.into())),
        (None, Some(g)) => sum(&acc.loss_rows).map(|l| (g, l)),
        (Some(d), grads) => match sum(&acc.loss_rows) {
            Ok(l) => d.reduce(dev, params, grads, &l).await,
            Err(e) => Err(e),
        },
    };
    out.map_err(|e| step_error(e, step))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        for rows in [0, 1, 5, 8, 13] {
            for size in 1..5 {
                let parts: Vec<_> = (0..size).map(|r| shard_rows(rows, r, size)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[size - 1].end, rows);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let lens: Vec<_> = parts.iter().map(|p| p.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn one_process_reduce_is_the_identity() {
        let dev = Device::Cpu;
        let d = Distributed::new(Arc::new(Single));
        let p = dev.tensor_f32(&[2, 2], &[0.0; 4]).unwrap();
        let g = dev.tensor_f32(&[2, 2], &[1.0, -2.0, 3.5, 4.0]).unwrap();
        let l = dev.tensor_f32(&[1], &[7.25]).unwrap();
        let (g2, l2) =
            pollster::block_on(d.reduce(&dev, std::slice::from_ref(&p), Some(vec![g]), &l))
                .unwrap();
        assert_eq!(
            dev.read_f32_blocking(&g2[0]).unwrap(),
            [1.0, -2.0, 3.5, 4.0]
        );
        assert_eq!(dev.read_f32_blocking(&l2).unwrap(), [7.25]);
        let (z, _) = pollster::block_on(d.reduce(&dev, &[p], None, &l)).unwrap();
        assert_eq!(dev.read_f32_blocking(&z[0]).unwrap(), [0.0; 4]);
        assert!(d.any(true) && !d.any(false));
        assert!(d.reduce_seconds() > 0.0);
    }

    /// Rank 0 of two whose other rank gathers `other` for every value.
    struct TwoRanks {
        other: u64,
    }

    impl Collective for TwoRanks {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn local_rank(&self) -> usize {
            0
        }
        fn local_size(&self) -> usize {
            2
        }
        fn all_reduce_sum(&self, _data: &mut [f32]) {}
        fn all_gather_u64(&self, value: u64) -> Vec<u64> {
            vec![value, self.other]
        }
        fn abort(&self, _code: i32) -> ! {
            panic!("aborted")
        }
    }

    /// Ranks that would train one in mixed precision and one in f32 are
    /// refused before the first step, naming the rank; alike, they train.
    #[test]
    fn ranks_must_agree_on_mixed_precision() {
        let d = Distributed::new(Arc::new(TwoRanks { other: 0 }));
        let err = d.check_same_precision(true).unwrap_err().to_string();
        assert!(
            err.contains("rank 1 would train in f32, rank 0 in mixed precision"),
            "{err}"
        );
        d.check_same_precision(false).unwrap();
        let d = Distributed::new(Arc::new(TwoRanks { other: 1 }));
        d.check_same_precision(true).unwrap();
        assert!(d.check_same_precision(false).is_err());
    }
}
