//! [`Collective`] over MPI (rsmpi, the `mpi` feature): the job's world
//! communicator, and a communicator of the processes sharing this machine
//! for the node-local rank. Launch with `mpirun` / `srun`; MPI's errors are
//! fatal to the whole job (its default handler), so no collective returns
//! an error to wait on.

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::Collective;
use crate::error::{Error, Result};

pub struct Mpi {
    world: SimpleCommunicator,
    local_rank: usize,
    local_size: usize,
    /// Finalises MPI when the last reference goes (after every collective).
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI (once per process); the ranks' processes must all
    /// call it.
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize()
            .ok_or_else(|| Error::Invalid("MPI is already initialised in this process".into()))?;
        let world = universe.world();
        let local = world.split_shared(world.rank());
        Ok(Self {
            local_rank: local.rank() as usize,
            local_size: local.size() as usize,
            world,
            _universe: universe,
        })
    }

    /// The MPI library's own version line.
    pub fn library_version() -> String {
        mpi::environment::library_version()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn local_size(&self) -> usize {
        self.local_size
    }
    fn all_reduce_sum(&self, data: &mut [f32]) {
        let send = data.to_vec();
        self.world
            .all_reduce_into(&send[..], data, SystemOperation::sum());
    }
    fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        let mut out = vec![0u64; self.size()];
        self.world.all_gather_into(&value, &mut out[..]);
        out
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
