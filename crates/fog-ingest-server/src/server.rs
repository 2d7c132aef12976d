//! The ingest controller: one block at a time, in order, exactly once.
//!
//! Untrusted side. Every enclave call goes through the byte boundary
//! ([`fog_enclave_api::ingest::IngestClient`] over the [`SharedEnclave`] the loader injects):
//! the host holds the enclave's public keys, its ingress key sealed, and the records it
//! returns; never a private key.

use std::time::{Duration, Instant};

use fog_crypto::{kex_rng::KexRngPubkey, CompressedRistrettoPublic, RistrettoPublic};
use fog_enclave_api::errors::{IngestError as EnclaveError, PeerError};
use fog_enclave_api::ingest::IngestClient;
use fog_enclave_api::SharedEnclave;
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{
    BlockIndex, IngestInvocationId, RecoveryDb, RecoveryDbError, ReportData, TakeOver,
};
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
    /// The key reported lost is the one this server still scans with.
    #[error("this server still scans with that ingress key; it is not lost")]
    KeyInUse,
    /// Another server took over this server's invocation (the recovery DB refused its
    /// write): this server went idle.
    #[error("another server took over this ingress key; this server is idle")]
    Fenced,
    /// The call needs an idle server.
    #[error("the server is active; this needs an idle server")]
    Active,
    /// The call needs an active server.
    #[error("the server is idle; this needs an active server")]
    Idle,
    /// Activation on a retired ingress key.
    #[error("the ingress key {0} is retired: no server can be activated on it")]
    KeyRetired(String),
    /// Activation on an ingress key reported lost.
    #[error("the ingress key {0} was reported lost: no server can be activated on it")]
    KeyLost(String),
    /// A peer is active, so this server may not be.
    #[error("peer {0} is active")]
    PeerActive(String),
    /// `unretire` after the retire took effect.
    #[error("the retire took effect: the key's expiry block {0} was scanned")]
    RetireTookEffect(u64),
    /// A pubkey expiry window of zero.
    #[error("the pubkey expiry window must be at least 1 block")]
    BadWindow,
    /// This server has no peer channels configured.
    #[error("this server has no attested peer channels (no evidence provider for peers)")]
    NoPeerLink,
    /// A peer enclave channel call failed, or the enclave refused its peer evidence.
    #[error("peer channel: {0}")]
    Peer(PeerError),
    /// The evidence source is meant to make peer evidence and could not.
    #[error("peer evidence: {0}")]
    PeerEvidence(#[source] fog_attest::Error),
    /// Talking to a peer server failed.
    #[error("peer {uri}: {reason}")]
    PeerUnreachable {
        /// The peer.
        uri: String,
        /// What failed.
        reason: String,
    },
    /// A peer URI that does not parse.
    #[error("bad peer URI {0}")]
    BadPeerUri(String),
}

/// Produces the attestation evidence of the enclave: bound to the public keys the enclave
/// gives (its channel key, made inside, and the ingress public key), by the host's provider
/// (which, like SGX's quoting enclave, sits outside).
pub trait EvidenceSource: Send + Sync + 'static {
    /// Evidence for the report (serialized `attest.BoundEvidence`), binding the enclave's
    /// `channel_key` and `ingress_public`; empty when there is none.
    fn evidence(&self, channel_key: &[u8; 32], ingress_public: &RistrettoPublic) -> Vec<u8>;

    /// Evidence the enclave presents to its peer enclaves, binding its `channel_key` alone.
    /// `Ok(None)`: this source makes none (the server then shares no key); an error: it is
    /// meant to and failed (at start the server then does not open; at a refresh the evidence
    /// installed before stays and the next handshake tries again). Made at start and again
    /// every [`PEER_EVIDENCE_REFRESH`].
    fn peer_evidence(
        &self,
        channel_key: &[u8; 32],
    ) -> Result<Option<fog_attest::BoundEvidence>, fog_attest::Error> {
        let _ = channel_key;
        Ok(None)
    }
}

/// How often the evidence the enclave presents to its peers is made again (peers accept it
/// for a day).
pub const PEER_EVIDENCE_REFRESH: Duration = Duration::from_secs(3600);

/// Evidence from a provider (simulated, or configfs-tsm in a confidential VM), binding the
/// ingest enclave's channel key and, in the report, its ingress key (`fogd ingest`, `fogd
/// local-network`, and the tests that run the system).
pub struct ProviderEvidence {
    provider: std::sync::Arc<dyn fog_attest::Provider>,
}

impl ProviderEvidence {
    /// Evidence from `provider`.
    pub fn new(provider: std::sync::Arc<dyn fog_attest::Provider>) -> Self {
        Self { provider }
    }

    /// Simulated evidence.
    pub fn sim(provider: fog_attest::SimProvider) -> Self {
        Self::new(std::sync::Arc::new(provider))
    }

    /// The verifier of peers for an enclave whose evidence `provider` simulates (for its
    /// loader): peers must show the same simulated identity under the same quoting key,
    /// evidence up to a day old.
    pub fn sim_peer_verifier(provider: &fog_attest::SimProvider) -> fog_attest::Verifier {
        fog_attest::Verifier::new(
            provider.trust_anchor(),
            fog_attest::Policy::new(
                vec![fog_attest::IdentityRule::Measurement(
                    provider.identity().measurement,
                )],
                24 * 3600,
            ),
        )
    }

    fn bind(
        &self,
        channel_key: &[u8; 32],
        custom: Option<&[u8; 32]>,
    ) -> Result<fog_attest::BoundEvidence, fog_attest::Error> {
        fog_attest::BoundEvidence::bind(&self.provider, channel_key, custom)
    }
}

impl EvidenceSource for ProviderEvidence {
    fn evidence(&self, channel_key: &[u8; 32], ingress_public: &RistrettoPublic) -> Vec<u8> {
        match self.bind(channel_key, Some(ingress_public.as_bytes())) {
            Ok(bound) => bound.encode_to_vec(),
            Err(e) => {
                tracing::warn!("no ingest evidence: {e}");
                Vec::new()
            }
        }
    }

    /// Always meant to make peer evidence: a provider that fails is an error.
    fn peer_evidence(
        &self,
        channel_key: &[u8; 32],
    ) -> Result<Option<fog_attest::BoundEvidence>, fog_attest::Error> {
        self.bind(channel_key, None).map(Some)
    }
}

/// Publishes no evidence and shares no key (tests, or a report service that attaches its
/// own).
pub struct NoEvidence;

impl EvidenceSource for NoEvidence {
    fn evidence(&self, _: &[u8; 32], _: &RistrettoPublic) -> Vec<u8> {
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
    /// Failover: an idle server takes over its ingress key (with the shared key, from the
    /// next unscanned block) when no invocation of the key has written a block or a heartbeat
    /// for this long and no peer says it is active. `None`: never (a server on its own).
    pub failover_timeout: Option<Duration>,
    /// How often an active server writes a heartbeat (when no block did) and checks that it
    /// still holds its key; keep it well under [`Self::failover_timeout`].
    pub heartbeat_interval: Duration,
    /// How often an active server asks its peers for their keys and gives its own to any
    /// peer that holds another.
    pub peer_sync_interval: Duration,
    /// Threads lent to the enclave for its per-TxOut public-key work (hint decryption, key
    /// exchanges, crypto boxes), besides the thread that ingests (which runs the map step and
    /// helps). Default: the cores of this machine but one; 0 runs every block on one thread.
    pub worker_threads: usize,
}

/// The default [`IngestConfig::worker_threads`]: every core but the ingesting thread's.
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
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
            failover_timeout: None,
            heartbeat_interval: Duration::from_secs(1),
            peer_sync_interval: Duration::from_secs(5),
            worker_threads: default_worker_threads(),
        }
    }
}

/// Whether a server scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Holds a key and waits: scans nothing, publishes nothing, may take over.
    Idle,
    /// Scans every block and publishes the report, under its own invocation.
    Active,
}

impl Mode {
    /// `"idle"` or `"active"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Idle => "idle",
            Mode::Active => "active",
        }
    }
}

/// Counts of the cluster events a server saw since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterCounters {
    /// Times this server took its key over from a silent invocation (failover).
    pub takeovers: u64,
    /// Times it found its invocation taken over (fenced) and went idle.
    pub fenced: u64,
    /// Ingress keys it received from a peer enclave.
    pub keys_received: u64,
    /// Ingress keys it sent to a peer enclave.
    pub keys_sent: u64,
}

/// What the server is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestStatus {
    /// The next block to process.
    pub next_block: u64,
    /// The ingress public key.
    pub ingress_public_key: [u8; 32],
    /// The current egress public key.
    pub egress: KexRngPubkey,
    /// Idle or active.
    pub mode: Mode,
    /// The invocation this server writes under (active), or `None` (idle).
    pub invocation: Option<i64>,
    /// The RNG store's load in steps of 10 %, as the enclave computed it inside
    /// ([`fog_enclave_api::ingest::coarse_load_percent`]); the host never learns the exact
    /// entry count.
    pub map_load_percent: u8,
    /// The RNG store's capacity (configured, public).
    pub map_capacity: u64,
}

/// The ingest server: a ledger to follow, a recovery DB to write, an enclave in between.
///
/// Idle or active ([`Mode`]). Only an active server scans blocks and publishes the report;
/// it does so under its own ingest invocation, which the recovery DB makes the only live one
/// of its ingress key ([`RecoveryDb::take_over_ingress_key`]): a server whose invocation
/// another server took over can write no block more, learns it at its next write or
/// heartbeat, and goes idle.
pub struct IngestServer<D: RecoveryDb> {
    ledger: LedgerDb,
    db: D,
    enclave: IngestClient,
    config: IngestConfig,
    ingress_key: CompressedRistrettoPublic,
    /// The ingress public key (`ingress_key`, decompressed).
    ingress_public: RistrettoPublic,
    /// The enclave's channel key (made inside; its evidence binds it).
    channel_key: [u8; 32],
    /// The enclave's egress public key, as it last said.
    egress: KexRngPubkey,
    /// The RNG store's coarse load (steps of 10 %) after the last block or rotation, as the
    /// enclave gives it, and its capacity.
    map_load_percent: u8,
    map_capacity: u64,
    /// `Some` while active.
    invocation: Option<IngestInvocationId>,
    next_block: u64,
    evidence: Box<dyn EvidenceSource>,
    /// Where the sealed ingress key is kept.
    state: StateDir,
    blocks_processed: u64,
    txouts_processed: u64,
    /// A block the enclave processed whose records are not yet in the recovery DB. A retry
    /// writes these same records: running the block through the enclave again would advance
    /// the recipients' RNG counters twice and leave holes in their search-key sequences.
    pending: Option<PendingBlock>,
    /// An egress key the enclave uses that has no ingest invocation in the recovery DB yet.
    unregistered_egress: Option<KexRngPubkey>,
    /// The enclave refused a block and its egress key could not be read again since (it may
    /// have rotated before refusing): no block is ingested until it is.
    egress_unchecked: bool,
    /// When the report was last published (`None`: not yet).
    last_published: Option<Instant>,
    /// When the last heartbeat (or block write) touched the invocation.
    last_heartbeat: Instant,
    /// When the enclave's peer evidence was last installed (`None`: the evidence source makes
    /// none, or the enclave takes no peers: no key sharing). Once `Some`, it stays `Some`.
    peer_evidence_at: Option<Instant>,
    /// Peer ingest servers' URIs (their admin listeners, which serve `IngestPeer`).
    peers: Vec<String>,
    counters: ClusterCounters,
    /// The threads lent to the enclave; they return when the server drops.
    _workers: WorkerThreads,
}

struct PendingBlock {
    index: u64,
    cumulative_txo_count: u64,
    timestamp: u64,
    txouts: u64,
    records: Vec<fog_transaction::wire::ETxOutRecord>,
}

/// Which keys [`IngestServer::take_key`] may take.
enum Claim {
    /// The operator's activate: not a retired key.
    Activate,
    /// A restart of a server on its own (`open`): a retired key until its expiry is scanned.
    Resume,
    /// Failover: only when the key's invocations are silent since this time.
    FailOver(std::time::SystemTime),
}

impl<D: RecoveryDb> IngestServer<D> {
    /// Opens the server and makes it active at once: has `enclave` restore (or create and
    /// seal) the ingress key, registers it with the recovery DB, and takes the key with a new
    /// ingest invocation from the block after the last one the key scanned, whose fresh
    /// egress key gives clients a clean break. A server on its own starts this way.
    pub async fn open(
        ledger: LedgerDb,
        db: D,
        state: StateDir,
        config: IngestConfig,
        evidence: Box<dyn EvidenceSource>,
        enclave: SharedEnclave,
    ) -> Result<Self, IngestError> {
        let mut server = Self::open_idle(ledger, db, state, config, evidence, enclave).await?;
        server.take_key(Claim::Resume).await?;
        Ok(server)
    }

    /// Opens the server idle: has `enclave` (an ingest enclave the loader made, with the
    /// platform's sealing-key provider) restore the sealed ingress key in the state directory,
    /// or create one and seal it there, and writes nothing to the recovery DB. When the
    /// evidence source makes peer evidence, installs it in the enclave, which enables key
    /// sharing. [`Self::activate`] or a failover makes it active.
    ///
    /// A source meant to make peer evidence that fails is [`IngestError::PeerEvidence`], and
    /// evidence the enclave refuses is [`IngestError::Peer`]: the server does not open
    /// rather than run without key sharing (an enclave loaded without peers, which takes no
    /// evidence at all, opens without it).
    pub async fn open_idle(
        ledger: LedgerDb,
        db: D,
        state: StateDir,
        config: IngestConfig,
        evidence: Box<dyn EvidenceSource>,
        enclave: SharedEnclave,
    ) -> Result<Self, IngestError> {
        let enclave = IngestClient::new(enclave);
        let workers = lend_worker_threads(&enclave, config.worker_threads);
        let ingress_public = match state.sealed_ingress_key()? {
            Some(sealed) => enclave.restore(&sealed, config.user_capacity)?,
            None => {
                let (public, sealed) = enclave.create(config.user_capacity)?;
                state.store_sealed_ingress_key(&sealed)?;
                public
            }
        };
        let egress = enclave.kex_rng_pubkey()?;
        let load = enclave.map_load()?;
        let channel_key = enclave.channel_key().map_err(IngestError::Peer)?;
        let ingress_key = CompressedRistrettoPublic::from(&ingress_public);
        let mut server = Self {
            ledger,
            db,
            enclave,
            next_block: config.start_block,
            config,
            ingress_key,
            ingress_public,
            channel_key,
            egress,
            map_load_percent: load.percent,
            map_capacity: load.capacity,
            invocation: None,
            evidence,
            state,
            blocks_processed: 0,
            txouts_processed: 0,
            pending: None,
            unregistered_egress: None,
            egress_unchecked: false,
            last_published: None,
            last_heartbeat: Instant::now(),
            peer_evidence_at: None,
            peers: Vec::new(),
            counters: ClusterCounters::default(),
            _workers: workers,
        };
        server.attest_peers()?;
        server.next_block = server.next_unscanned().await?;
        tracing::info!(
            key = %hex::encode(server.ingress_key.0),
            next_block = server.next_block,
            "ingest opened idle"
        );
        Ok(server)
    }

    /// The first block the key has not scanned: after its last stored block, else its start
    /// block, else (a key the recovery DB does not know) the configured start.
    async fn next_unscanned(&self) -> Result<u64, IngestError> {
        let Some(status) = self.db.get_ingress_key_status(&self.ingress_key).await? else {
            return Ok(self.config.start_block);
        };
        Ok(
            match self
                .db
                .get_last_scanned_block_index(&self.ingress_key)
                .await?
            {
                Some(b) => b.0.saturating_add(1),
                None => status.start_block.0,
            },
        )
    }

    /// Installs fresh peer evidence in the enclave, if the evidence source makes any: the
    /// enclave's peer channels present it. `Ok` with nothing installed when the source makes
    /// none or the enclave was loaded without peers; an error when the source fails
    /// ([`IngestError::PeerEvidence`]) or the enclave refuses the evidence
    /// ([`IngestError::Peer`]), and the evidence installed before, if any, stays.
    fn attest_peers(&mut self) -> Result<(), IngestError> {
        let Some(evidence) = self
            .evidence
            .peer_evidence(&self.channel_key)
            .map_err(IngestError::PeerEvidence)?
        else {
            return Ok(());
        };
        match self.enclave.set_evidence(&evidence) {
            Ok(()) => {
                self.peer_evidence_at = Some(Instant::now());
                Ok(())
            }
            Err(PeerError::Boundary(fog_enclave_api::EnclaveError::Unsupported)) => {
                tracing::info!("the ingest enclave was loaded without peers: no key sharing");
                Ok(())
            }
            Err(e) => Err(IngestError::Peer(e)),
        }
    }

    /// Checks that the enclave has attested peer channels ([`IngestError::NoPeerLink`]
    /// otherwise: the evidence source makes no peer evidence or the enclave takes no peers,
    /// for good, since [`Self::open_idle`] does not open when evidence meant for peers fails);
    /// before a handshake (`fresh`), renews their evidence once it is
    /// [`PEER_EVIDENCE_REFRESH`] old. A failed renewal is logged and leaves the evidence
    /// installed before (peers accept it for a day), so the next handshake tries again.
    fn peer_link(&mut self, fresh: bool) -> Result<(), IngestError> {
        let at = self.peer_evidence_at.ok_or(IngestError::NoPeerLink)?;
        if fresh && at.elapsed() >= PEER_EVIDENCE_REFRESH {
            if let Err(e) = self.attest_peers() {
                tracing::warn!("could not renew the peer evidence, the last one stays: {e}");
            }
        }
        Ok(())
    }

    /// Whether the enclave has attested peer channels (it can share its ingress key).
    pub fn has_peer_link(&self) -> bool {
        self.peer_evidence_at.is_some()
    }

    /// The peers' URIs.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// Replaces the peers' URIs (at start, or `set-peers` at run time).
    pub fn set_peers(&mut self, peers: Vec<String>) {
        tracing::info!(?peers, "peers set");
        self.peers = peers;
    }

    /// The configuration in force.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// Changes how many blocks past the next one a published report promises. The recovery
    /// DB never lowers a key's published expiry, so a smaller window only shortens later
    /// promises. Zero is refused (a report nobody could pay with).
    pub fn set_pubkey_expiry_window(&mut self, window: u64) -> Result<(), IngestError> {
        if window == 0 {
            return Err(IngestError::BadWindow);
        }
        self.config.pubkey_expiry_window = window;
        tracing::info!(window, "pubkey expiry window changed");
        Ok(())
    }

    /// Idle or active.
    pub fn mode(&self) -> Mode {
        if self.invocation.is_some() {
            Mode::Active
        } else {
            Mode::Idle
        }
    }

    /// The cluster events since start.
    pub fn counters(&self) -> ClusterCounters {
        self.counters
    }

    /// The ingress public key senders encrypt fog hints to.
    pub fn ingress_public_key(&self) -> RistrettoPublic {
        self.ingress_public
    }

    /// The ingress key in its compressed form (as the recovery DB stores it).
    pub fn ingress_key(&self) -> CompressedRistrettoPublic {
        self.ingress_key
    }

    /// What the server is doing.
    pub fn status(&self) -> IngestStatus {
        IngestStatus {
            next_block: self.next_block,
            ingress_public_key: self.ingress_key.0,
            egress: self.egress.clone(),
            mode: self.mode(),
            invocation: self.invocation.map(|i| i.0),
            map_load_percent: self.map_load_percent,
            map_capacity: self.map_capacity,
        }
    }

    /// The threads lent to the enclave and the tasks they ran (`None` if the enclave does
    /// not answer).
    pub fn workers(&self) -> Option<fog_enclave_api::ingest::Workers> {
        self.enclave.workers().ok()
    }

    /// Blocks and TxOuts processed since this server opened.
    pub fn processed(&self) -> (u64, u64) {
        (self.blocks_processed, self.txouts_processed)
    }

    /// The ledger's block count now.
    pub fn ledger_block_count(&self) -> Result<u64, IngestError> {
        Ok(self.ledger.num_blocks()?)
    }

    /// The ingress key's status in the recovery DB (retired flag, published expiry), or
    /// `None` while the DB does not know the key (a key no server has activated).
    pub async fn key_status(
        &self,
    ) -> Result<Option<fog_recovery_db::IngressPublicKeyStatus>, IngestError> {
        Ok(self.db.get_ingress_key_status(&self.ingress_key).await?)
    }

    /// The recovery DB this server writes.
    pub fn recovery_db(&self) -> &D {
        &self.db
    }

    /// Activates an idle server (the operator's `activate`; the peer check is the caller's,
    /// [`crate::cluster::activate`]): registers the key if the recovery DB does not know it
    /// and takes it with a new invocation, fencing off any other server on the key. Refused
    /// for a retired ([`IngestError::KeyRetired`]) or lost key. Active already: nothing
    /// changes.
    pub async fn activate(&mut self) -> Result<(), IngestError> {
        if self.invocation.is_some() {
            return Ok(());
        }
        self.take_key(Claim::Activate).await.map(|_| ())
    }

    /// Fails over: an idle server takes its key if the key's invocations have been silent
    /// for [`IngestConfig::failover_timeout`]. Returns whether it did. Nothing happens for a
    /// key the recovery DB does not know, a lost key, or a retired key past its expiry.
    pub async fn try_fail_over(&mut self) -> Result<bool, IngestError> {
        let Some(timeout) = self.config.failover_timeout else {
            return Ok(false);
        };
        if self.invocation.is_some() {
            return Ok(false);
        }
        let Some(status) = self.key_status().await? else {
            return Ok(false);
        };
        if status.lost {
            return Ok(false);
        }
        let since = std::time::SystemTime::now()
            .checked_sub(timeout)
            .unwrap_or(std::time::UNIX_EPOCH);
        let took = self.take_key(Claim::FailOver(since)).await?;
        if took {
            self.counters.takeovers += 1;
            tracing::warn!(
                key = %hex::encode(self.ingress_key.0),
                next_block = self.next_block,
                invocation = self.invocation.map(|i| i.0),
                "took over the ingress key: its active server went silent"
            );
        }
        Ok(took)
    }

    async fn take_key(&mut self, claim: Claim) -> Result<bool, IngestError> {
        let status = match self.key_status().await? {
            Some(status) => status,
            None => {
                if matches!(claim, Claim::FailOver(_)) {
                    return Ok(false);
                }
                self.db
                    .new_ingress_key(&self.ingress_key, BlockIndex(self.config.start_block))
                    .await?;
                self.key_status().await?.ok_or(IngestError::CorruptState(
                    "ingress key missing from the recovery DB",
                ))?
            }
        };
        if status.lost {
            return Err(IngestError::KeyLost(hex::encode(self.ingress_key.0)));
        }
        let next = self.next_unscanned().await?;
        let past_expiry = status.retired && next > status.pubkey_expiry.0;
        match claim {
            Claim::Activate if status.retired => {
                return Err(IngestError::KeyRetired(hex::encode(self.ingress_key.0)));
            }
            Claim::Resume if past_expiry => return Err(IngestError::Retired),
            Claim::FailOver(_) if past_expiry => return Ok(false),
            _ => {}
        }
        let condition = match claim {
            Claim::FailOver(since) => TakeOver::IfIdleSince(since),
            Claim::Activate | Claim::Resume => TakeOver::Always,
        };
        let egress = self.rotate()?;
        let Some(took) = self
            .db
            .take_over_ingress_key(&self.ingress_key, &egress, condition)
            .await?
        else {
            return Ok(false);
        };
        self.invocation = Some(took.invocation);
        self.next_block = took.start_block.0;
        self.pending = None;
        self.unregistered_egress = None;
        self.last_published = None;
        self.last_heartbeat = Instant::now();
        tracing::info!(
            next_block = self.next_block,
            invocation = took.invocation.0,
            fenced_off = ?took.decommissioned.iter().map(|i| i.0).collect::<Vec<_>>(),
            "ingest active"
        );
        self.publish_report().await?;
        Ok(true)
    }

    /// Goes idle: drops the block in flight (its records were never stored, so its RNG
    /// counters do not matter: the next invocation starts afresh).
    fn go_idle(&mut self, why: &str) {
        if let Some(inv) = self.invocation.take() {
            tracing::warn!(
                invocation = inv.0,
                next_block = self.next_block,
                "ingest idle: {why}"
            );
        }
        self.pending = None;
        self.unregistered_egress = None;
    }

    /// Fenced: another server's invocation took the key. Idle, counted.
    fn fenced(&mut self) {
        self.counters.fenced += 1;
        self.go_idle("another server took over this ingress key (fenced by the recovery DB)");
    }

    /// An active server's heartbeat: touches its invocation when no block did for
    /// [`IngestConfig::heartbeat_interval`], and checks that the invocation is still the
    /// key's live one; if another server took the key over, goes idle. Returns the mode.
    pub async fn heartbeat(&mut self) -> Result<Mode, IngestError> {
        let Some(inv) = self.invocation else {
            return Ok(Mode::Idle);
        };
        if self.last_heartbeat.elapsed() < self.config.heartbeat_interval {
            return Ok(Mode::Active);
        }
        self.db.update_last_active_at(inv).await?;
        self.last_heartbeat = Instant::now();
        let live = self
            .db
            .get_invocations(Some(&self.ingress_key))
            .await?
            .into_iter()
            .any(|r| r.id == inv && !r.decommissioned);
        if !live {
            self.fenced();
        }
        Ok(self.mode())
    }

    /// Replaces the ingress key with a fresh one (the operator's `new-keys`), sealed to the
    /// state directory. Refused while active: senders hold reports for the current key.
    pub fn new_keys(&mut self) -> Result<(), IngestError> {
        if self.invocation.is_some() {
            return Err(IngestError::Active);
        }
        let public = self.enclave.new_ingress_key()?;
        self.adopt_key(public)?;
        tracing::info!(key = %hex::encode(self.ingress_key.0), "new ingress key");
        Ok(())
    }

    /// After the enclave's ingress key changed: have the enclave seal it, store the sealed
    /// bytes, and follow the new key's progress.
    fn adopt_key(&mut self, public: RistrettoPublic) -> Result<(), IngestError> {
        self.state
            .store_sealed_ingress_key(&self.enclave.seal_ingress_key()?)?;
        self.ingress_key = CompressedRistrettoPublic::from(&public);
        self.ingress_public = public;
        Ok(())
    }

    /// A new egress key and an empty RNG store in the enclave; the new egress public key.
    fn rotate(&mut self) -> Result<KexRngPubkey, IngestError> {
        let egress = self.enclave.rotate()?;
        self.egress = egress.clone();
        self.egress_unchecked = false;
        self.map_load_percent = 0;
        Ok(egress)
    }

    /// The enclave switched to `egress` while scanning block `index`: opens its invocation
    /// at that block (at the next [`Self::register_egress`]). Only the latest key matters:
    /// an earlier unregistered one signed no block.
    fn rotated_in_block(&mut self, index: u64, egress: KexRngPubkey, why: &str) {
        self.egress = egress.clone();
        self.unregistered_egress = Some(egress);
        tracing::info!(block = index, "egress key rotated: {why}");
    }

    /// Reads the RNG store's coarse load again (a failure keeps the last one, logged).
    fn reread_map_load(&mut self) {
        match self.enclave.map_load() {
            Ok(load) => self.map_load_percent = load.percent,
            Err(e) => tracing::warn!("the RNG store's load is unknown: {e}"),
        }
    }

    /// Reads the egress key again after the enclave refused block `index`: it may have
    /// rotated first (a block that still hit a full store after its retries, a storage
    /// failure after a rotation), and a refusal does not name the new key. A new key gets its
    /// invocation at `index` like a rotation the enclave reported, so no record is ever
    /// stored under the invocation of a key the enclave no longer uses. Until a read
    /// succeeds, [`Self::process_next_block`] ingests nothing.
    fn recheck_egress(&mut self, index: u64) -> Result<(), IngestError> {
        self.egress_unchecked = true;
        let egress = self.enclave.kex_rng_pubkey()?;
        if egress != self.egress {
            self.rotated_in_block(index, egress, "the enclave rotated, then refused the block");
        }
        self.egress_unchecked = false;
        Ok(())
    }

    /// Closes a peer channel after its one frame (a failure only leaves it to expire).
    fn close_peer_channel(&self, channel_id: &[u8]) {
        if let Err(e) = self.enclave.peer_close(channel_id) {
            tracing::warn!("could not close a peer channel: {e}");
        }
    }

    /// Starts an attested handshake to a peer enclave: a token and the first message.
    pub fn peer_initiate(&mut self) -> Result<(u64, Vec<u8>), IngestError> {
        self.peer_link(true)?;
        self.enclave.peer_initiate().map_err(IngestError::Peer)
    }

    /// Finishes a handshake this server started; returns the channel id.
    pub fn peer_finish(&mut self, token: u64, response: &[u8]) -> Result<Vec<u8>, IngestError> {
        self.peer_link(false)?;
        self.enclave
            .peer_finish(token, response, fog_attest::UnixSeconds::now())
            .map_err(IngestError::Peer)
    }

    /// Answers a peer enclave's handshake; returns the channel id and the answer.
    pub fn peer_accept(&mut self, request: &[u8]) -> Result<(Vec<u8>, Vec<u8>), IngestError> {
        self.peer_link(true)?;
        self.enclave
            .peer_accept(request, fog_attest::UnixSeconds::now())
            .map_err(IngestError::Peer)
    }

    /// The ingress key sealed for the peer enclave at the other end of `channel_id`.
    pub fn send_ingress_key(&mut self, channel_id: &[u8]) -> Result<Vec<u8>, IngestError> {
        self.peer_link(false)?;
        let frame = self
            .enclave
            .send_ingress_key(channel_id, fog_attest::UnixSeconds::now())
            .map_err(IngestError::Peer)?;
        self.close_peer_channel(channel_id);
        self.counters.keys_sent += 1;
        Ok(frame)
    }

    /// Takes the ingress key a peer enclave sent on `channel_id`, if idle (an active server
    /// keeps the key its reports promise: [`IngestError::Active`]). The key is sealed to the
    /// state directory, so a restart keeps it.
    pub async fn receive_ingress_key(
        &mut self,
        channel_id: &[u8],
        frame: &[u8],
    ) -> Result<(), IngestError> {
        if self.invocation.is_some() {
            return Err(IngestError::Active);
        }
        self.peer_link(false)?;
        let public = self
            .enclave
            .receive_ingress_key(channel_id, frame, fog_attest::UnixSeconds::now())
            .map_err(IngestError::Peer)?;
        self.close_peer_channel(channel_id);
        let changed = CompressedRistrettoPublic::from(&public) != self.ingress_key;
        self.adopt_key(public)?;
        self.next_block = self.next_unscanned().await?;
        self.counters.keys_received += 1;
        if changed {
            tracing::info!(
                key = %hex::encode(self.ingress_key.0),
                "ingress key received from a peer enclave"
            );
        }
        Ok(())
    }

    /// Starts a new egress key (and a new ingest invocation, i.e. RNG record) from the next
    /// block. The old egress key is zeroized inside the enclave. Active servers only.
    pub async fn rotate_egress_key(&mut self) -> Result<(), IngestError> {
        if self.invocation.is_none() {
            return Err(IngestError::Idle);
        }
        if self.pending.is_some() {
            return Err(IngestError::Busy);
        }
        self.unregistered_egress = Some(self.rotate()?);
        self.register_egress().await?;
        tracing::info!(
            block = self.next_block,
            invocation = self.invocation.map(|i| i.0),
            "egress key rotated by the operator"
        );
        Ok(())
    }

    /// Opens the ingest invocation of an egress key the enclave switched to, starting at the
    /// next block. Safe to call again after a failure. A server whose invocation was taken
    /// over goes idle here ([`IngestError::Fenced`]).
    async fn register_egress(&mut self) -> Result<(), IngestError> {
        let (Some(egress), Some(prev)) = (&self.unregistered_egress, self.invocation) else {
            return Ok(());
        };
        // A fenced server must not open an invocation next to the one that took its key
        // (`new_ingest_invocation` only decommissions `prev`): check that `prev` is still
        // live. A take-over between this read and the insert is caught at the next write
        // (the block is already stored under the key: a lost race, and this server goes
        // idle).
        let live = self
            .db
            .get_invocations(Some(&self.ingress_key))
            .await?
            .into_iter()
            .any(|r| r.id == prev && !r.decommissioned);
        if !live {
            self.fenced();
            return Err(IngestError::Fenced);
        }
        match self
            .db
            .new_ingest_invocation(
                Some(prev),
                &self.ingress_key,
                egress,
                BlockIndex(self.next_block),
            )
            .await
        {
            Ok(inv) => {
                self.invocation = Some(inv);
                self.unregistered_egress = None;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Retires the ingress key: reports stop being written, and the active server scans on
    /// until it has scanned the key's last published expiry block, then goes idle. Needs the
    /// key in the recovery DB.
    pub async fn retire(&self) -> Result<(), IngestError> {
        self.db.retire_ingress_key(&self.ingress_key, true).await?;
        tracing::info!("ingress key retired");
        Ok(())
    }

    /// Undoes a retire that has not taken effect (the key's expiry block not yet scanned).
    /// Once it has, the key's promise is over and it stays retired:
    /// [`IngestError::RetireTookEffect`]. Not retired: nothing changes.
    pub async fn unretire(&self) -> Result<(), IngestError> {
        let status = self
            .key_status()
            .await?
            .ok_or(IngestError::RecoveryDb(RecoveryDbError::UnknownIngressKey))?;
        if !status.retired {
            return Ok(());
        }
        if self.next_unscanned().await? > status.pubkey_expiry.0 {
            return Err(IngestError::RetireTookEffect(status.pubkey_expiry.0));
        }
        self.db.retire_ingress_key(&self.ingress_key, false).await?;
        tracing::info!("ingress key retirement undone");
        Ok(())
    }

    /// [`Self::retire`] or [`Self::unretire`].
    pub async fn set_retired(&self, retired: bool) -> Result<(), IngestError> {
        if retired {
            self.retire().await
        } else {
            self.unretire().await
        }
    }

    /// Reports `key` lost: its private key is gone, so the recovery DB marks it lost and turns
    /// the blocks it promised but never scanned, `[max(start, last_scanned + 1),
    /// pubkey_expiry)`, into one missed-block range (a `missing_blocks` user event) that clients
    /// scan with their view keys. Idempotent.
    ///
    /// Refused with [`IngestError::KeyInUse`] for this server's own ingress key while the server
    /// still scans with it, that is while it is active: the key is not lost, and marking it
    /// so would hide the blocks this server is about to scan behind a missed range. An
    /// unknown key is the recovery DB's `UnknownIngressKey`.
    pub async fn report_lost_ingress_key(
        &self,
        key: &CompressedRistrettoPublic,
    ) -> Result<(), IngestError> {
        if *key == self.ingress_key && self.invocation.is_some() {
            return Err(IngestError::KeyInUse);
        }
        self.db.report_lost_ingress_key(key).await?;
        tracing::info!(
            key = %hex::encode(key.0),
            "ingress key reported lost; its unscanned blocks are a missed range"
        );
        Ok(())
    }

    /// Publishes the report: the ingress key with its evidence, valid until
    /// `next_block + pubkey_expiry_window`. Returns [`IngestError::Retired`] (and goes idle,
    /// decommissioning its invocation) once a retired key is past its expiry.
    pub async fn publish_report(&mut self) -> Result<(), IngestError> {
        let Some(inv) = self.invocation else {
            return Err(IngestError::Idle);
        };
        let data = ReportData {
            ingest_invocation_id: Some(inv),
            evidence: self
                .evidence
                .evidence(&self.channel_key, &self.ingress_public),
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
            self.db.decommission_ingest_invocation(inv).await?;
            self.go_idle("the retired ingress key has scanned its last promised block");
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
        Ok(ranges.iter().any(|r| {
            Some(r.id) == self.invocation && r.last_ingested_block == Some(BlockIndex(p.index))
        }))
    }

    /// Processes the next block if the server is active and the ledger has it. Returns
    /// whether a block was processed. The block's records and its "processed" mark are one
    /// recovery-DB transaction; after a failed write, the next call writes the same records
    /// again (the enclave is not asked twice for one block). After each block the report is
    /// published again, so the promise senders read is always `next_block + window`.
    ///
    /// A server that finds its block or invocation taken by another server goes idle and
    /// returns [`IngestError::LostRace`] or [`IngestError::Fenced`]; a retired key past its
    /// expiry goes idle with [`IngestError::Retired`].
    pub async fn process_next_block(&mut self) -> Result<bool, IngestError> {
        if self.invocation.is_none() {
            return Ok(false);
        }
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
            if self.last_published.is_none() {
                self.publish_report().await?;
            }
            if self.egress_unchecked {
                self.recheck_egress(index)?;
            }
            let out = match self
                .enclave
                .ingest_block(index, first, timestamp, &contents.outputs)
            {
                Ok(out) => out,
                Err(e) => {
                    if let Err(again) = self.recheck_egress(index) {
                        tracing::warn!("the egress key is unknown after a refused block: {again}");
                    }
                    self.reread_map_load();
                    return Err(e.into());
                }
            };
            if let Some(egress) = out.rotated_to {
                self.rotated_in_block(index, egress, "the RNG store filled up");
            }
            self.reread_map_load();
            self.pending = Some(PendingBlock {
                index,
                cumulative_txo_count: block.cumulative_txo_count,
                timestamp,
                txouts: contents.outputs.len() as u64,
                records: out.records,
            });
        }
        self.register_egress().await?;
        let (Some(inv), Some(p)) = (self.invocation, self.pending.as_ref()) else {
            return Err(IngestError::CorruptState("pending block"));
        };
        let status = match self
            .db
            .add_block_data(
                inv,
                BlockIndex(p.index),
                p.cumulative_txo_count,
                p.timestamp,
                &p.records,
            )
            .await
        {
            Err(RecoveryDbError::InvocationDecommissioned(_)) => {
                self.fenced();
                return Err(IngestError::Fenced);
            }
            other => other?,
        };
        if status.block_already_scanned_with_this_key {
            // A retry after a commit whose answer was lost finds its own block: success.
            if !self.stored_by_us(p).await? {
                let index = p.index;
                // Another invocation on this key (opened outside the fencing, or before it)
                // won the block: stop writing under ours, so clients stop waiting on it.
                self.db.decommission_ingest_invocation(inv).await?;
                self.counters.fenced += 1;
                self.go_idle("another server on this ingress key stored this block first");
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
        self.last_heartbeat = Instant::now();
        // The promise moves with the scan: a sender reading the report now gets
        // `next_block + window`, never a block already behind.
        self.publish_report().await?;
        Ok(true)
    }

    /// Follows the ledger until `shutdown` resolves: processes every block as it appears,
    /// retrying recovery-DB errors that say a retry can help. Returns `Ok` on shutdown. A
    /// server that goes idle (fenced, lost race, retired) keeps running idle.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        Self::run_shared(std::sync::Arc::new(tokio::sync::Mutex::new(self)), shutdown).await
    }

    /// [`IngestServer::run`] for a server shared with the admin API, which locks it between
    /// blocks. Also runs the cluster duties ([`crate::cluster::run_duties`]) in a task of
    /// their own: heartbeats, key sharing with peers, failover.
    pub async fn run_shared(
        server: std::sync::Arc<tokio::sync::Mutex<Self>>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), IngestError> {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_secs(1);
        let poll = server.lock().await.config.poll_interval;
        // The cluster duties run beside the block loop: a slow or unreachable peer never
        // holds up a block.
        let _duties = AbortOnDrop(tokio::spawn(crate::cluster::run_duties(
            std::sync::Arc::clone(&server),
        )));
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
                // Went idle; the reason is logged.
                Err(IngestError::LostRace(_) | IngestError::Fenced | IngestError::Retired) => poll,
                Err(e) => return Err(e),
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Aborts the task when dropped (the cluster duties end with the block loop).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Threads lent to an ingest enclave ([`lend_worker_threads`]); dropping this stops them.
#[must_use = "dropping the threads stops them at once"]
pub struct WorkerThreads {
    enclave: IngestClient,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerThreads")
            .field("threads", &self.threads.len())
            .finish()
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        if let Err(e) = self.enclave.stop_workers() {
            tracing::warn!(
                "cannot stop the ingest enclave's {} worker threads (left running): {e}",
                self.threads.len()
            );
            return;
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Lends `enclave` `n` threads for its public-key work (`IngestClient::run_worker`, a call
/// that returns when the threads are stopped) and waits, at most five seconds, until they
/// run. A thread that cannot be started leaves the work to fewer threads (logged): blocks
/// are ingested all the same, only slower.
pub fn lend_worker_threads(enclave: &IngestClient, n: usize) -> WorkerThreads {
    let mut threads = Vec::with_capacity(n);
    // An enclave whose workers were stopped (by an earlier server over it) sends a lent
    // thread home at once: ingest runs on the ingesting thread alone then.
    let stopped = enclave.workers().map_or(true, |w| w.stopped);
    if stopped && n > 0 {
        tracing::warn!(
            "the ingest enclave's worker threads were stopped: blocks run on one thread"
        );
    }
    for i in (0..n).filter(|_| !stopped) {
        let e = enclave.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ingest-worker-{i}"))
            .spawn(move || {
                if let Err(err) = e.run_worker() {
                    tracing::warn!("ingest worker thread {i}: {err}");
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(err) => {
                tracing::warn!("cannot start an ingest worker thread: {err}");
                break;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let running = || {
        enclave
            .workers()
            .map_or(true, |w| w.lent as usize >= threads.len())
    };
    while !threads.is_empty() && !running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    WorkerThreads {
        enclave: enclave.clone(),
        threads,
    }
}
