//! The view enclave: the record store split into partitions that host threads can search in
//! parallel, client sessions, and the query protocol (MobileCoin's `fog_view` messages).
//!
//! # Partitions
//! A record goes to partition `PRF(k, search key) mod P`, with `k` drawn inside the enclave.
//! Each partition is a [`ViewStore`] behind its own lock, so `P` queries (or the partitions
//! of one query) run on `P` cores at once; MobileCoin's store serialises everything behind
//! one lock. With a worker per partition, on a thread the host lends
//! ([`ViewEnclave::run_worker`]), each partition is searched by its own thread, so one query's partitions run in parallel and a partition's hot tree levels stay
//! in one core's cache.
//!
//! What the host sees of a query must not depend on which keys it holds, so a batch of `n`
//! keys is first padded to `K` = the next power of two, and every partition then answers
//! exactly `q(K, P)` slots ([`partition_quota`]: `K/P` plus six standard deviations of the
//! binomial spread, plus 2). The keys are dealt into the partitions' slot lists by an
//! oblivious compaction (masked swaps at public positions, see `deal`); unused slots are
//! padding lookups of the all-zero key, which are indistinguishable in the ORAM trace. The
//! host therefore sees `P` lists of `q` lookups for every query of padded size `K`.
//!
//! The one event that depends on the keys: if a partition is offered more than `q` of a
//! batch's keys, the rest wait for a second round, and the number of rounds is visible.
//! For keys that are pseudorandom (KexRng outputs, as honest clients send) this happens with
//! probability about 10⁻⁹ per partition and query; a client can provoke it only with its own
//! keys (e.g. by repeating one), revealing that it did so. Writes reveal which partition each
//! stored record went to (the host passes the records in); since every query touches every
//! partition equally, that knowledge says nothing about a query except through the overflow
//! event above.
//!
//! Results come back partition by partition, padding included (code NotFound, zero search
//! key): clients match results by search key, as MobileCoin's do, so no oblivious sort back
//! into request order is needed.
//!
//! # What an answer vouches for
//! The host feeds user events and blocks (block marks with their records) through
//! [`ViewEnclave::add_user_events`] and [`ViewEnclave::load_blocks`]; the enclave checks them
//! ([`crate::view_log`]) and answers every query's public part from its own copy: the
//! processed block count it computed, the events after the client's event id (at most
//! [`MAX_EVENTS_PER_ANSWER`] per answer) and the next event id. Only the last known block
//! count and its cumulative TxOut count, which no client decision rests on, come from the
//! host ([`HostCounters`]).
//!
//! # Batches become visible at once
//! A batch is stored with a new epoch number beside every record, while queries go on; a
//! query sees only records of the epoch published when it started, by a constant-time
//! compare. When every partition holds the batch, the enclave publishes its epoch together
//! with its block marks, so a query sees all of a batch or none of it, and never a processed
//! count ahead of the records it rests on.
//!
//! Trust side: trusted. No I/O; the host supplies threads, time and the stream it loads.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub use fog_enclave_api::errors::{ViewEnclaveError, MAX_SEARCH_KEYS};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use fog_attest::{wire::NonceMessage, EnclaveResponder, PeerKey, SessionLimits, UnixSeconds};
use fog_crypto::hash::blake2b256_secret;
use fog_oram::ct::{cswap_u64, ct_eq_u64, ct_lt_u64, mask_from_choice};
use fog_oram::StoreFactory;
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{
    FixedTxOutSearchResult, QueryRequest, QueryRequestAad, QueryResponse, StoreQueryRequest,
    StoreQueryResponse,
};
use prost::Message as _;
use rand_core::{CryptoRng, RngCore};
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

use crate::peers::{PeerChannels, PeerError, Purpose};
use crate::sessions::ClientSessions;
use crate::view::{FixedSearchResult, ViewError, ViewStore, SEARCH_KEY_LEN};
use crate::view_log::LoadLog;
pub use crate::view_log::{BlockMark, LoadError, UserEvent, MAX_EVENTS_PER_ANSWER};

/// Batches of at least this many records are inserted into the partitions in parallel.
pub const PARALLEL_LOAD_MIN: usize = 256;

/// The channels between a view router and its stores: every frame's associated data says
/// so; frames up to 16 MiB (a store's answer to 4096 keys is about 1.5 MB per four
/// partitions); up to 4096 channels (a router keeps one per store and query in flight, and up to 16 idle ones per store) and 256 handshakes
/// under way (a router starting many queries at once opens many channels at once).
pub const STORE_CHANNEL: Purpose = Purpose {
    aad: b"fog-view-store-query-v1",
    max_frame: 16 << 20,
    max_channels: 4096,
    max_pending: 256,
};

/// The padded size of a batch of `n` keys: the next power of two (at least 1).
pub fn padded_batch(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// Slots each of `p` partitions answers for a padded batch of `k` keys: `ceil(k/p)` plus six
/// standard deviations of Binomial(k, 1/p), plus 2; never more than `k`.
pub fn partition_quota(k: usize, p: usize) -> usize {
    if p <= 1 {
        return k;
    }
    let (k64, p64) = (k as u64, p as u64);
    let mean = k64.div_ceil(p64);
    // 6·sqrt(k·(p−1))/p, rounded up.
    let six_sd = (36 * k64 * (p64 - 1)).isqrt() / p64 + 1;
    usize::try_from(mean + six_sd + 2).map_or(k, |q| q.min(k))
}

/// The public counters the host adds to an answer (informational: the client's balance does
/// not rest on them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Blocks the recovery DB knows.
    pub last_known_block_count: u64,
    /// TxOuts up to the last known block.
    pub last_known_block_cumulative_txo_count: u64,
}

/// The loader's side: one load at a time.
#[derive(Debug, Default)]
struct Loading {
    /// The last epoch handed to a batch.
    last_epoch: u64,
    /// A batch failed half-stored (store full or failed, or a load panicked and poisoned the
    /// lock): no more loads.
    broken: bool,
}

/// The view enclave.
pub struct ViewEnclave<F: StoreFactory, M> {
    sessions: ClientSessions,
    parts: Vec<Mutex<ViewStore<F, M>>>,
    /// What the enclave vouches for; read by every query, written when a batch publishes.
    log: Mutex<LoadLog>,
    loading: Mutex<Loading>,
    events_page: usize,
    partition_key: Zeroizing<[u8; 32]>,
    rotor: AtomicUsize,
    padded_keys: AtomicU64,
    /// Each partition's job queue, once a host thread runs its worker
    /// ([`ViewEnclave::run_worker`]).
    workers: Vec<OnceLock<Mutex<mpsc::Sender<Work>>>>,
    /// Partition jobs the workers answered (public: the host lends the threads).
    worker_jobs: AtomicU64,
    /// Attested channels from view routers, once the host enabled them.
    routers: Mutex<Option<PeerChannels>>,
}

/// One partition's slot list of a search: the client's keys, wiped on drop.
type Slots = Zeroizing<Vec<[u8; SEARCH_KEY_LEN]>>;

/// A partition's share of one search: its slots, which of them are real, and where to answer
/// (with the partition's index, so answers can be put back in order).
struct Job {
    slots: Slots,
    real: Vec<Choice>,
    visible: u64,
    reply: mpsc::Sender<(usize, Result<Vec<FixedSearchResult>, ViewError>)>,
}

/// A partition's share of a load: its records under the batch's epoch.
struct LoadJob {
    records: Vec<ETxOutRecord>,
    epoch: u64,
    reply: mpsc::Sender<Result<(), ViewError>>,
}

/// What a partition worker does next.
enum Work {
    Search(Job),
    Load(LoadJob),
}

impl<F: StoreFactory, M> core::fmt::Debug for ViewEnclave<F, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewEnclave")
            .field("partitions", &self.parts.len())
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl<F: StoreFactory, M: RngCore + CryptoRng> ViewEnclave<F, M> {
    /// An enclave answering with `responder`, over the given (empty) partitions; `rng` draws
    /// the partition key.
    pub fn new<R: RngCore + CryptoRng>(
        responder: EnclaveResponder,
        session_capacity: usize,
        limits: SessionLimits,
        partitions: Vec<ViewStore<F, M>>,
        rng: &mut R,
    ) -> Result<Self, ViewEnclaveError> {
        if partitions.is_empty() || partitions.len() > 256 {
            return Err(ViewError::InvalidConfig.into());
        }
        let mut partition_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(partition_key.as_mut());
        let workers = (0..partitions.len()).map(|_| OnceLock::new()).collect();
        Ok(Self {
            sessions: ClientSessions::new(responder, session_capacity, limits),
            parts: partitions.into_iter().map(Mutex::new).collect(),
            log: Mutex::new(LoadLog::default()),
            loading: Mutex::new(Loading::default()),
            events_page: MAX_EVENTS_PER_ANSWER,
            partition_key,
            rotor: AtomicUsize::new(0),
            padded_keys: AtomicU64::new(0),
            workers,
            worker_jobs: AtomicU64::new(0),
            routers: Mutex::new(None),
        })
    }

    /// How many partition workers the host should lend threads to ([`ViewEnclave::run_worker`]
    /// for each of `0..n`): one per partition when there are at least two, else none.
    pub fn worker_partitions(&self) -> usize {
        if self.parts.len() < 2 {
            0
        } else {
            self.parts.len()
        }
    }

    /// Runs partition `partition`'s worker on the calling thread, which the host lends to the
    /// enclave (as an ECALL that returns only when the enclave goes away): the enclave starts
    /// no thread of its own. Once every partition has its worker, each search hands every
    /// partition's slots to that partition's worker and each large load its records, so the
    /// partitions of one query are searched at the same time and each partition's hot tree
    /// levels stay in the cache of the core its worker runs on. (Client threads that took
    /// turns locking every partition moved each partition's working set from core to core:
    /// with two threads the CPU time per key rose by about 60 %.) Until then searches and
    /// loads run on the caller's thread. What the host sees of a query is unchanged: each
    /// partition answers the same `q` lookups.
    ///
    /// The worker holds the enclave only between jobs' starts and ends (a weak reference):
    /// it returns `Ok` when the enclave is dropped. Refused with `InvalidConfig` for a
    /// partition out of range, one that already has a worker, or an enclave of one
    /// partition.
    pub fn run_worker(self: Arc<Self>, partition: usize) -> Result<(), ViewError> {
        if self.worker_partitions() == 0 {
            return Err(ViewError::InvalidConfig);
        }
        let slot = self
            .workers
            .get(partition)
            .ok_or(ViewError::InvalidConfig)?;
        let (tx, rx) = mpsc::channel::<Work>();
        slot.set(Mutex::new(tx))
            .map_err(|_| ViewError::InvalidConfig)?;
        let weak: Weak<Self> = Arc::downgrade(&self);
        drop(self);
        while let Ok(work) = rx.recv() {
            let Some(enclave) = weak.upgrade() else {
                break;
            };
            match work {
                Work::Search(job) => {
                    // A panic inside the store (a bug) answers `Storage` instead of leaving the
                    // searcher without a reply; the store then refuses further use, as after
                    // any ORAM failure.
                    let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                        lock(&enclave.parts[partition]).query_slots_visible(
                            &job.slots,
                            &job.real,
                            job.visible,
                        )
                    }))
                    .unwrap_or(Err(ViewError::Storage));
                    enclave.worker_jobs.fetch_add(1, Ordering::Relaxed);
                    drop(enclave);
                    // The searcher may have given up; nothing to do then. The slots are wiped
                    // when the job drops.
                    let _ = job.reply.send((partition, r));
                }
                Work::Load(job) => {
                    let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
                        lock(&enclave.parts[partition]).add_records_at(&job.records, job.epoch)
                    }))
                    .unwrap_or(Err(ViewError::Storage));
                    drop(enclave);
                    let _ = job.reply.send(r);
                }
            }
        }
        Ok(())
    }

    /// Whether every partition's worker runs (searches and large loads go to them).
    pub fn workers_ready(&self) -> bool {
        self.worker_queues().is_some()
    }

    /// Every partition's job queue, when every partition has its worker.
    fn worker_queues(&self) -> Option<Vec<&Mutex<mpsc::Sender<Work>>>> {
        if self.worker_partitions() == 0 {
            return None;
        }
        self.workers.iter().map(OnceLock::get).collect()
    }

    /// Whether every partition's worker runs ([`ViewEnclave::run_worker`]), and how many
    /// partition searches they have answered.
    pub fn worker_jobs(&self) -> Option<u64> {
        self.worker_queues()
            .map(|_| self.worker_jobs.load(Ordering::Relaxed))
    }

    /// The client sessions (handshakes, evidence).
    pub fn sessions(&self) -> &ClientSessions {
        &self.sessions
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.parts.len()
    }

    /// Records stored, over all partitions.
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| lock(p).len()).sum()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots, over all partitions.
    pub fn capacity(&self) -> u64 {
        self.parts.iter().map(|p| lock(p).capacity()).sum()
    }

    /// The sum of the padded sizes of the batches searched so far (public: the host sees
    /// each batch's size class).
    pub fn padded_keys_answered(&self) -> u64 {
        self.padded_keys.load(Ordering::Relaxed)
    }

    /// Answers a client's NX hello from `peer` (the server's name for the client, normally
    /// its IP address: it bounds how many sessions one client can hold, see
    /// [`ClientSessions`]).
    pub fn auth(
        &self,
        hello: &[u8],
        peer: PeerKey,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, ViewEnclaveError> {
        Ok(self.sessions.accept(hello, peer, now)?)
    }

    fn partition_of(&self, key: &[u8]) -> u64 {
        let h = blake2b256_secret(&[b"fog view partition", self.partition_key.as_ref(), key]);
        let mut w = [0u8; 8];
        w.copy_from_slice(&h[..8]);
        // Multiply-high instead of `%`: no data-dependent division.
        let part = ((u128::from(u64::from_le_bytes(w)) * self.parts.len() as u128) >> 64) as u64;
        w.zeroize();
        part
    }

    /// Events per answer from now on (at least 1; default [`MAX_EVENTS_PER_ANSWER`]).
    pub fn set_events_page(&mut self, events: usize) {
        self.events_page = events.max(1);
    }

    /// The processed block count the enclave vouches for, and the user events it holds.
    pub fn loaded(&self) -> (u64, u64) {
        let log = lock(&self.log);
        (log.processed(), log.event_count())
    }

    /// Makes this a store of the blocks `start..end` only (`end` = `u64::MAX`: open-ended),
    /// before anything is loaded; see [`crate::view_log`]. Its answers to routers say the
    /// range and the processed count from `start`; a client asking it directly is refused
    /// ([`ViewEnclaveError::RangeStore`]) unless `start` is 0.
    pub fn set_blocks(&self, start: u64, end: u64) -> Result<(), LoadError> {
        let _loading = lock(&self.loading);
        let mut log = lock(&self.log);
        if !log.is_untouched() || start >= end {
            return Err(LoadError::BadBlockRange);
        }
        *log = LoadLog::for_blocks(start, end);
        Ok(())
    }

    /// The ledger's block count as the host knows it: a store with a closed range vouches for
    /// missed blocks up to it (see [`crate::view_log`]).
    pub fn set_known_blocks(&self, blocks: u64) {
        let _loading = lock(&self.loading);
        lock(&self.log).set_known_end(blocks);
    }

    /// The blocks this store takes, `start..end` (`end` = `u64::MAX`: open-ended).
    pub fn blocks(&self) -> BlockRange {
        let (start, end) = lock(&self.log).blocks();
        BlockRange::new(start, end)
    }

    /// Lets view routers open attested channels to this store (see
    /// [`crate::view_router`]); `link` must be made for [`STORE_CHANNEL`], with this enclave's
    /// evidence and a verifier that accepts only view enclaves.
    pub fn set_router_link(&self, link: PeerChannels) {
        *lock(&self.routers) = Some(link);
    }

    /// Replaces the evidence the router channels present (refreshed before it grows stale).
    pub fn set_router_evidence(
        &self,
        evidence: fog_attest::BoundEvidence,
    ) -> Result<(), PeerError> {
        match lock(&self.routers).as_mut() {
            Some(link) => link.set_evidence(evidence),
            None => Ok(()),
        }
    }

    /// Answers a router's handshake: the channel id and the reply.
    pub fn router_accept(
        &self,
        hello: &[u8],
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), ViewEnclaveError> {
        let mut routers = lock(&self.routers);
        let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
        Ok(link.accept(hello, now)?)
    }

    /// Answers a router's encoded [`StoreQueryRequest`] frame on `channel_id` with an encoded
    /// [`StoreQueryResponse`] frame: the same search and events as a client's query, with the
    /// store's range, its processed count from the range's start and every slot's result.
    pub fn router_query(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        host: HostCounters,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, ViewEnclaveError> {
        let plaintext = {
            let mut routers = lock(&self.routers);
            let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
            Zeroizing::new(link.open(channel_id, frame, now)?)
        };
        let mut request = StoreQueryRequest::decode(plaintext.as_slice())
            .map_err(|_| ViewEnclaveError::Malformed)?;
        drop(plaintext);
        let aad = request.aad.unwrap_or_default();
        let (answer, truncated) = self.answer(aad, &mut request.get_txos, host)?;
        let mut reply = StoreQueryResponse {
            block_range: Some(self.blocks()),
            response: Some(answer),
            events_truncated: truncated,
            ..StoreQueryResponse::default()
        };
        {
            let log = lock(&self.log);
            reply.loaded_end = log.loaded_end();
            reply.loaded_end_timestamp = reply
                .loaded_end
                .checked_sub(1)
                .and_then(|b| log.timestamp(b))
                .unwrap_or(0);
        }
        let encoded = Zeroizing::new(reply.encode_to_vec());
        wipe_results(
            reply
                .response
                .as_mut()
                .map(|r| r.fixed_tx_out_search_results.as_mut_slice()),
        );
        let mut routers = lock(&self.routers);
        let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
        Ok(link.seal(channel_id, &encoded, now)?)
    }

    /// Appends user events, in the recovery DB's order, after checking them (all or nothing;
    /// see [`crate::view_log`]).
    pub fn add_user_events(&self, events: &[UserEvent]) -> Result<(), LoadError> {
        let _loading = lock(&self.loading);
        lock(&self.log).add_events(events)
    }

    /// Loads whole blocks: their marks (in the recovery DB's write order) and all their
    /// records. The marks are checked first (a refused batch stores nothing); the records
    /// are stored in parallel, one thread per partition for a large batch, and the batch
    /// becomes visible to queries at once, with its marks. A store that fills up or fails
    /// halfway refuses every later load: the host rebuilds with a larger capacity.
    pub fn load_blocks(
        &self,
        marks: &[BlockMark],
        records: &[ETxOutRecord],
    ) -> Result<(), LoadError>
    where
        ViewStore<F, M>: Send,
    {
        self.load_batch(marks, records)
    }

    /// Adds records outside any block (benchmarks and tests): visible at once, but no block
    /// count rests on them. A malformed record stores nothing.
    pub fn add_records(&self, records: &[ETxOutRecord]) -> Result<(), ViewError> {
        self.load_with(&[], records, |by_part, epoch| {
            self.store_in_turn(&by_part, epoch)
        })
        .map_err(store_error)
    }

    /// [`ViewEnclave::add_records`] with each partition's share stored by that partition's
    /// worker for a large batch (at least [`PARALLEL_LOAD_MIN`] records), when the host runs
    /// the workers ([`ViewEnclave::run_worker`]); otherwise on the caller's thread.
    pub fn load_records(&self, records: &[ETxOutRecord]) -> Result<(), ViewError>
    where
        ViewStore<F, M>: Send,
    {
        self.load_batch(&[], records).map_err(store_error)
    }

    /// Stores a batch on the partitions' workers when it is large enough to pay.
    fn load_batch(&self, marks: &[BlockMark], records: &[ETxOutRecord]) -> Result<(), LoadError>
    where
        ViewStore<F, M>: Send,
    {
        self.load_with(marks, records, |by_part, epoch| {
            let workers = match self.worker_queues() {
                Some(w) if records.len() >= PARALLEL_LOAD_MIN => w,
                _ => return self.store_in_turn(&by_part, epoch),
            };
            let mut replies = Vec::new();
            let mut outcome = Ok(());
            for (worker, recs) in workers.iter().zip(by_part) {
                if recs.is_empty() {
                    continue;
                }
                let (tx, rx) = mpsc::channel();
                let sent = lock(worker).send(Work::Load(LoadJob {
                    records: recs,
                    epoch,
                    reply: tx,
                }));
                if sent.is_err() {
                    outcome = Err(ViewError::Storage);
                    break;
                }
                replies.push(rx);
            }
            // Every sent share is waited for, so none is still being stored when the batch's
            // outcome is decided.
            for rx in replies {
                let r = rx.recv().unwrap_or(Err(ViewError::Storage));
                if outcome.is_ok() {
                    outcome = r;
                }
            }
            outcome
        })
    }

    /// Stores each partition's share of a batch, one partition after another.
    fn store_in_turn(&self, by_part: &[Vec<ETxOutRecord>], epoch: u64) -> Result<(), ViewError> {
        self.parts
            .iter()
            .zip(by_part)
            .filter(|(_, recs)| !recs.is_empty())
            .try_for_each(|(part, recs)| lock(part).add_records_at(recs, epoch))
    }

    /// Checks the marks, stores the records with `store` under a new epoch, then publishes
    /// the epoch with the marks.
    fn load_with(
        &self,
        marks: &[BlockMark],
        records: &[ETxOutRecord],
        store: impl FnOnce(Vec<Vec<ETxOutRecord>>, u64) -> Result<(), ViewError>,
    ) -> Result<(), LoadError> {
        let mut loading = match self.loading.lock() {
            Ok(loading) => loading,
            Err(poisoned) => {
                // A load panicked halfway: part of its batch may be stored under an epoch
                // never published, as when a store fails.
                let mut loading = poisoned.into_inner();
                loading.broken = true;
                loading
            }
        };
        if loading.broken {
            return Err(LoadError::Store);
        }
        lock(&self.log).check_marks(marks)?;
        let by_part = self.split(records).map_err(|_| LoadError::Malformed)?;
        let epoch = loading.last_epoch + 1;
        let stored = store(by_part, epoch);
        if let Err(e) = stored {
            // Part of the batch is stored under an epoch never published; a later epoch
            // would show it, so nothing more is loaded.
            loading.broken = true;
            return Err(match e {
                ViewError::Full => LoadError::Full,
                _ => LoadError::Store,
            });
        }
        loading.last_epoch = epoch;
        lock(&self.log).publish(marks, epoch)
    }

    /// Checks a batch and deals it into partitions.
    fn split(&self, records: &[ETxOutRecord]) -> Result<Vec<Vec<ETxOutRecord>>, ViewError> {
        if records.iter().any(|r| {
            r.search_key.len() != SEARCH_KEY_LEN
                || r.payload.is_empty()
                || r.payload.len() > crate::view::MAX_PAYLOAD_LEN
                || r.search_key.iter().all(|&b| b == 0)
        }) {
            return Err(ViewError::MalformedRecord);
        }
        let mut by_part: Vec<Vec<ETxOutRecord>> = vec![Vec::new(); self.parts.len()];
        for r in records {
            by_part[self.partition_of(&r.search_key) as usize].push(r.clone());
        }
        Ok(by_part)
    }

    /// Looks up a batch of keys (see the module docs for what the host sees). Returns one
    /// result per slot: the client's keys' results and padding, partition by partition. With
    /// workers running ([`ViewEnclave::run_worker`]) the partitions are searched in
    /// parallel; the slots each partition answers, and the order of the results, are the same
    /// either way.
    pub fn search(
        &self,
        keys: &[[u8; SEARCH_KEY_LEN]],
    ) -> Result<Vec<FixedSearchResult>, ViewEnclaveError> {
        let visible = lock(&self.log).epoch();
        self.search_visible(keys, visible)
    }

    /// [`ViewEnclave::search`] seeing the batches published up to epoch `visible`.
    fn search_visible(
        &self,
        keys: &[[u8; SEARCH_KEY_LEN]],
        visible: u64,
    ) -> Result<Vec<FixedSearchResult>, ViewEnclaveError> {
        if keys.len() > MAX_SEARCH_KEYS {
            return Err(ViewEnclaveError::TooManyKeys);
        }
        let p = self.parts.len();
        let k = padded_batch(keys.len());
        self.padded_keys.fetch_add(k as u64, Ordering::Relaxed);
        let q = partition_quota(k, p);
        // Which partition holds each key is secret: wiped on drop.
        let part: Zeroizing<Vec<u64>> =
            Zeroizing::new(keys.iter().map(|k| self.partition_of(k)).collect());
        let mut pending = vec![Choice::from(1u8); keys.len()];
        let start = self.rotor.fetch_add(1, Ordering::Relaxed) % p;
        let mut out = Vec::with_capacity(p * q);
        let workers = self.worker_queues().filter(|w| w.len() == p);
        loop {
            // Deal every partition's slots first, in partition order from `start`, then search.
            // Slot lists hold the client's keys: wiped on drop, on every path.
            let mut dealt: Vec<(usize, Slots, Vec<Choice>)> = Vec::with_capacity(p);
            for j in 0..p {
                let pi = (start + j) % p;
                let mut slots = Zeroizing::new(vec![[0u8; SEARCH_KEY_LEN]; q]);
                let mut real = vec![Choice::from(0u8); q];
                deal(keys, &part, &mut pending, pi as u64, &mut slots, &mut real);
                dealt.push((pi, slots, real));
            }
            match &workers {
                Some(workers) => {
                    let (tx, rx) = mpsc::channel();
                    for (pi, slots, real) in dealt {
                        let job = Job {
                            slots,
                            real,
                            visible,
                            reply: tx.clone(),
                        };
                        lock(workers[pi])
                            .send(Work::Search(job))
                            .map_err(|_| ViewError::Storage)?;
                    }
                    drop(tx);
                    let mut answers: Vec<Option<Vec<FixedSearchResult>>> = vec![None; p];
                    for _ in 0..p {
                        let (pi, r) = rx.recv().map_err(|_| ViewError::Storage)?;
                        answers[pi] = Some(r?);
                    }
                    for j in 0..p {
                        let pi = (start + j) % p;
                        out.extend(answers[pi].take().ok_or(ViewError::Storage)?);
                    }
                }
                None => {
                    for (pi, slots, real) in dealt {
                        out.extend(
                            lock(&self.parts[pi]).query_slots_visible(&slots, &real, visible)?,
                        );
                    }
                }
            }
            // The one declassified bit: whether some partition overflowed its quota.
            let left = pending.iter().fold(0u8, |acc, c| acc | c.unwrap_u8());
            if left == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Answers an encrypted `QueryRequest` frame. The frame is opened (authenticated) before
    /// anything else; its aad (authenticated with it) says which events the client has. The
    /// answer's processed count, events and next event id come from the enclave's own log
    /// (module docs); `host` adds the last known block count. The enclave adds one
    /// fixed-size result per slot and seals the answer to the client's session.
    pub fn query(
        &self,
        frame: &NonceMessage,
        host: HostCounters,
        now: UnixSeconds,
    ) -> Result<NonceMessage, ViewEnclaveError> {
        let plaintext = self.sessions.open(frame, now)?;
        let aad = QueryRequestAad::decode(frame.aad.as_slice())
            .map_err(|_| ViewEnclaveError::Malformed)?;
        let mut request =
            QueryRequest::decode(plaintext.as_slice()).map_err(|_| ViewEnclaveError::Malformed)?;
        drop(plaintext);
        if lock(&self.log).blocks().0 > 0 {
            // A store of a later range vouches for nothing from block 0, and its records
            // would be records past what an answer vouches for: routers only.
            request.get_txos.iter_mut().for_each(|k| k.zeroize());
            return Err(ViewEnclaveError::RangeStore);
        }
        let (mut answer, _) = self.answer(aad, &mut request.get_txos, host)?;
        let encoded = Zeroizing::new(answer.encode_to_vec());
        wipe_results(Some(answer.fixed_tx_out_search_results.as_mut_slice()));
        Ok(self.sessions.seal(&frame.channel_id, &encoded, now)?)
    }

    /// The answer to `keys` (wiped here, every copy) with the events after the client's id:
    /// the public part from the enclave's log, one fixed-size result per slot. Also says
    /// whether events were left out of the page.
    fn answer(
        &self,
        aad: QueryRequestAad,
        keys: &mut [Vec<u8>],
        host: HostCounters,
    ) -> Result<(QueryResponse, bool), ViewEnclaveError> {
        let wipe = |keys: &mut [Vec<u8>]| keys.iter_mut().for_each(|k| k.zeroize());
        if keys.len() > MAX_SEARCH_KEYS {
            wipe(keys);
            return Err(ViewEnclaveError::TooManyKeys);
        }
        // A key of the wrong length is answered as the bad (all-zero) key.
        let padded: Zeroizing<Vec<[u8; SEARCH_KEY_LEN]>> = Zeroizing::new(
            keys.iter()
                .map(|k| <[u8; SEARCH_KEY_LEN]>::try_from(k.as_slice()).unwrap_or_default())
                .collect(),
        );
        wipe(keys);
        let snap = lock(&self.log).snapshot(
            aad.start_from_user_event_id,
            aad.start_from_block_index,
            self.events_page,
        );
        let mut results = self.search_visible(&padded, snap.epoch)?;
        drop(padded);
        let mut answer = QueryResponse {
            highest_processed_block_count: snap.processed,
            highest_processed_block_signature_timestamp: snap.processed_timestamp,
            next_start_from_user_event_id: snap.next_event_id,
            last_known_block_count: host.last_known_block_count,
            last_known_block_cumulative_txo_count: host.last_known_block_cumulative_txo_count,
            ..QueryResponse::default()
        };
        for e in snap.events {
            match e {
                UserEvent::NewRng(r) => answer.rngs.push(r),
                UserEvent::Decommission(d) => answer.decommissioned_ingest_invocations.push(d),
                UserEvent::Missing(m) => answer.missed_block_ranges.push(m),
            }
        }
        answer.fixed_tx_out_search_results = results
            .iter()
            .map(|r| FixedTxOutSearchResult {
                search_key: r.search_key.to_vec(),
                result_code: r.result_code,
                ciphertext: r.ciphertext.to_vec(),
                payload_length: r.payload_length,
            })
            .collect();
        for r in &mut results {
            r.search_key.zeroize();
            r.ciphertext.zeroize();
        }
        Ok((answer, snap.truncated))
    }
}

/// Wipes the keys and payloads of results about to be dropped.
fn wipe_results(results: Option<&mut [FixedTxOutSearchResult]>) {
    for r in results.into_iter().flatten() {
        r.search_key.zeroize();
        r.ciphertext.zeroize();
    }
}

/// A load error as the record-only calls report it.
fn store_error(e: LoadError) -> ViewError {
    match e {
        LoadError::Malformed => ViewError::MalformedRecord,
        LoadError::Full => ViewError::Full,
        _ => ViewError::Storage,
    }
}

/// Deals the pending keys of partition `pi` into `slots` (at most `slots.len()` of them, in
/// order), marking them `real` and no longer pending; every other slot becomes padding.
///
/// Constant time, by oblivious compaction: each key of the partition is marked and given its
/// distance `d` to the left (the number of unmarked keys before it), then in round `j` every
/// marked key whose `d` has bit `j` set is swapped `2^j` places left, for `j` = 0, 1, … while
/// `2^j` < n. Marked keys keep their order and never land on one another (after rounds
/// `0..j` a key has moved `d mod 2^j`; for marked keys `a` < `b` the gap `b − a` exceeds
/// `d_b − d_a`, which is at least the difference of their moves), so the partition's keys
/// end up first, in order. Every round swaps every position with a mask: n·log n swaps of
/// four words, instead of offering every key to every slot (n·q moves).
fn deal(
    keys: &[[u8; SEARCH_KEY_LEN]],
    part: &[u64],
    pending: &mut [Choice],
    pi: u64,
    slots: &mut [[u8; SEARCH_KEY_LEN]],
    real: &mut [Choice],
) {
    let n = keys.len();
    let q = slots.len() as u64;
    // Entry: key words, mark mask, distance.
    let mut entries: Vec<[u64; 4]> = Vec::with_capacity(n);
    let mut count = 0u64;
    for (i, ((key, &kp), pend)) in keys.iter().zip(part).zip(pending.iter_mut()).enumerate() {
        let mark = ct_eq_u64(kp, pi) & *pend;
        let m = mask_from_choice(mark);
        let take = mark & ct_lt_u64(count, q);
        *pend &= !take;
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&key[..8]);
        hi.copy_from_slice(&key[8..]);
        entries.push([
            u64::from_le_bytes(lo),
            u64::from_le_bytes(hi),
            m,
            (i as u64).wrapping_sub(count) & m,
        ]);
        lo.zeroize();
        hi.zeroize();
        count += m & 1;
    }
    let mut step = 1usize;
    let mut bit = 0u32;
    while step < n {
        for x in step..n {
            let (left, right) = entries.split_at_mut(x);
            let (a, b) = (&mut left[x - step], &mut right[0]);
            let c = Choice::from(((b[2] & (b[3] >> bit)) & 1) as u8);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                cswap_u64(c, u, v);
            }
        }
        step <<= 1;
        bit += 1;
    }
    for (i, (slot, r)) in slots.iter_mut().zip(real.iter_mut()).enumerate() {
        // `i < n` is public (batch sizes are); `i < count` is not. After the compaction the
        // first `count` entries are exactly the marked ones.
        let mut e = entries.get(i).copied().unwrap_or([0; 4]);
        let is_real = ct_lt_u64(i as u64, count);
        let m = mask_from_choice(is_real);
        slot[..8].copy_from_slice(&(e[0] & m).to_le_bytes());
        slot[8..].copy_from_slice(&(e[1] & m).to_le_bytes());
        *r = is_real;
        e.zeroize();
    }
    for e in &mut entries {
        e.zeroize();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned partition is one whose ORAM failed mid-operation; the store itself is
    // poisoned then too and refuses further use, so the guard is safe to hand out.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// The obvious dealing: the first `q` pending keys of the partition, in order.
    fn reference(
        keys: &[[u8; SEARCH_KEY_LEN]],
        part: &[u64],
        pending: &mut [bool],
        pi: u64,
        q: usize,
    ) -> Vec<Option<[u8; SEARCH_KEY_LEN]>> {
        let mut out = Vec::new();
        for ((k, &p), pend) in keys.iter().zip(part).zip(pending.iter_mut()) {
            if p == pi && *pend && out.len() < q {
                out.push(Some(*k));
                *pend = false;
            }
        }
        out.resize(q, None);
        out
    }

    #[test]
    fn dealing_matches_the_obvious_one_including_overflow() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for n in [0usize, 1, 2, 3, 7, 8, 33, 100, 257] {
            for parts in [1u64, 2, 3, 5] {
                for q in [0usize, 1, 4, n / 3 + 1, n, n + 1, padded_batch(n)] {
                    let keys: Vec<[u8; SEARCH_KEY_LEN]> = (0..n)
                        .map(|_| {
                            let mut k = [0u8; SEARCH_KEY_LEN];
                            rng.fill_bytes(&mut k);
                            k
                        })
                        .collect();
                    // Skewed partitions, so that some overflow their quota.
                    let part: Vec<u64> = (0..n)
                        .map(|_| (rng.next_u64() % (parts * 2)).min(parts - 1))
                        .collect();
                    let mut pending: Vec<Choice> = (0..n)
                        .map(|_| Choice::from((rng.next_u32() % 4 != 0) as u8))
                        .collect();
                    let mut pend_ref: Vec<bool> = pending.iter().map(|c| bool::from(*c)).collect();
                    for round in 0..2 {
                        for pi in 0..parts {
                            let want = reference(&keys, &part, &mut pend_ref, pi, q);
                            let mut slots = vec![[0xAAu8; SEARCH_KEY_LEN]; q];
                            let mut real = vec![Choice::from(1u8); q];
                            deal(&keys, &part, &mut pending, pi, &mut slots, &mut real);
                            for (i, w) in want.iter().enumerate() {
                                assert_eq!(
                                    bool::from(real[i]),
                                    w.is_some(),
                                    "{n} {parts} {q} {round} {pi} {i}"
                                );
                                assert_eq!(slots[i], w.unwrap_or([0u8; SEARCH_KEY_LEN]));
                            }
                            let got: Vec<bool> = pending.iter().map(|c| bool::from(*c)).collect();
                            assert_eq!(got, pend_ref);
                        }
                    }
                }
            }
        }
    }
}
