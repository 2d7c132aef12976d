//! The ledger server's state: the ledger DB, the enclave, the follower that feeds it, and the
//! blocking work behind each RPC.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use fog_attest::{wire::NonceMessage, BoundEvidence, Provider, UnixSeconds};
use fog_enclave_api::{
    errors::LedgerEnclaveError,
    ledger::{CheckOutcome, LedgerClient, LedgerCounters, LedgerView},
    ledger_router::{LedgerRouterClient, PendingCheck},
    SharedEnclave,
};
use fog_ledger_db::{LedgerDb, LedgerSnapshot};
use fog_transaction::{wire::CompressedRistretto, BlockVersion};
use fog_types::{
    common::BlockRange,
    ledger::{
        BlockData, BlockResponse, GetOutputsResponse, OutputResult, OutputResultCode, TxOutRequest,
        TxOutResponse, TxOutResult, TxOutResultCode, TIMESTAMP_FOUND,
    },
};
use thiserror::Error;

use crate::{metrics::Metrics, router::LedgerRouterServer, service::TIMESTAMP_UNAVAILABLE};

/// `GetBlocks` serves at most this many blocks per call; a request for more is refused.
pub const MAX_BLOCKS_PER_CALL: u64 = 1000;
/// `GetTxOuts` looks up at most this many public keys per call.
pub const MAX_TX_OUT_LOOKUPS: usize = 2000;
/// Blocks the follower adds per turn before it yields (and re-reads the ledger's length).
const FOLLOW_BATCH: u64 = 256;
/// Every block: the key-image range of a store that is not a shard.
pub const ALL_BLOCKS: BlockRange = fog_types::view::ALL_BLOCKS;

/// Configuration of the host. What the enclave is loaded with (its key-image capacity, its
/// session table) is the enclave's, given where it is made (`fogd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerServerConfig {
    /// How long the follower waits before looking for new blocks again.
    pub poll_interval: Duration,
    /// Key-image checks are refused (UNAVAILABLE) while the store is more than this many
    /// blocks behind the ledger (MobileCoin: 100).
    pub max_blocks_behind: u64,
    /// The blocks whose key images the store keeps (`end_block` = `u64::MAX`: open-ended);
    /// every block by default. A store of a later range is a shard behind a ledger router:
    /// it still verifies every block, and tells clients that ask it directly that it holds
    /// no block (see `fog_enclave::ledger`). Its enclave's capacity is planned for the range's
    /// key images.
    pub key_image_blocks: BlockRange,
}

impl Default for LedgerServerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            max_blocks_behind: 100,
            key_image_blocks: ALL_BLOCKS,
        }
    }
}

/// Why a request or the server failed. The detail is for the log; clients get the fixed
/// messages of `service::to_status`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LedgerServerError {
    /// The enclave refused (payload-free).
    #[error("ledger enclave: {0}")]
    Enclave(#[from] LedgerEnclaveError),
    /// The host's provider made no evidence for the enclave's key.
    #[error("evidence: {0}")]
    Evidence(#[from] fog_attest::Error),
    /// The ledger DB failed.
    #[error("ledger DB: {0}")]
    Ledger(#[from] fog_ledger_db::LedgerError),
    /// The ledger DB holds something it should not (a block without contents, ...).
    #[error("ledger DB is inconsistent: {0}")]
    Inconsistent(String),
    /// The request is malformed (the message says how, without its data).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A blocking task panicked or was cancelled.
    #[error("a server task failed")]
    Task,
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

/// What the server is doing (readiness, metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerStatus {
    /// What the key-image store holds.
    pub store: LedgerCounters,
    /// Blocks in the ledger DB.
    pub ledger_blocks: u64,
    /// Key images stored.
    pub key_images: u64,
    /// The store's capacity.
    pub capacity: u64,
    /// Live client sessions.
    pub sessions: usize,
}

impl LedgerStatus {
    /// Blocks of the ledger the store lacks.
    pub fn blocks_behind(&self) -> u64 {
        self.ledger_blocks.saturating_sub(self.store.num_blocks)
    }
}

/// Where key-image checks are answered.
enum Core {
    /// By this server's own enclave and its key-image store.
    Store,
    /// By the key-image stores behind this router; the router's own enclave answers the rest.
    Router(Arc<LedgerRouterServer>),
}

/// The ledger server: the ledger DB, the enclave with its key-image store (or, for a ledger
/// router, the router enclave and its stores), and the counters. It reaches its enclave only
/// through the byte boundary ([`LedgerClient`]).
pub struct LedgerServer {
    ledger: LedgerDb,
    /// The fog ledger enclave: the store's, or the router's own.
    enclave: LedgerClient,
    core: Core,
    config: LedgerServerConfig,
    metrics: Metrics,
    /// The ledger's length as last read (by the follower or a request).
    ledger_blocks: AtomicU64,
}

impl std::fmt::Debug for LedgerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now() -> UnixSeconds {
    UnixSeconds::now()
}

impl LedgerServer {
    /// A server over `ledger` with the fog ledger enclave `enclave` (loaded by `fogd`, e.g.
    /// `fog_enclave::boundary::ledger::LedgerBoundary`), whose client evidence `provider`
    /// makes for the channel key the enclave made. The store starts empty;
    /// [`LedgerServer::catch_up`] or the follower fills it. With `config.key_image_blocks`
    /// other than [`ALL_BLOCKS`] the store keeps the key images of those blocks only. Routers
    /// can reach it once it has router evidence ([`LedgerServer::set_router_evidence`]).
    pub fn new(
        ledger: LedgerDb,
        enclave: SharedEnclave,
        provider: &impl Provider,
        config: LedgerServerConfig,
    ) -> Result<Self, LedgerServerError> {
        check_config(&config)?;
        let enclave = LedgerClient::new(enclave);
        start(&enclave, provider)?;
        if config.key_image_blocks != ALL_BLOCKS {
            if !config.key_image_blocks.is_valid() {
                return Err(LedgerServerError::Config(
                    "the key-image block range holds no block",
                ));
            }
            let blocks = config.key_image_blocks;
            enclave
                .set_key_image_blocks(blocks.start_block, blocks.end_block)
                .map_err(|_| LedgerServerError::Config("unusable key-image block range"))?;
        }
        Ok(Self::with_core(ledger, enclave, Core::Store, config))
    }

    /// A ledger router over `ledger` with the ledger router enclave `enclave` (e.g.
    /// `fog_enclave::boundary::ledger_router::LedgerRouterBoundary`), whose client and store
    /// channel evidence `provider` makes: clients' `GetOutputs`, `GetBlocks`, `GetTxOuts` and
    /// `GetBlockIds` are answered from `ledger` and the router's own fog ledger enclave
    /// (which keeps no key image), their key-image checks by the key-image stores the router
    /// reaches as `stores` says. It starts with no store ([`LedgerRouterServer::stores`]).
    /// `config.key_image_blocks` is not used.
    pub fn new_router(
        ledger: LedgerDb,
        enclave: SharedEnclave,
        provider: &impl Provider,
        config: LedgerServerConfig,
        stores: fog_router::StoresConfig,
    ) -> Result<Self, LedgerServerError> {
        check_config(&config)?;
        let router = LedgerRouterClient::new(enclave);
        let key = router.store_channel_key()?;
        router.set_store_evidence(&BoundEvidence::bind(provider, &key, None)?)?;
        let enclave = router.ledger();
        start(&enclave, provider)?;
        let router = LedgerRouterServer::new(router, stores);
        Ok(Self::with_core(
            ledger,
            enclave,
            Core::Router(Arc::new(router)),
            config,
        ))
    }

    fn with_core(
        ledger: LedgerDb,
        enclave: LedgerClient,
        core: Core,
        config: LedgerServerConfig,
    ) -> Self {
        Self {
            ledger,
            enclave,
            core,
            config,
            metrics: Metrics::default(),
            ledger_blocks: AtomicU64::new(0),
        }
    }

    /// The enclave: the store's, or the router's own.
    fn enclave(&self) -> &LedgerClient {
        &self.enclave
    }

    /// The router, when this server is a ledger router.
    pub fn router(&self) -> Option<&Arc<LedgerRouterServer>> {
        match &self.core {
            Core::Store => None,
            Core::Router(router) => Some(router),
        }
    }

    /// The blocks whose key images the enclave keeps (empty for a router).
    pub fn key_image_blocks(&self) -> Result<BlockRange, LedgerServerError> {
        Ok(self.enclave().key_image_blocks()?)
    }

    /// The configuration.
    pub fn config(&self) -> &LedgerServerConfig {
        &self.config
    }

    /// The request counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The ledger DB.
    pub fn ledger(&self) -> &LedgerDb {
        &self.ledger
    }

    /// The store, the ledger and the sessions, now.
    pub fn status(&self) -> Result<LedgerStatus, LedgerServerError> {
        let ledger_blocks = self.read_ledger_blocks()?;
        let s = self.enclave().status()?;
        Ok(LedgerStatus {
            store: s.counters,
            ledger_blocks,
            key_images: s.key_images,
            capacity: s.capacity,
            sessions: s.sessions,
        })
    }

    fn read_ledger_blocks(&self) -> Result<u64, LedgerServerError> {
        let n = self.ledger.num_blocks()?;
        self.ledger_blocks.store(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Adds the key images of up to `max_blocks` ledger blocks the store lacks, in order.
    /// Returns how many blocks were added. Blocking (ORAM work and DB reads).
    pub fn catch_up(&self, max_blocks: u64) -> Result<u64, LedgerServerError> {
        let snapshot = self.ledger.snapshot()?;
        let ledger_blocks = snapshot.num_blocks()?;
        self.ledger_blocks.store(ledger_blocks, Ordering::Relaxed);
        let start = self.enclave().counters()?.num_blocks;
        let end = ledger_blocks.min(start.saturating_add(max_blocks));
        for index in start..end {
            let block = snapshot.block(index)?.ok_or_else(|| {
                LedgerServerError::Inconsistent(format!("block {index} is absent"))
            })?;
            let contents = snapshot.block_contents(index)?.ok_or_else(|| {
                LedgerServerError::Inconsistent(format!("block {index} has no contents"))
            })?;
            let timestamp = snapshot.block_timestamp(index)?.ok_or_else(|| {
                LedgerServerError::Inconsistent(format!("block {index} has no timestamp"))
            })?;
            self.enclave().add_block(&block, &contents, timestamp)?;
            self.metrics.blocks_added.fetch_add(1, Ordering::Relaxed);
        }
        Ok(end - start)
    }

    /// Follows the ledger until `shutdown` resolves: adds each new block's key images, then
    /// waits `poll_interval` when there is nothing new. Errors are logged and retried after the
    /// interval; the store stays as it was (every block is all or nothing).
    pub async fn follow(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failing = false;
        loop {
            let server = Arc::clone(&self);
            let turn = tokio::task::spawn_blocking(move || server.catch_up(FOLLOW_BATCH))
                .await
                .map_err(|_| LedgerServerError::Task)
                .and_then(|r| r);
            let wait = match turn {
                Ok(added) => {
                    if failing {
                        tracing::info!("following the ledger again");
                        failing = false;
                    }
                    if added > 0 {
                        tracing::debug!(added, "key images of new blocks stored");
                    }
                    added < FOLLOW_BATCH
                }
                Err(e) => {
                    self.metrics.follow_errors.fetch_add(1, Ordering::Relaxed);
                    if !failing {
                        tracing::error!(error = %e, "cannot add the next block's key images; retrying");
                        failing = true;
                    }
                    true
                }
            };
            if wait {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
            } else if futures_ready(&mut shutdown).await {
                return;
            }
        }
    }

    /// The public half of the key the enclave made for its client sessions (what its
    /// evidence binds).
    pub fn channel_key(&self) -> Result<[u8; 32], LedgerServerError> {
        Ok(self.enclave().channel_key()?)
    }

    /// Replaces the enclave's evidence (renewed before clients' policies find it stale); it
    /// must bind [`LedgerServer::channel_key`].
    pub fn set_evidence(&self, evidence: BoundEvidence) -> Result<(), LedgerServerError> {
        Ok(self.enclave().set_evidence(&evidence)?)
    }

    /// Answers an NX hello from `peer` (the client's IP address as the transport saw it, or
    /// `None`): one peer's sessions are bounded so that its handshakes cannot push out other
    /// clients' sessions.
    pub fn auth(
        &self,
        hello: &[u8],
        peer: Option<std::net::IpAddr>,
    ) -> Result<Vec<u8>, LedgerServerError> {
        Ok(self.enclave().accept(hello, peer, now())?)
    }

    /// The public half of the key the enclave made for its channels to ledger routers;
    /// refused when the enclave was loaded without a verifier of routers.
    pub fn router_channel_key(&self) -> Result<[u8; 32], LedgerServerError> {
        Ok(self.enclave().router_channel_key()?)
    }

    /// Installs the evidence the router channels present (it must bind
    /// [`LedgerServer::router_channel_key`]): the first opens this store to ledger routers
    /// (until then the store API refuses every router), later ones renew it.
    pub fn set_router_evidence(&self, evidence: BoundEvidence) -> Result<(), LedgerServerError> {
        Ok(self.enclave().set_router_evidence(&evidence)?)
    }

    /// Answers a ledger router's handshake: the channel id and the reply.
    pub fn router_accept(&self, hello: &[u8]) -> Result<(Vec<u8>, Vec<u8>), LedgerServerError> {
        Ok(self.enclave().router_accept(hello, now())?)
    }

    /// Answers a ledger router's encoded check frame on `channel_id` (this store's range and
    /// results, sealed to the router), refused as a client's check is while the store is too
    /// far behind the ledger. Blocking.
    pub fn router_check(
        &self,
        channel_id: &[u8],
        frame: Vec<u8>,
    ) -> Result<Vec<u8>, LedgerServerError> {
        let answer = self
            .enclave()
            .router_check(channel_id, frame, self.ledger_view()?, now())?;
        self.metrics.router_checks.fetch_add(1, Ordering::Relaxed);
        Ok(answer)
    }

    /// What the host tells the enclave of the ledger with a key-image check.
    fn ledger_view(&self) -> Result<LedgerView, LedgerServerError> {
        Ok(LedgerView {
            ledger_blocks: self.read_ledger_blocks()?,
            max_blocks_behind: self.config.max_blocks_behind,
        })
    }

    /// One `CheckKeyImages` call, answered by the enclave; refused (the frame consumed) while
    /// the store is more than `max_blocks_behind` blocks behind the ledger. Blocking.
    pub fn check_key_images(&self, frame: NonceMessage) -> Result<NonceMessage, LedgerServerError> {
        let CheckOutcome {
            response,
            key_images,
        } = self
            .enclave()
            .check_key_images(frame, self.ledger_view()?, now())?;
        self.metrics.record_key_images(key_images);
        Ok(response)
    }

    /// Opens a `CheckKeyImages` frame in a ledger router's enclave, for its stores to answer
    /// ([`LedgerRouterServer::route`]); refused as [`LedgerServer::check_key_images`] is
    /// while the router's own chain is too far behind its ledger. Blocking.
    pub(crate) fn open_routed_check(
        &self,
        frame: NonceMessage,
    ) -> Result<PendingCheck, LedgerServerError> {
        let router = self
            .router()
            .ok_or(LedgerServerError::Config("not a ledger router"))?;
        Ok(router
            .enclave()
            .open_check(frame, self.ledger_view()?, now())?)
    }

    /// One `GetBlockIds` call, answered by the enclave from the chain it verified. Blocking.
    pub fn block_ids(&self, frame: NonceMessage) -> Result<NonceMessage, LedgerServerError> {
        let sealed = self.enclave().block_ids(frame, now())?;
        self.metrics.get_block_ids.fetch_add(1, Ordering::Relaxed);
        Ok(sealed)
    }

    /// One `GetOutputs` call: the enclave opens the request, the outputs and their proofs come
    /// from one ledger snapshot, the enclave seals the answer. Blocking.
    pub fn get_outputs(&self, frame: NonceMessage) -> Result<NonceMessage, LedgerServerError> {
        let t = now();
        let (channel_id, request) = self.enclave().open_get_outputs(frame, t)?;
        let snapshot = self.ledger.snapshot()?;
        let num_txos = snapshot.num_txos()?;
        let num_blocks = snapshot.num_blocks()?;
        let latest_block_version = snapshot.last_block()?.map_or(0, |b| b.version);
        let present: Vec<u64> = request
            .indices
            .iter()
            .copied()
            .filter(|&i| i < num_txos)
            .collect();
        let mut proofs = snapshot.membership_proofs(&present)?.into_iter();
        let mut results = Vec::with_capacity(request.indices.len());
        for &index in &request.indices {
            if index >= num_txos {
                results.push(OutputResult {
                    index,
                    result_code: OutputResultCode::DoesNotExist as u32,
                    output: None,
                    proof: None,
                });
                continue;
            }
            // No index in the message: which outputs a client asked for stays out of the logs.
            let tx_out = snapshot.tx_out(index)?.ok_or_else(|| {
                LedgerServerError::Inconsistent("a TxOut below the TxOut count is absent".into())
            })?;
            let proof = proofs
                .next()
                .ok_or_else(|| LedgerServerError::Inconsistent("a proof is missing".into()))?;
            results.push(OutputResult {
                index,
                result_code: OutputResultCode::Exists as u32,
                output: Some(tx_out.to_wire()),
                proof: Some(proof.to_wire()),
            });
        }
        let response = GetOutputsResponse {
            results,
            num_blocks,
            global_txo_count: num_txos,
            latest_block_version,
            max_block_version: max_block_version(latest_block_version),
        };
        let sealed = self.enclave().seal_get_outputs(&channel_id, response, t)?;
        self.metrics.get_outputs.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .outputs_requested
            .fetch_add(request.indices.len() as u64, Ordering::Relaxed);
        Ok(sealed)
    }

    /// One `GetBlocks` call: every block of the ranges that the ledger holds, in order, each
    /// with its header and key images (Fog's own fields), so that clients can check it against
    /// the ids the enclave attests ([`LedgerServer::block_ids`]). A
    /// range with its start after its end, or more than [`MAX_BLOCKS_PER_CALL`] blocks in all,
    /// is refused. Blocking.
    pub fn get_blocks(&self, ranges: &[BlockRange]) -> Result<BlockResponse, LedgerServerError> {
        let mut total = 0u64;
        for r in ranges {
            if r.start_block > r.end_block {
                return Err(LedgerServerError::InvalidRequest(
                    "a block range ends before it starts",
                ));
            }
            total = total.saturating_add(r.len());
        }
        if total > MAX_BLOCKS_PER_CALL {
            return Err(LedgerServerError::InvalidRequest(
                "too many blocks in one request (at most 1000)",
            ));
        }
        let snapshot = self.ledger.snapshot()?;
        let num_blocks = snapshot.num_blocks()?;
        let mut blocks = Vec::new();
        for r in ranges {
            for index in r.start_block..r.end_block.min(num_blocks) {
                blocks.push(block_data(&snapshot, index)?);
            }
        }
        self.metrics.get_blocks.fetch_add(1, Ordering::Relaxed);
        Ok(BlockResponse {
            blocks,
            num_blocks,
            global_txo_count: snapshot.num_txos()?,
        })
    }

    /// One `GetTxOuts` call: each public key's TxOut index, block and timestamp. Blocking.
    pub fn get_tx_outs(&self, request: &TxOutRequest) -> Result<TxOutResponse, LedgerServerError> {
        if request.tx_out_pubkeys.len() > MAX_TX_OUT_LOOKUPS {
            return Err(LedgerServerError::InvalidRequest(
                "too many public keys in one request (at most 2000)",
            ));
        }
        let keys = request
            .tx_out_pubkeys
            .iter()
            .map(|k| <[u8; 32]>::try_from(k.data.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| LedgerServerError::InvalidRequest("a public key is not 32 bytes"))?;
        let snapshot = self.ledger.snapshot()?;
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            let mut result = TxOutResult {
                tx_out_pubkey: Some(CompressedRistretto { data: key.to_vec() }),
                result_code: TxOutResultCode::NotFound as i32,
                tx_out_global_index: 0,
                block_index: 0,
                timestamp: 0,
                timestamp_result_code: TIMESTAMP_FOUND,
            };
            if let Some(index) = snapshot.tx_out_index_by_public_key(&key)? {
                let block = snapshot.block_index_of_tx_out(index)?.ok_or_else(|| {
                    LedgerServerError::Inconsistent("a TxOut found by key has no block".into())
                })?;
                let (timestamp, code) = match snapshot.block_timestamp(block)? {
                    Some(t) => (t, TIMESTAMP_FOUND),
                    None => (0, TIMESTAMP_UNAVAILABLE),
                };
                result.result_code = TxOutResultCode::Found as i32;
                result.tx_out_global_index = index;
                result.block_index = block;
                result.timestamp = timestamp;
                result.timestamp_result_code = code;
            }
            results.push(result);
        }
        self.metrics.get_tx_outs.fetch_add(1, Ordering::Relaxed);
        Ok(TxOutResponse {
            results,
            num_blocks: snapshot.num_blocks()?,
            global_txo_count: snapshot.num_txos()?,
        })
    }
}

/// Refuses a configuration the host cannot run.
fn check_config(config: &LedgerServerConfig) -> Result<(), LedgerServerError> {
    if config.poll_interval.is_zero() {
        return Err(LedgerServerError::Config("poll interval must not be zero"));
    }
    Ok(())
}

/// Starts a fog ledger enclave: evidence from `provider` for the channel key it made.
fn start(enclave: &LedgerClient, provider: &impl Provider) -> Result<(), LedgerServerError> {
    let key = enclave.channel_key()?;
    let evidence = BoundEvidence::bind(provider, &key, None)?;
    enclave.set_evidence(&evidence).map_err(|e| match e {
        LedgerEnclaveError::InvalidConfig => {
            LedgerServerError::Config("unusable key-image capacity")
        }
        e => LedgerServerError::Enclave(e),
    })
}

/// The highest block version this server knows (a `GetOutputs` answer's
/// `max_block_version`).
fn max_block_version(latest: u32) -> u32 {
    latest.max(BlockVersion::MAX.get())
}

fn block_data(snapshot: &LedgerSnapshot, index: u64) -> Result<BlockData, LedgerServerError> {
    let block = snapshot.block(index)?.ok_or_else(|| {
        LedgerServerError::Inconsistent("a block below the block count is absent".into())
    })?;
    let contents = snapshot
        .block_contents(index)?
        .ok_or_else(|| LedgerServerError::Inconsistent("a block has no contents".into()))?;
    let (timestamp, timestamp_result_code) = match snapshot.block_timestamp(index)? {
        Some(t) => (t, TIMESTAMP_FOUND),
        None => (0, TIMESTAMP_UNAVAILABLE),
    };
    let contents = contents.to_wire();
    Ok(BlockData {
        index,
        global_txo_count: block.cumulative_txo_count,
        outputs: contents.outputs,
        timestamp,
        timestamp_result_code,
        block: Some(block.to_wire()),
        key_images: contents.key_images,
    })
}

/// Whether `shutdown` has resolved, without waiting for it.
async fn futures_ready(
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool {
    tokio::select! {
        biased;
        () = shutdown.as_mut() => true,
        () = std::future::ready(()) => false,
    }
}
