//! The ingest controller: one block at a time, in order, exactly once.

use std::time::{Duration, Instant};

use fog_crypto::{kex_rng::KexRngPubkey, CompressedRistrettoPublic, RistrettoPublic};
use fog_enclave::ingest::{IngestEnclave, IngestError as EnclaveError};
use fog_ledger_db::LedgerDb;
use fog_oram::HeapFactory;
use fog_recovery_db::{BlockIndex, IngestInvocationId, RecoveryDb, ReportData};
use rand::{rngs::OsRng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use thiserror::Error;

use crate::StateDir;

/// Why the ingest server stopped or refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The ledger could not be read.
    #[error("ledger: {0}")]
    Ledger(#[from] fog_ledger_db::LedgerError),
    /// The recovery DB failed; `should_retry` says whether waiting can help.
    #[error("recovery DB: {0}")]
    RecoveryDb(#[from] fog_recovery_db::RecoveryDbError),
    /// The enclave refused (payload-free).
    #[error("ingest enclave: {0}")]
    Enclave(#[from] EnclaveError),
    /// The state directory could not be read or written.
    #[error("state directory: {0}")]
    State(std::io::Error),
    /// Another ingest server holds the state directory's lock: two processes on one ingress
    /// key would each open an invocation and decommission the other's.
    #[error("the state directory is in use by another ingest server")]
    StateDirInUse,
    /// A state file is corrupt.
    #[error("state file {0} is corrupt")]
    CorruptState(&'static str),
    /// The ingress key is retired and past its expiry: nothing left to do.
    #[error("the ingress key is retired and past its expiry")]
    Retired,
    /// A block is waiting to be written; retry the request after it lands.
    #[error("a block is being written; retry")]
    Busy,
    /// Another ingest server with the same ingress key already processed this block.
    #[error("block {0} was already processed with this ingress key by another server")]
    LostRace(u64),
    /// The admin token is shorter than [`crate::admin::AdminToken::MIN_LEN`] bytes.
    #[error(
        "the admin token is too short: at least {} bytes",
        crate::admin::AdminToken::MIN_LEN
    )]
    AdminTokenTooShort,
    /// The admin token is not visible ASCII (it must fit in a gRPC metadata value).
    #[error("the admin token must be visible ASCII without spaces")]
    AdminTokenNotAscii,
    /// The admin API would listen beyond loopback with no token.
    #[error("the admin API on {0} (not loopback) needs a token")]
    AdminTokenRequired(std::net::SocketAddr),
    /// The key reported lost is the one this server still scans with.
    #[error("this server still scans with that ingress key; it is not lost")]
    KeyInUse,
}

/// Produces the attestation evidence published with the ingress key in the report.
pub trait EvidenceSource: Send + Sync + 'static {
    /// Evidence binding `ingress_public` (serialized).
    fn evidence(&self, ingress_public: &RistrettoPublic) -> Vec<u8>;
}

/// Evidence from the simulation provider, binding ingest's channel key and the ingress key
/// (`fogd ingest`, `fogd local-network`, and the tests that run the system).
pub struct SimEvidence {
    provider: fog_attest::SimProvider,
    channel: fog_attest::ChannelKeypair,
}

impl SimEvidence {
    /// Evidence from `provider` for a fresh channel key.
    pub fn new(provider: fog_attest::SimProvider) -> Result<Self, fog_attest::Error> {
        Ok(Self {
            provider,
            channel: fog_attest::ChannelKeypair::generate()?,
        })
    }
}

impl EvidenceSource for SimEvidence {
    fn evidence(&self, ingress_public: &RistrettoPublic) -> Vec<u8> {
        let custom = ingress_public.to_bytes();
        match fog_attest::BoundEvidence::bind(
            &self.provider,
            self.channel.public_key(),
            Some(&custom),
        ) {
            Ok(bound) => bound.encode_to_vec(),
            Err(e) => {
                tracing::warn!("no ingest evidence: {e}");
                Vec::new()
            }
        }
    }
}

/// Publishes no evidence (tests, or a report service that attaches its own).
pub struct NoEvidence;

impl EvidenceSource for NoEvidence {
    fn evidence(&self, _: &RistrettoPublic) -> Vec<u8> {
        Vec::new()
    }
}

/// Configuration.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    /// RNG-store capacity (a power of two): rotation happens before it fills.
    pub user_capacity: u64,
    /// How many blocks past the current one a published key stays valid.
    pub pubkey_expiry_window: u64,
    /// The report id this server publishes under.
    pub fog_report_id: String,
    /// The first block a brand-new ingress key scans (raised to the highest known block + 1).
    pub start_block: u64,
    /// How long to wait for a new block.
    pub poll_interval: Duration,
    /// How often the report is published again while no block arrives. The report carries
    /// fresh attestation evidence, and senders refuse evidence older than their limit (the
    /// wallet's is a day), so on an idle chain a report published only per block would age
    /// until nobody could pay. Default [`DEFAULT_REPORT_REPUBLISH_INTERVAL`].
    pub report_republish_interval: Duration,
}

/// The default [`IngestConfig::report_republish_interval`]: one hour, a 24th of the day of
/// evidence age senders accept, so a few failed publishes in a row still leave the served
/// evidence well inside that limit.
pub const DEFAULT_REPORT_REPUBLISH_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            user_capacity: 1 << 18,
            pubkey_expiry_window: 10,
            fog_report_id: String::new(),
            start_block: 0,
            poll_interval: Duration::from_millis(250),
            report_republish_interval: DEFAULT_REPORT_REPUBLISH_INTERVAL,
        }
    }
}

type MakeMap = Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng) + Send + Sync>;
type Enclave = IngestEnclave<HeapFactory, ChaCha20Rng, ChaCha20Rng, MakeMap>;

/// What the server is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestStatus {
    /// The next block to process.
    pub next_block: u64,
    /// The ingress public key.
    pub ingress_public_key: [u8; 32],
    /// The current egress public key.
    pub egress: KexRngPubkey,
    /// The current ingest invocation.
    pub invocation: i64,
    /// The RNG store's load, coarse: see [`coarse_load_percent`].
    pub map_load_percent: u8,
    /// The RNG store's capacity (configured, public).
    pub map_capacity: u64,
}

/// The RNG store's load in whole steps of 10 % (rounded down): 0, 10, …, 100.
///
/// The exact entry count is never exported. It grows by one for each output to a recipient
/// not seen since the last rotation, so its value after every block tells the operator (and
/// anyone reading metrics) how many of that block's outputs went to new recipients, and
/// links payments across blocks. In steps of 10 % the value changes once per
/// `capacity / 10` new recipients, which is enough to see when rotation approaches.
///
/// What stays visible: the block at which the load crosses a step, and the block at which the
/// enclave rotates (the new egress key and invocation are public in the recovery DB). The
/// enclave rotates before a block that could take the store past its threshold, and again if
/// a block hits `MapFull`, so the rotation block says that the store was near full then; with
/// the step it says roughly how many distinct recipients the epoch had. Both are bounded by
/// capacity and say nothing about which outputs were new.
pub fn coarse_load_percent(len: u64, capacity: u64) -> u8 {
    if capacity == 0 {
        return 0;
    }
    let tenths = (u128::from(len.min(capacity)) * 10 / u128::from(capacity)) as u8;
    tenths * 10
}

/// The ingest server: a ledger to follow, a recovery DB to write, an enclave in between.
pub struct IngestServer<D: RecoveryDb> {
    ledger: LedgerDb,
    db: D,
    enclave: Enclave,
    config: IngestConfig,
    ingress_key: CompressedRistrettoPublic,
    invocation: IngestInvocationId,
    next_block: u64,
    evidence: Box<dyn EvidenceSource>,
    state: StateDir,
    blocks_processed: u64,
    txouts_processed: u64,
    /// A block the enclave processed whose records are not yet in the recovery DB. A retry
    /// writes these same records: running the block through the enclave again would advance
    /// the recipients' RNG counters twice and leave holes in their search-key sequences.
    pending: Option<PendingBlock>,
    /// An egress key the enclave uses that has no ingest invocation in the recovery DB yet.
    unregistered_egress: Option<KexRngPubkey>,
    /// When the report was last published (`None`: not yet).
    last_published: Option<Instant>,
}

struct PendingBlock {
    index: u64,
    cumulative_txo_count: u64,
    timestamp: u64,
    txouts: u64,
    records: Vec<fog_transaction::wire::ETxOutRecord>,
}

fn new_rng() -> ChaCha20Rng {
    // The enclave's own entropy: from the OS here, the CPU's RNG in a TEE.
    ChaCha20Rng::from_rng(OsRng).unwrap_or_else(|_| ChaCha20Rng::from_entropy())
}

impl<D: RecoveryDb> IngestServer<D> {
    /// Opens the server: restores (or creates and seals) the ingress key, registers it with
    /// the recovery DB, decides where to resume (the block after the last one this key
    /// scanned), and opens a new ingest invocation there, whose fresh egress key gives clients a
    /// clean break.
    pub async fn open(
        ledger: LedgerDb,
        db: D,
        state: StateDir,
        config: IngestConfig,
        evidence: Box<dyn EvidenceSource>,
    ) -> Result<Self, IngestError> {
        let mut rng = new_rng();
        let platform = state.platform_key(&mut rng)?;
        let make: MakeMap = Box::new(|| (HeapFactory, new_rng()));
        let mut enclave = match state.sealed_ingress_key()? {
            Some(sealed) => {
                let key = Enclave::unseal_ingress_key(&platform, &sealed)?;
                Enclave::with_ingress_key(key, config.user_capacity, new_rng(), make)?
            }
            None => {
                let mut e = Enclave::new(config.user_capacity, new_rng(), make)?;
                state.store_sealed_ingress_key(&e.seal_ingress_key(&platform.public_key()))?;
                e
            }
        };
        let ingress_key = CompressedRistrettoPublic::from(&enclave.ingress_public_key());
        let next_block = match db.get_ingress_key_status(&ingress_key).await? {
            None => {
                db.new_ingress_key(&ingress_key, BlockIndex(config.start_block))
                    .await?
                    .0
            }
            Some(status) => {
                let next = match db.get_last_scanned_block_index(&ingress_key).await? {
                    Some(b) => b.0 + 1,
                    None => status.start_block.0,
                };
                if status.retired && next > status.pubkey_expiry.0 {
                    return Err(IngestError::Retired);
                }
                next
            }
        };
        let prev = state.invocation()?.map(IngestInvocationId);
        let egress = enclave.rotate()?;
        let invocation = db
            .new_ingest_invocation(prev, &ingress_key, &egress, BlockIndex(next_block))
            .await?;
        state.store_invocation(invocation.0)?;
        tracing::info!(next_block, invocation = invocation.0, "ingest opened");
        Ok(Self {
            ledger,
            db,
            enclave,
            config,
            ingress_key,
            invocation,
            next_block,
            evidence,
            state,
            blocks_processed: 0,
            txouts_processed: 0,
            pending: None,
            unregistered_egress: None,
            last_published: None,
        })
    }

    /// The ingress public key senders encrypt fog hints to.
    pub fn ingress_public_key(&self) -> RistrettoPublic {
        self.enclave.ingress_public_key()
    }

    /// What the server is doing.
    pub fn status(&self) -> IngestStatus {
        IngestStatus {
            next_block: self.next_block,
            ingress_public_key: self.ingress_key.0,
            egress: self.enclave.kex_rng_pubkey(),
            invocation: self.invocation.0,
            map_load_percent: coarse_load_percent(
                self.enclave.map_len(),
                self.enclave.map_capacity(),
            ),
            map_capacity: self.enclave.map_capacity(),
        }
    }

    /// Blocks and TxOuts processed since this server opened.
    pub fn processed(&self) -> (u64, u64) {
        (self.blocks_processed, self.txouts_processed)
    }

    /// The ledger's block count now.
    pub fn ledger_block_count(&self) -> Result<u64, IngestError> {
        Ok(self.ledger.num_blocks()?)
    }

    /// The ingress key's status in the recovery DB (retired flag, published expiry).
    pub async fn key_status(&self) -> Result<fog_recovery_db::IngressPublicKeyStatus, IngestError> {
        self.db
            .get_ingress_key_status(&self.ingress_key)
            .await?
            .ok_or(IngestError::CorruptState(
                "ingress key missing from the recovery DB",
            ))
    }

    /// Starts a new egress key (and a new ingest invocation, i.e. RNG record) from the next
    /// block. The old egress key is zeroized inside the enclave.
    pub async fn rotate_egress_key(&mut self) -> Result<(), IngestError> {
        if self.pending.is_some() {
            return Err(IngestError::Busy);
        }
        self.unregistered_egress = Some(self.enclave.rotate()?);
        self.register_egress().await?;
        tracing::info!(
            block = self.next_block,
            invocation = self.invocation.0,
            "egress key rotated by the operator"
        );
        Ok(())
    }

    /// Opens the ingest invocation of an egress key the enclave switched to, starting at the
    /// next block, and records it in the state directory. Safe to call again after a failure.
    async fn register_egress(&mut self) -> Result<(), IngestError> {
        if let Some(egress) = &self.unregistered_egress {
            self.invocation = self
                .db
                .new_ingest_invocation(
                    Some(self.invocation),
                    &self.ingress_key,
                    egress,
                    BlockIndex(self.next_block),
                )
                .await?;
            self.unregistered_egress = None;
            self.state.store_invocation(self.invocation.0)?;
        }
        Ok(())
    }

    /// Retires (or un-retires) the ingress key: reports stop being written, and ingest stops
    /// once it passes the key's last published expiry.
    pub async fn set_retired(&self, retired: bool) -> Result<(), IngestError> {
        self.db
            .retire_ingress_key(&self.ingress_key, retired)
            .await?;
        tracing::info!(retired, "ingress key retirement changed");
        Ok(())
    }

    /// Reports `key` lost: its private key is gone, so the recovery DB marks it lost and turns
    /// the blocks it promised but never scanned, `[max(start, last_scanned + 1),
    /// pubkey_expiry)`, into one missed-block range (a `missing_blocks` user event) that clients
    /// scan with their view keys. Idempotent.
    ///
    /// Refused with [`IngestError::KeyInUse`] for this server's own ingress key while the server
    /// still scans with it, that is unless the key is retired and the server has passed its
    /// expiry: the key is not lost, and marking it so would hide the blocks this server is
    /// about to scan behind a missed range. An unknown key is the recovery DB's
    /// `UnknownIngressKey`.
    pub async fn report_lost_ingress_key(
        &self,
        key: &CompressedRistrettoPublic,
    ) -> Result<(), IngestError> {
        if *key == self.ingress_key {
            let status = self.key_status().await?;
            if !(status.retired && self.next_block > status.pubkey_expiry.0) {
                return Err(IngestError::KeyInUse);
            }
        }
        self.db.report_lost_ingress_key(key).await?;
        tracing::info!(
            key = %hex::encode(key.0),
            "ingress key reported lost; its unscanned blocks are a missed range"
        );
        Ok(())
    }

    /// Publishes the report: the ingress key with its evidence, valid until
    /// `next_block + pubkey_expiry_window`.
    pub async fn publish_report(&mut self) -> Result<(), IngestError> {
        let data = ReportData {
            ingest_invocation_id: Some(self.invocation),
            evidence: self.evidence.evidence(&self.enclave.ingress_public_key()),
            pubkey_expiry: BlockIndex(
                self.next_block
                    .saturating_add(self.config.pubkey_expiry_window),
            ),
        };
        let status = self
            .db
            .set_report(&self.ingress_key, &self.config.fog_report_id, &data)
            .await?;
        self.last_published = Some(Instant::now());
        if status.retired && self.next_block > status.pubkey_expiry.0 {
            return Err(IngestError::Retired);
        }
        Ok(())
    }

    /// Whether [`IngestConfig::report_republish_interval`] has passed since the report was
    /// last published (or it never was).
    pub fn report_due(&self) -> bool {
        self.last_published
            .is_none_or(|t| t.elapsed() >= self.config.report_republish_interval)
    }

    /// Whether the block `p` is stored under this server's ingress key exactly as it would
    /// write it: by this invocation (its last stored block) with these records. That is a
    /// write whose commit succeeded but whose answer was lost; anything else is another
    /// server's block.
    async fn stored_by_us(&self, p: &PendingBlock) -> Result<bool, IngestError> {
        let stored = self
            .db
            .get_tx_outs_by_block_and_key(&self.ingress_key, BlockIndex(p.index))
            .await?;
        if stored.as_deref() != Some(&p.records[..]) {
            return Ok(false);
        }
        let ranges = self.db.get_ingestable_ranges().await?;
        Ok(ranges
            .iter()
            .any(|r| r.id == self.invocation && r.last_ingested_block == Some(BlockIndex(p.index))))
    }

    /// Processes the next block if the ledger has it. Returns whether a block was processed.
    /// The block's records and its "processed" mark are one recovery-DB transaction; after a
    /// failed write, the next call writes the same records again (the enclave is not asked
    /// twice for one block).
    pub async fn process_next_block(&mut self) -> Result<bool, IngestError> {
        if self.pending.is_none() {
            let snapshot = self.ledger.snapshot()?;
            if self.next_block >= snapshot.num_blocks()? {
                drop(snapshot);
                // An idle chain: keep the published evidence fresh.
                if self.report_due() {
                    self.publish_report().await?;
                    tracing::debug!("report republished on an idle chain");
                }
                return Ok(false);
            }
            let index = self.next_block;
            let block = snapshot
                .block(index)?
                .ok_or(IngestError::CorruptState("ledger block"))?;
            let contents = snapshot
                .block_contents(index)?
                .ok_or(IngestError::CorruptState("ledger block contents"))?;
            let timestamp = snapshot.block_timestamp(index)?.unwrap_or(0);
            drop(snapshot);
            let first = block
                .cumulative_txo_count
                .checked_sub(contents.outputs.len() as u64)
                .ok_or(IngestError::CorruptState("ledger cumulative TxOut count"))?;
            self.publish_report().await?;
            let out = self
                .enclave
                .ingest_block(index, first, timestamp, &contents.outputs)?;
            if let Some(egress) = out.rotated_to {
                // Only the latest key matters: an earlier unregistered one signed no block.
                self.unregistered_egress = Some(egress);
                tracing::info!(block = index, "egress key rotated: the RNG store filled up");
            }
            self.pending = Some(PendingBlock {
                index,
                cumulative_txo_count: block.cumulative_txo_count,
                timestamp,
                txouts: contents.outputs.len() as u64,
                records: out.records,
            });
        }
        self.register_egress().await?;
        let p = self
            .pending
            .as_ref()
            .ok_or(IngestError::CorruptState("pending block"))?;
        let status = self
            .db
            .add_block_data(
                self.invocation,
                BlockIndex(p.index),
                p.cumulative_txo_count,
                p.timestamp,
                &p.records,
            )
            .await?;
        if status.block_already_scanned_with_this_key {
            // A retry after a commit whose answer was lost finds its own block: success.
            if !self.stored_by_us(p).await? {
                let index = p.index;
                self.pending = None;
                return Err(IngestError::LostRace(index));
            }
            tracing::info!(
                block = p.index,
                "block already stored by this invocation with these records: an earlier \
                 commit succeeded"
            );
        }
        let p = self
            .pending
            .take()
            .ok_or(IngestError::CorruptState("pending block"))?;
        self.next_block += 1;
        self.blocks_processed += 1;
        self.txouts_processed += p.txouts;
        Ok(true)
    }

    /// Follows the ledger until `shutdown` resolves: processes every block as it appears,
    /// retrying recovery-DB errors that say a retry can help. Returns `Ok` on shutdown, and
    /// `Err(Retired)` when a retired key has passed its expiry (nothing left to do).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        Self::run_shared(std::sync::Arc::new(tokio::sync::Mutex::new(self)), shutdown).await
    }

    /// [`IngestServer::run`] for a server shared with the admin API, which locks it between
    /// blocks.
    pub async fn run_shared(
        server: std::sync::Arc<tokio::sync::Mutex<Self>>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_secs(1);
        let poll = server.lock().await.config.poll_interval;
        loop {
            let result = server.lock().await.process_next_block().await;
            let wait = match result {
                Ok(true) => {
                    backoff = Duration::from_secs(1);
                    continue;
                }
                Ok(false) => poll,
                Err(IngestError::RecoveryDb(e)) if e.should_retry() => {
                    tracing::warn!("recovery DB unavailable, retrying in {:?}", backoff);
                    let w = backoff;
                    backoff = (backoff + Duration::from_secs(1)).min(Duration::from_secs(30));
                    w
                }
                Err(e) => return Err(e),
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
