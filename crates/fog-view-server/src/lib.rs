#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod loader;
pub mod metrics;
pub mod router;
mod service;
mod store;

pub use loader::{lend_worker_threads, LoadStatus, ViewServer, WorkerThreads};
pub use router::{ViewRouterServer, ViewRouterService};
pub use service::ViewService;
pub use store::StoreService;

use fog_enclave_api::errors::{LoadError, ViewEnclaveError, ViewError};
use fog_enclave_api::view::ViewEnclaveConfig;
use fog_types::common::BlockRange;

use std::time::Duration;

/// How the view server runs.
#[derive(Clone, Debug)]
pub struct ViewConfig {
    /// Partitions (threads that can search at once); default: the number of cores.
    pub partitions: usize,
    /// Slots of each partition (rounded by the map); plan for records to fill about 85 % of
    /// them.
    pub capacity_per_partition: u64,
    /// How often the recovery DB is polled for new records.
    pub poll_interval: Duration,
    /// Records fetched per recovery DB read.
    pub batch_records: usize,
    /// Client sessions kept at once.
    pub session_capacity: usize,
    /// The blocks this store serves (`end_block` = `u64::MAX`: open-ended); every block by
    /// default. A store of a later range answers routers only (see `router`).
    pub blocks: BlockRange,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            capacity_per_partition: 1 << 20,
            poll_interval: Duration::from_millis(250),
            batch_records: 100_000,
            session_capacity: fog_enclave_api::view::DEFAULT_SESSION_CAPACITY,
            blocks: fog_types::view::ALL_BLOCKS,
        }
    }
}

/// Errors of the view server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewServerError {
    /// The recovery DB failed.
    #[error("recovery DB: {0}")]
    RecoveryDb(#[from] fog_recovery_db::RecoveryDbError),
    /// The enclave refused records (store full or a malformed record in the DB).
    #[error("view store: {0}")]
    Store(#[from] ViewError),
    /// The enclave refused a user event or block from the recovery DB (out of order,
    /// inconsistent, or the store is full); loading stops there until the DB is repaired or
    /// the enclave rebuilt.
    #[error("view enclave refused the load: {0}")]
    Load(#[from] LoadError),
    /// The enclave refused or failed a call (or did not answer it).
    #[error("view enclave: {0}")]
    Enclave(#[from] ViewEnclaveError),
    /// A worker thread failed.
    #[error("worker thread failed")]
    Worker,
}

impl ViewConfig {
    /// What the enclave is loaded with: this configuration's partitions, sessions and block
    /// range (`fog_enclave::boundary::view::ViewBoundary` takes it).
    pub fn enclave(&self) -> ViewEnclaveConfig {
        ViewEnclaveConfig {
            partitions: self.partitions,
            capacity_per_partition: self.capacity_per_partition,
            session_capacity: self.session_capacity,
            session_limits: fog_attest::SessionLimits::default(),
            store_session_limits: STORE_SESSION_LIMITS,
            blocks: self.blocks,
        }
    }
}

pub use fog_router::STORE_SESSION_LIMITS;
