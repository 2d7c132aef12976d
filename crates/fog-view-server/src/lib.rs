#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod loader;
pub mod metrics;
mod service;

pub use loader::{LoadStatus, ViewServer};

pub use service::ViewService;

use std::time::Duration;

/// The enclave type the server runs: partitions in (simulated) enclave memory.
pub type Enclave =
    fog_enclave::view_enclave::ViewEnclave<fog_oram::HeapFactory, rand_chacha::ChaCha20Rng>;

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
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            capacity_per_partition: 1 << 20,
            poll_interval: Duration::from_millis(250),
            batch_records: 100_000,
            session_capacity: fog_enclave::sessions::DEFAULT_SESSION_CAPACITY,
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
    Store(#[from] fog_enclave::view::ViewError),
    /// The enclave refused a user event or block from the recovery DB (out of order,
    /// inconsistent, or the store is full); loading stops there until the DB is repaired or
    /// the enclave rebuilt.
    #[error("view enclave refused the load: {0}")]
    Load(#[from] fog_enclave::view_enclave::LoadError),
    /// The enclave could not be built.
    #[error("view enclave: {0}")]
    Enclave(#[from] fog_enclave::view_enclave::ViewEnclaveError),
    /// A worker thread failed.
    #[error("worker thread failed")]
    Worker,
}

/// Builds the view enclave: `config.partitions` stores of `config.capacity_per_partition`,
/// answering with `responder`. Randomness from the OS.
pub fn build_enclave(
    responder: fog_attest::EnclaveResponder,
    config: &ViewConfig,
) -> Result<Enclave, ViewServerError> {
    use rand::{rngs::OsRng, SeedableRng};
    let parts = (0..config.partitions.max(1))
        .map(|_| {
            fog_enclave::view::ViewStore::new(
                config.capacity_per_partition,
                fog_oram::HeapFactory,
                rand_chacha::ChaCha20Rng::from_rng(OsRng)
                    .map_err(|_| fog_enclave::view::ViewError::InvalidConfig)?,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fog_enclave::view_enclave::ViewEnclave::new(
        responder,
        config.session_capacity,
        fog_attest::SessionLimits::default(),
        parts,
        &mut OsRng,
    )?)
}
