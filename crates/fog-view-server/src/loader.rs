//! Loading: the recovery DB's stored blocks, in write order, into the enclave; and the
//! highest processed block count (services.md 3.3, "Loading").

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fog_recovery_db::{
    BlockIndex, IngressPublicKey, IngressPublicKeyFilters, RecordCursor, RecoveryDb,
};
use fog_transaction::wire::ETxOutRecord;

use crate::{Enclave, ViewConfig, ViewServerError};

/// Where loading stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStatus {
    /// Every block below this is in the store (or covered by no ingress key).
    pub highest_processed_block_count: u64,
    /// The timestamp of block `highest_processed_block_count - 1` (0 if unknown).
    pub highest_processed_block_timestamp: u64,
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
    /// Per ingress key: one past the highest block loaded.
    next_by_key: HashMap<IngressPublicKey, u64>,
    /// Timestamps of loaded blocks not yet below the processed count.
    timestamps: BTreeMap<u64, u64>,
    status: LoadStatus,
}

/// The view server: the enclave and the loading state. Share it in an `Arc`.
pub struct ViewServer<D> {
    pub(crate) db: Arc<D>,
    pub(crate) enclave: Arc<Enclave>,
    state: Mutex<State>,
    config: ViewConfig,
    pub(crate) queries: AtomicU64,
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
    /// A server over `db` and `enclave`; nothing is loaded until [`ViewServer::poll`] or
    /// [`ViewServer::run`].
    /// With two or more partitions the enclave's partition workers are started (one thread
    /// each; see `ViewEnclave::start_workers`).
    pub fn new(db: Arc<D>, enclave: Enclave, config: ViewConfig) -> Self {
        let enclave = Arc::new(enclave);
        enclave.start_workers();
        Self {
            db,
            enclave,
            state: Mutex::new(State::default()),
            config,
            queries: AtomicU64::new(0),
        }
    }

    /// The enclave.
    pub fn enclave(&self) -> &Arc<Enclave> {
        &self.enclave
    }

    /// Queries answered, and search keys looked up (padded batch sizes, which are public)
    /// since start.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.queries.load(Ordering::Relaxed),
            self.enclave.padded_keys_answered(),
        )
    }

    /// Loads everything the recovery DB has that the store does not, in batches of
    /// `batch_records`, then advances the processed block count. Returns the records loaded.
    /// `progress` is called after each batch with the records loaded so far.
    pub async fn poll_with_progress(
        &self,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ViewServerError> {
        let mut loaded = 0u64;
        loop {
            let cursor = self.lock().cursor;
            let batch = self
                .db
                .get_records_since(cursor, self.config.batch_records)
                .await?;
            if batch.blocks.is_empty() {
                break;
            }
            let records: Vec<ETxOutRecord> = batch
                .blocks
                .iter()
                .flat_map(|b| b.records.iter().cloned())
                .collect();
            let enclave = self.enclave.clone();
            // ORAM inserts are CPU work: off the async threads.
            tokio::task::spawn_blocking(move || enclave.load_records(&records))
                .await
                .map_err(|_| ViewServerError::Worker)??;
            let mut st = self.lock();
            for b in &batch.blocks {
                loaded += b.records.len() as u64;
                let next = st.next_by_key.entry(b.ingress_key).or_insert(0);
                *next = (*next).max(b.block_index.0 + 1);
                st.timestamps
                    .insert(b.block_index.0, b.block_signature_timestamp);
            }
            st.cursor = batch.next;
            st.status.records = self.enclave.len();
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

    /// Moves the processed block count forward while every ingress key responsible for the
    /// next block has that block loaded.
    async fn advance(&self) -> Result<(), ViewServerError> {
        let keys = self
            .db
            .get_ingress_key_records(BlockIndex(0), &IngressPublicKeyFilters::ALL)
            .await?;
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
        let mut st = self.lock();
        let mut h = st.status.highest_processed_block_count;
        while h < known {
            let blocked = keys.iter().any(|r| {
                r.covered_block_range().contains(BlockIndex(h))
                    && st.next_by_key.get(&r.key).copied().unwrap_or(0) <= h
            });
            if blocked {
                break;
            }
            h += 1;
        }
        if h > st.status.highest_processed_block_count {
            st.status.highest_processed_block_count = h;
            if let Some(ts) = st.timestamps.get(&(h - 1)).copied() {
                st.status.highest_processed_block_timestamp = ts;
            }
            st.timestamps = st.timestamps.split_off(&(h - 1));
        }
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
