#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod loader;
pub mod metrics;
pub mod router;
mod service;
mod store;

pub use loader::{lend_worker_threads, LoadStatus, ViewServer};
pub use router::{ViewRouterServer, ViewRouterService};
pub use service::ViewService;
pub use store::StoreService;

pub use fog_enclave::peers::PeerChannels;
pub use fog_enclave::view_router::ViewRouter;

use fog_types::common::BlockRange;

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
    /// The blocks this store serves (`end_block` = `u64::MAX`: open-ended); every block by
    /// default. A store of a later range answers routers only (see `fog_enclave::view_router`).
    pub blocks: BlockRange,
}

impl Default for ViewConfig {
    fn default() -> Self {
        Self {
            partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            capacity_per_partition: 1 << 20,
            poll_interval: Duration::from_millis(250),
            batch_records: 100_000,
            session_capacity: fog_enclave::sessions::DEFAULT_SESSION_CAPACITY,
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
    /// The block range is empty (its end is not after its start).
    #[error("the block range {0} holds no block")]
    EmptyRange(BlockRange),
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
    let enclave = fog_enclave::view_enclave::ViewEnclave::new(
        responder,
        config.session_capacity,
        fog_attest::SessionLimits::default(),
        parts,
        &mut OsRng,
    )?;
    if config.blocks != fog_types::view::ALL_BLOCKS {
        enclave
            .set_blocks(config.blocks.start_block, config.blocks.end_block)
            .map_err(|_| ViewServerError::EmptyRange(config.blocks))?;
    }
    Ok(enclave)
}

/// The view router enclave: client sessions answered with `responder` (view evidence), stores
/// reached over `link` ([`store_link`]).
pub fn build_router(responder: fog_attest::EnclaveResponder, link: PeerChannels) -> ViewRouter {
    ViewRouter::new(
        responder,
        fog_enclave::sessions::DEFAULT_SESSION_CAPACITY,
        fog_attest::SessionLimits::default(),
        link,
    )
}

pub use fog_router::STORE_SESSION_LIMITS;

/// The attested channels of a view router or store ([`fog_enclave::view_router::STORE_CHANNEL`]):
/// this enclave's `responder` (a fresh channel key, view evidence) and peers accepted when
/// `verifier` accepts their evidence (the view enclave's identity under the deployment's trust
/// anchor).
pub fn store_link(
    responder: fog_attest::EnclaveResponder,
    verifier: fog_attest::Verifier,
) -> fog_enclave::peers::PeerChannels {
    fog_enclave::peers::PeerChannels::new(
        fog_enclave::view_router::STORE_CHANNEL,
        responder,
        verifier,
        STORE_SESSION_LIMITS,
    )
}
