//! Loading: the recovery DB's user events, in id order, then its stored blocks, in write
//! order, into the enclave (services.md 3.3, "Loading"). The enclave checks both and
//! computes the highest processed block count itself (`fog_enclave::view_log`); the loader
//! only moves data and adds the last known block count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fog_enclave_api::errors::ViewEnclaveError;
use fog_enclave_api::view::{BlockMark, UserEvent, ViewClient, ViewStatus};
use fog_enclave_api::{EnclaveError, SharedEnclave};
use fog_recovery_db::{BlockIndex, BlockSpan, FogUserEvent, RecordCursor, RecoveryDb, UserEventId};
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{DecommissionedIngestInvocation, RngRecord};

use crate::{ViewConfig, ViewServerError};

/// How often a store whose closed range is complete reads the recovery DB's records again.
const COMPLETE_STORE_REREAD: std::time::Duration = std::time::Duration::from_secs(30);

/// Where loading stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStatus {
    /// The processed block count the enclave vouches for.
    pub highest_processed_block_count: u64,
    /// User events the enclave holds.
    pub user_events: u64,
    /// Blocks the recovery DB knows (highest stored block + 1).
    pub last_known_block_count: u64,
    /// TxOuts up to the last known block.
    pub last_known_cumulative_txo_count: u64,
    /// Records in the store.
    pub records: u64,
    /// Whether the last poll found nothing new to load.
    pub caught_up: bool,
}

#[derive(Default)]
struct State {
    cursor: RecordCursor,
    /// When the records were last read while the store's closed range was complete.
    complete_since: Option<std::time::Instant>,
    /// The recovery DB's id of the last user event loaded.
    events: UserEventId,
    status: LoadStatus,
}

/// A recovery-DB event as the enclave takes it.
fn to_enclave_event(e: FogUserEvent) -> UserEvent {
    match e {
        FogUserEvent::NewRngRecord(rec) => UserEvent::NewRng(RngRecord {
            ingest_invocation_id: rec.ingest_invocation_id.0,
            pubkey: Some(rec.pubkey),
            start_block: rec.start_block.0,
        }),
        FogUserEvent::DecommissionIngestInvocation {
            id,
            last_ingested_block,
        } => UserEvent::Decommission(DecommissionedIngestInvocation {
            ingest_invocation_id: id.0,
            last_ingested_block: last_ingested_block.0,
        }),
        FogUserEvent::MissingBlocks(range) => {
            UserEvent::Missing(BlockRange::new(range.start().0, range.end().0))
        }
    }
}

/// The view server: the enclave and the loading state. Share it in an `Arc`.
pub struct ViewServer<D> {
    pub(crate) db: Arc<D>,
    pub(crate) enclave: ViewClient,
    /// The threads lent to the enclave's partition workers; dropping the server stops the
    /// enclave, and they return.
    _workers: WorkerThreads,
    state: Mutex<State>,
    config: ViewConfig,
    pub(crate) queries: AtomicU64,
    /// The enclave's padded key count and capacity when it last answered: what the metrics
    /// show while it does not (a counter that fell to 0 would read as a reset).
    padded_keys: AtomicU64,
    capacity: AtomicU64,
}

impl<D> core::fmt::Debug for ViewServer<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewServer")
            .field("status", &self.lock().status)
            .finish_non_exhaustive()
    }
}

impl<D> ViewServer<D> {
    /// Where loading stands.
    pub fn status(&self) -> LoadStatus {
        self.lock().status
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<D: RecoveryDb> ViewServer<D> {
    /// A server over `db` and `enclave` (a view enclave, its evidence installed:
    /// `ViewClient::attest`); nothing is loaded until [`ViewServer::poll`] or
    /// [`ViewServer::run`]. With two or more partitions the host lends the enclave one thread
    /// per partition worker ([`lend_worker_threads`]). Dropping the server stops the enclave.
    ///
    /// Attest the enclave first: one that has not started yet tells the host no workers, so
    /// the server then searches on the callers' threads for good (logged as an error, not
    /// refused: the server still answers, only slower).
    pub fn new(db: Arc<D>, enclave: SharedEnclave, config: ViewConfig) -> Self {
        let enclave = ViewClient::new(enclave);
        let workers = lend_worker_threads(&enclave);
        Self {
            db,
            enclave,
            _workers: workers,
            state: Mutex::new(State::default()),
            config,
            queries: AtomicU64::new(0),
            padded_keys: AtomicU64::new(0),
            capacity: AtomicU64::new(0),
        }
    }

    /// The enclave.
    pub fn enclave(&self) -> &ViewClient {
        &self.enclave
    }

    /// Queries answered, and search keys looked up (padded batch sizes, which are public)
    /// since start; while the enclave does not answer, the last count it gave (a counter
    /// never goes back).
    pub fn counters(&self) -> (u64, u64) {
        let keys = match self.enclave_status() {
            Some(s) => s.padded_keys,
            None => self.padded_keys.load(Ordering::Relaxed),
        };
        (self.queries.load(Ordering::Relaxed), keys)
    }

    /// The store's slots, over all partitions; while the enclave does not answer, the last
    /// count it gave (0 before it ever did).
    pub fn capacity(&self) -> u64 {
        match self.enclave_status() {
            Some(s) => s.capacity,
            None => self.capacity.load(Ordering::Relaxed),
        }
    }

    /// The enclave's status, remembering its counts; `None` (logged) when it does not answer.
    fn enclave_status(&self) -> Option<ViewStatus> {
        match self.enclave.status() {
            Ok(s) => {
                self.padded_keys.store(s.padded_keys, Ordering::Relaxed);
                self.capacity.store(s.capacity, Ordering::Relaxed);
                Some(s)
            }
            Err(e) => {
                tracing::debug!("view enclave status: {e}");
                None
            }
        }
    }

    /// Loads everything the recovery DB has that the store does not, in batches of
    /// `batch_records`, then advances the processed block count. Returns the records loaded.
    /// `progress` is called after each batch with the records loaded so far.
    pub async fn poll_with_progress(
        &self,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ViewServerError> {
        // Events first: every block read below was written after its invocation's event.
        let since = self.lock().events;
        let (events, next) = self.db.search_user_events(since).await?;
        if !events.is_empty() {
            let events: Vec<UserEvent> = events.into_iter().map(to_enclave_event).collect();
            self.enclave.add_user_events(events)?;
        }
        self.lock().events = next;
        let mut loaded = 0u64;
        // A store whose closed range is complete re-reads the records only now and then (a
        // late block of its range, from another ingress key, is still loaded): each read
        // walks the index entries of every later block of the chain.
        let end = self.config.blocks.end_block;
        let complete = end != u64::MAX && self.enclave.loaded()?.0 >= end;
        let skip = {
            let mut st = self.lock();
            match (complete, st.complete_since) {
                (true, Some(t)) if t.elapsed() < COMPLETE_STORE_REREAD => true,
                (true, _) => {
                    st.complete_since = Some(std::time::Instant::now());
                    false
                }
                (false, _) => {
                    st.complete_since = None;
                    false
                }
            }
        };
        if skip {
            self.advance().await?;
            self.lock().status.caught_up = true;
            return Ok(0);
        }
        loop {
            let cursor = self.lock().cursor;
            let batch = self
                .db
                .get_records_since_in(cursor, self.config.batch_records, self.span())
                .await?;
            if batch.blocks.is_empty() {
                break;
            }
            let records: Vec<ETxOutRecord> = batch
                .blocks
                .iter()
                .flat_map(|b| b.records.iter().cloned())
                .collect();
            let marks: Vec<BlockMark> = batch
                .blocks
                .iter()
                .map(|b| BlockMark {
                    invocation: b.ingest_invocation_id.0,
                    block_index: b.block_index.0,
                    timestamp: b.block_signature_timestamp,
                })
                .collect();
            let enclave = self.enclave.clone();
            // ORAM inserts are CPU work: off the async threads. The batch crosses the
            // boundary in one call.
            tokio::task::spawn_blocking(move || enclave.load_blocks(marks, records))
                .await
                .map_err(|_| ViewServerError::Worker)??;
            loaded += batch.record_count() as u64;
            let stored = self.enclave.records()?;
            let mut st = self.lock();
            st.cursor = batch.next;
            st.status.records = stored;
            drop(st);
            progress(loaded);
        }
        self.advance().await?;
        self.lock().status.caught_up = loaded == 0;
        Ok(loaded)
    }

    /// [`ViewServer::poll_with_progress`] without progress.
    pub async fn poll(&self) -> Result<u64, ViewServerError> {
        self.poll_with_progress(|_| {}).await
    }

    /// The blocks this store loads.
    fn span(&self) -> BlockSpan {
        let b = self.config.blocks;
        BlockSpan {
            start: BlockIndex(b.start_block),
            end: (b.end_block != u64::MAX).then_some(BlockIndex(b.end_block)),
        }
    }

    /// The blocks this store serves.
    pub fn blocks(&self) -> BlockRange {
        self.config.blocks
    }

    /// Reads the enclave's processed count and the recovery DB's last known block.
    async fn advance(&self) -> Result<(), ViewServerError> {
        let highest = self.db.get_highest_known_block_index().await?;
        let known = highest.map_or(0, |b| b.0 + 1);
        let txos = match highest {
            Some(b) => self
                .db
                .get_cumulative_txo_count_for_block(b)
                .await?
                .unwrap_or(0),
            None => 0,
        };
        // A store with a closed range vouches for missed blocks up to the ledger's end.
        self.enclave.set_known_blocks(known)?;
        let (processed, events) = self.enclave.loaded()?;
        let mut st = self.lock();
        st.status.highest_processed_block_count = processed;
        st.status.user_events = events;
        st.status.last_known_block_count = known;
        st.status.last_known_cumulative_txo_count = txos;
        Ok(())
    }

    /// Polls until `shutdown` resolves, every `poll_interval`. Errors are logged and retried.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.poll().await {
                Ok(n) if n > 0 => {
                    let s = self.status();
                    tracing::info!(
                        records = n,
                        processed_blocks = s.highest_processed_block_count,
                        "loaded records"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("loading failed (will retry): {e}"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }
}

/// The threads lent to a view enclave's partition workers ([`lend_worker_threads`]). Dropping
/// it stops the enclave (`ViewClient::stop`: its state is destroyed), so every lent thread
/// returns: keep it as long as the enclave serves.
#[derive(Debug)]
#[must_use = "dropping it stops the enclave"]
pub struct WorkerThreads {
    enclave: ViewClient,
    threads: usize,
}

impl WorkerThreads {
    /// How many threads were lent.
    pub fn len(&self) -> usize {
        self.threads
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.threads == 0
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        if let Err(e) = self.enclave.stop() {
            tracing::warn!("cannot stop the view enclave: {e}");
        }
    }
}

/// Lends `enclave` one thread per partition worker (`ViewClient::run_worker`, a call that
/// returns when the enclave stops) and waits, at most five seconds, until every worker runs.
/// A thread that cannot be started, or an enclave that does not answer, leaves searches on
/// the callers' threads (logged; an enclave not attested yet, a host's mistake, as an error).
/// Dropping what it returns stops the enclave.
#[must_use = "dropping the threads stops the enclave at once"]
pub fn lend_worker_threads(enclave: &ViewClient) -> WorkerThreads {
    let n = match enclave.status() {
        Ok(s) => s.worker_partitions as usize,
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized)) => {
            tracing::error!(
                "view enclave not started (attest it before lending it threads): searches \
                 run on the callers' threads"
            );
            0
        }
        Err(err) => {
            tracing::warn!("view enclave: no partition workers: {err}");
            0
        }
    };
    let mut threads = 0;
    for pi in 0..n {
        let e = enclave.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("view-partition-{pi}"))
            .spawn(move || {
                if let Err(err) = e.run_worker(pi) {
                    tracing::warn!("view partition worker {pi}: {err}");
                }
            });
        match spawned {
            Ok(_) => threads += 1,
            Err(err) => {
                tracing::warn!("cannot start a view partition worker thread: {err}");
                break;
            }
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let ready = || enclave.status().map_or(true, |s| s.workers_ready);
    while threads == n && n > 0 && !ready() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    WorkerThreads {
        enclave: enclave.clone(),
        threads,
    }
}
