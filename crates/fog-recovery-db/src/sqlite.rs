//! The SQLite backend: one file, WAL mode, one writer connection and a few readers. Every
//! call runs on tokio's blocking pool; every write is one `BEGIN IMMEDIATE` transaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::codec::*;
use crate::sql::{self, EventRow};
use crate::traits::{RecoveryDb, ReportDb, Result};
use crate::types::*;
use crate::RecoveryDbError;

/// Readers kept open between calls.
const MAX_IDLE_READERS: usize = 4;
/// How long a call waits for another process's write lock before failing with a retryable
/// "busy" error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one migration per version. Never edit a shipped migration: add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE ingress_keys (
        ingress_public_key BLOB PRIMARY KEY NOT NULL,
        start_block INTEGER NOT NULL,
        pubkey_expiry INTEGER NOT NULL DEFAULT 0,
        retired INTEGER NOT NULL DEFAULT 0,
        lost INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE ingest_invocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ingress_public_key BLOB NOT NULL REFERENCES ingress_keys(ingress_public_key),
        egress_public_key BLOB NOT NULL UNIQUE,
        rng_version INTEGER NOT NULL,
        last_active_at INTEGER NOT NULL,
        start_block INTEGER NOT NULL,
        decommissioned INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE ingested_blocks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ingest_invocation_id INTEGER NOT NULL REFERENCES ingest_invocations(id),
        ingress_public_key BLOB NOT NULL REFERENCES ingress_keys(ingress_public_key),
        block_number INTEGER NOT NULL,
        cumulative_txo_count INTEGER NOT NULL,
        block_signature_timestamp INTEGER NOT NULL,
        record_count INTEGER NOT NULL,
        records BLOB NOT NULL,
        UNIQUE (ingest_invocation_id, block_number),
        UNIQUE (ingress_public_key, block_number)
    );
    CREATE INDEX ingested_blocks_by_block ON ingested_blocks(block_number);
    CREATE TABLE user_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_type INTEGER NOT NULL,
        new_ingest_invocation_id INTEGER UNIQUE REFERENCES ingest_invocations(id),
        decommission_ingest_invocation_id INTEGER UNIQUE REFERENCES ingest_invocations(id),
        missing_blocks_start INTEGER,
        missing_blocks_end INTEGER,
        UNIQUE (missing_blocks_start, missing_blocks_end)
    );
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ingress_public_key BLOB NOT NULL REFERENCES ingress_keys(ingress_public_key),
        ingest_invocation_id INTEGER REFERENCES ingest_invocations(id),
        fog_report_id TEXT NOT NULL UNIQUE CHECK (length(fog_report_id) <= 64),
        report BLOB NOT NULL,
        pubkey_expiry INTEGER NOT NULL
    );",
    ),
    // The frozen last block of a decommissioned invocation (`sql::DECOMMISSION`), filled in
    // for invocations decommissioned before this version.
    (
        2,
        "ALTER TABLE ingest_invocations ADD COLUMN decommissioned_last_block INTEGER;
        UPDATE ingest_invocations SET decommissioned_last_block =
            (SELECT MAX(b.block_number) FROM ingested_blocks b
             WHERE b.ingest_invocation_id = ingest_invocations.id)
        WHERE decommissioned;",
    ),
    // Blocks in write order with their block numbers, for `sql::RECORDS_SINCE_IN` (a view
    // store loading one block range), built for databases created before this version too.
    (
        3,
        "CREATE INDEX IF NOT EXISTS ingested_blocks_by_id_block
            ON ingested_blocks(id, block_number);",
    ),
];

/// The SQLite recovery database. Clones share the same connections.
#[derive(Clone)]
pub struct SqliteRecoveryDb {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    fail_next_block_write: AtomicBool,
    lose_next_block_write_answer: AtomicBool,
}

impl core::fmt::Debug for SqliteRecoveryDb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The path is not a secret, but it can name a user's home: keep logs free of it.
        f.write_str("SqliteRecoveryDb")
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers never block the writer; `synchronous = FULL` makes each commit durable
    // (a committed block survives power loss, not only a process crash).
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RecoveryDbError::InvalidInput(
            "the SQLite file cannot use WAL mode",
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS fog_schema_version (
            version INTEGER PRIMARY KEY NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM fog_schema_version",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(RecoveryDbError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, ddl) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(ddl)?;
        tx.execute(
            "INSERT INTO fog_schema_version (version, applied_at) VALUES ($1, $2)",
            params![version, now_millis()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteRecoveryDb {
    /// One column of the `ingested_blocks` row of a block, if the block was ingested.
    async fn block_column(
        &self,
        query: &'static str,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        let Ok(block) = to_i64(block_index.0) else {
            return Ok(None);
        };
        self.read(move |c| {
            let v: Option<i64> = c
                .query_row(query, params![block], |r| r.get(0))
                .optional()?;
            opt_u64(v)
        })
        .await
    }

    /// Opens (creating if needed) the database file at `path` and runs the migrations.
    /// Blocking: call it at start-up or from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                fail_next_block_write: AtomicBool::new(false),
                lose_next_block_write_answer: AtomicBool::new(false),
            }),
        })
    }

    /// Test hook: the next `add_block_data` fails with [`RecoveryDbError::InjectedFault`]
    /// after inserting the block row and before committing, so the transaction rolls back.
    #[doc(hidden)]
    pub fn inject_fault_in_next_block_write(&self) {
        self.inner
            .fail_next_block_write
            .store(true, Ordering::SeqCst);
    }

    /// Test hook: the next `add_block_data` that stores a block commits it, then answers
    /// [`RecoveryDbError::PoolTimeout`] (retryable), as a connection lost after the commit
    /// would: the caller cannot tell that its write went through.
    #[doc(hidden)]
    pub fn lose_answer_of_next_block_write(&self) {
        self.inner
            .lose_next_block_write_answer
            .store(true, Ordering::SeqCst);
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            f(&inner, &mut conn)
        })
        .await
        .map_err(|_| RecoveryDbError::TaskFailed)?
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let popped = lock(&inner.readers).pop();
            let mut conn = match popped {
                Some(c) => c,
                None => {
                    let c = Connection::open(&inner.path)?;
                    configure(&c)?;
                    c
                }
            };
            // A snapshot for the whole call, so multi-statement reads are consistent.
            let result = match conn.transaction() {
                Ok(tx) => f(&tx),
                Err(e) => Err(e.into()),
            };
            let mut idle = lock(&inner.readers);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|_| RecoveryDbError::TaskFailed)?
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another call cannot leave a connection inside an open transaction: the
    // transaction guard rolls back while unwinding.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key_status(conn: &Connection, key: &[u8]) -> Result<Option<IngressPublicKeyStatus>> {
    conn.query_row(sql::KEY_STATUS, params![key], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .optional()?
    .map(|(s, e, ret, lost)| sql::status_from(s, e, ret, lost))
    .transpose()
}

fn max_block(
    conn: &Connection,
    query: &str,
    p: impl rusqlite::Params,
) -> Result<Option<BlockIndex>> {
    let v: Option<i64> = conn.query_row(query, p, |r| r.get(0))?;
    v.map(|b| to_u64(b).map(BlockIndex)).transpose()
}

/// Decommissions `id` inside the caller's transaction; a no-op if it already is.
fn decommission(conn: &Connection, id: i64) -> Result<()> {
    let state: Option<(Vec<u8>, bool)> = conn
        .query_row(sql::INVOCATION_STATE, params![id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    match state {
        None => Err(RecoveryDbError::UnknownIngestInvocation(id)),
        Some((_, true)) => Ok(()),
        Some((_, false)) => {
            conn.execute(sql::DECOMMISSION, params![now_millis(), id])?;
            conn.execute(sql::INSERT_DECOMMISSION_EVENT, params![id])?;
            Ok(())
        }
    }
}

/// Fails with [`RecoveryDbError::DuplicateEgressKey`] if an invocation uses `egress`.
fn check_egress_unused(conn: &Connection, egress: &KexRngPubkey) -> Result<()> {
    let used: Option<i64> = conn
        .query_row(sql::EGRESS_KEY_USED, params![egress.public_key], |r| {
            r.get(0)
        })
        .optional()?;
    match used {
        Some(_) => Err(RecoveryDbError::DuplicateEgressKey),
        None => Ok(()),
    }
}

/// Inserts a live invocation starting at `start` and its `NewRngRecord` event; its id.
fn insert_invocation(
    conn: &Connection,
    key: &IngressPublicKey,
    egress: &KexRngPubkey,
    start: i64,
) -> Result<i64> {
    let id: i64 = conn.query_row(
        sql::INSERT_INVOCATION,
        params![
            &key.0[..],
            egress.public_key,
            i64::from(egress.version),
            now_millis(),
            start
        ],
        |r| r.get(0),
    )?;
    conn.execute(sql::INSERT_NEW_INVOCATION_EVENT, params![id])?;
    Ok(id)
}

fn opt_u64(v: Option<i64>) -> Result<Option<u64>> {
    v.map(to_u64).transpose()
}

impl ReportDb for SqliteRecoveryDb {
    async fn get_all_reports(&self) -> Result<Vec<(String, ReportData)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql::ALL_REPORTS)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let iid: Option<i64> = r.get(1)?;
                out.push((
                    r.get::<_, String>(0)?,
                    ReportData {
                        ingest_invocation_id: iid.map(IngestInvocationId),
                        evidence: r.get(2)?,
                        pubkey_expiry: BlockIndex(to_u64(r.get(3)?)?),
                    },
                ));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
    }

    async fn set_report(
        &self,
        ingress_key: &IngressPublicKey,
        report_id: &str,
        data: &ReportData,
    ) -> Result<IngressPublicKeyStatus> {
        check_report_id(report_id)?;
        let expiry = to_i64(data.pubkey_expiry.0)?;
        let key = *ingress_key;
        let report_id = report_id.to_owned();
        let data = data.clone();
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(iid) = data.ingest_invocation_id {
                let found: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM ingest_invocations WHERE id = $1",
                        params![iid.0],
                        |r| r.get(0),
                    )
                    .optional()?;
                if found.is_none() {
                    return Err(RecoveryDbError::UnknownIngestInvocation(iid.0));
                }
            }
            tx.execute(sql::GROW_EXPIRY, params![expiry, &key.0[..]])?;
            let status = key_status(&tx, &key.0)?.ok_or(RecoveryDbError::UnknownIngressKey)?;
            if !status.retired {
                tx.execute(
                    sql::UPSERT_REPORT,
                    params![
                        &key.0[..],
                        data.ingest_invocation_id.map(|i| i.0),
                        report_id,
                        data.evidence,
                        expiry
                    ],
                )?;
            }
            tx.commit()?;
            Ok(status)
        })
        .await
    }

    async fn remove_report(&self, report_id: &str) -> Result<()> {
        let report_id = report_id.to_owned();
        self.write(move |_, conn| {
            conn.execute(sql::REMOVE_REPORT, params![report_id])?;
            Ok(())
        })
        .await
    }
}

impl RecoveryDb for SqliteRecoveryDb {
    async fn get_ingress_key_status(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<IngressPublicKeyStatus>> {
        let key = *key;
        self.read(move |c| key_status(c, &key.0)).await
    }

    async fn new_ingress_key(
        &self,
        key: &IngressPublicKey,
        start_block: BlockIndex,
    ) -> Result<BlockIndex> {
        to_i64(start_block.0)?;
        let key = *key;
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let accepted = match max_block(&tx, sql::HIGHEST_KNOWN_BLOCK, [])? {
                Some(h) => start_block.max(BlockIndex(h.0 + 1)),
                None => start_block,
            };
            let n = tx.execute(sql::INSERT_KEY, params![&key.0[..], to_i64(accepted.0)?])?;
            if n == 0 {
                return Err(RecoveryDbError::DuplicateIngressKey);
            }
            tx.commit()?;
            Ok(accepted)
        })
        .await
    }

    async fn retire_ingress_key(&self, key: &IngressPublicKey, set_retired: bool) -> Result<()> {
        let key = *key;
        self.write(move |_, conn| {
            let n = conn.execute(sql::RETIRE_KEY, params![set_retired, &key.0[..]])?;
            if n == 0 {
                return Err(RecoveryDbError::UnknownIngressKey);
            }
            Ok(())
        })
        .await
    }

    async fn report_lost_ingress_key(&self, key: &IngressPublicKey) -> Result<()> {
        let key = *key;
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let status = key_status(&tx, &key.0)?.ok_or(RecoveryDbError::UnknownIngressKey)?;
            tx.execute(sql::SET_LOST, params![&key.0[..]])?;
            let start = match max_block(&tx, sql::LAST_SCANNED, params![&key.0[..]])? {
                Some(l) => status.start_block.max(BlockIndex(l.0 + 1)),
                None => status.start_block,
            };
            if start < status.pubkey_expiry {
                tx.execute(
                    sql::INSERT_MISSING,
                    params![to_i64(start.0)?, to_i64(status.pubkey_expiry.0)?],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_last_scanned_block_index(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<BlockIndex>> {
        let key = *key;
        self.read(move |c| max_block(c, sql::LAST_SCANNED, params![&key.0[..]]))
            .await
    }

    async fn get_ingress_key_records(
        &self,
        start_block_at_least: BlockIndex,
        filters: &IngressPublicKeyFilters,
    ) -> Result<Vec<IngressPublicKeyRecord>> {
        let from = to_i64(start_block_at_least.0).unwrap_or(i64::MAX);
        let filters = *filters;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::KEY_RECORDS)?;
            let mut rows = stmt.query(params![from])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let key: Vec<u8> = r.get(0)?;
                let rec = IngressPublicKeyRecord {
                    key: sql::key_from(&key)?,
                    status: sql::status_from(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)?,
                    last_scanned_block: opt_u64(r.get(5)?)?.map(BlockIndex),
                };
                if sql::keep_record(&rec, &filters) {
                    out.push(rec);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn new_ingest_invocation(
        &self,
        prev: Option<IngestInvocationId>,
        ingress_key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> Result<IngestInvocationId> {
        let start = to_i64(start_block.0)?;
        let key = *ingress_key;
        let egress = egress.clone();
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(p) = prev {
                let found: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM ingest_invocations WHERE id = $1",
                        params![p.0],
                        |r| r.get(0),
                    )
                    .optional()?;
                if found.is_none() {
                    return Err(RecoveryDbError::UnknownIngestInvocation(p.0));
                }
            }
            if key_status(&tx, &key.0)?.is_none() {
                return Err(RecoveryDbError::UnknownIngressKey);
            }
            check_egress_unused(&tx, &egress)?;
            if let Some(p) = prev {
                decommission(&tx, p.0)?;
            }
            let id = insert_invocation(&tx, &key, &egress, start)?;
            tx.commit()?;
            Ok(IngestInvocationId(id))
        })
        .await
    }

    async fn decommission_ingest_invocation(&self, id: IngestInvocationId) -> Result<()> {
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            decommission(&tx, id.0)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn update_last_active_at(&self, id: IngestInvocationId) -> Result<()> {
        self.write(move |_, conn| {
            let n = conn.execute(sql::TOUCH_INVOCATION, params![now_millis(), id.0])?;
            if n == 0 {
                return Err(RecoveryDbError::UnknownIngestInvocation(id.0));
            }
            Ok(())
        })
        .await
    }

    async fn get_expired_invocations(&self, before: SystemTime) -> Result<Vec<ExpiredInvocation>> {
        let before = time_to_millis(before);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::EXPIRED_INVOCATIONS)?;
            let mut rows = stmt.query(params![before])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(ExpiredInvocation {
                    ingest_invocation_id: IngestInvocationId(r.get(0)?),
                    egress_public_key: KexRngPubkey {
                        public_key: r.get(1)?,
                        version: u32::try_from(r.get::<_, i64>(2)?)
                            .map_err(|_| RecoveryDbError::Corrupt("rng_version out of range"))?,
                    },
                    last_active_at: millis_to_time(r.get(3)?),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn get_ingestable_ranges(&self) -> Result<Vec<IngestableRange>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql::INGESTABLE_RANGES)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(IngestableRange {
                    id: IngestInvocationId(r.get(0)?),
                    start_block: BlockIndex(to_u64(r.get(1)?)?),
                    decommissioned: r.get(2)?,
                    last_ingested_block: opt_u64(r.get(3)?)?.map(BlockIndex),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn take_over_ingress_key(
        &self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        condition: TakeOver,
    ) -> Result<Option<TookOver>> {
        let key = *key;
        let egress = egress.clone();
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let status = key_status(&tx, &key.0)?.ok_or(RecoveryDbError::UnknownIngressKey)?;
            if status.lost {
                return Err(RecoveryDbError::IngressKeyLost);
            }
            check_egress_unused(&tx, &egress)?;
            let live: Vec<(i64, i64)> = {
                let mut stmt = tx.prepare_cached(sql::LIVE_INVOCATIONS)?;
                let rows = stmt.query_map(params![&key.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            if let TakeOver::IfIdleSince(t) = condition {
                let t = time_to_millis(t);
                if live.iter().any(|&(_, active)| active >= t) {
                    return Ok(None);
                }
            }
            let start_block = match max_block(&tx, sql::LAST_SCANNED, params![&key.0[..]])? {
                Some(b) => BlockIndex(b.0.checked_add(1).ok_or(RecoveryDbError::InvalidInput(
                    "the key has scanned the last block there is",
                ))?),
                None => status.start_block,
            };
            let start = to_i64(start_block.0)?;
            for &(id, _) in &live {
                decommission(&tx, id)?;
            }
            let id = insert_invocation(&tx, &key, &egress, start)?;
            tx.commit()?;
            Ok(Some(TookOver {
                invocation: IngestInvocationId(id),
                start_block,
                decommissioned: live
                    .into_iter()
                    .map(|(id, _)| IngestInvocationId(id))
                    .collect(),
            }))
        })
        .await
    }

    async fn get_invocations(
        &self,
        key: Option<&IngressPublicKey>,
    ) -> Result<Vec<InvocationRecord>> {
        let key: Option<Vec<u8>> = key.map(|k| k.0.to_vec());
        self.read(move |c| {
            let mut stmt;
            let mut rows = match &key {
                None => {
                    stmt = c.prepare_cached(sql::INVOCATIONS)?;
                    stmt.query([])?
                }
                Some(k) => {
                    stmt = c.prepare_cached(sql::KEY_INVOCATIONS)?;
                    stmt.query(params![k])?
                }
            };
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let k: Vec<u8> = r.get(1)?;
                out.push(InvocationRecord {
                    id: IngestInvocationId(r.get(0)?),
                    ingress_key: sql::key_from(&k)?,
                    egress_public_key: KexRngPubkey {
                        public_key: r.get(2)?,
                        version: u32::try_from(r.get::<_, i64>(3)?)
                            .map_err(|_| RecoveryDbError::Corrupt("rng_version out of range"))?,
                    },
                    start_block: BlockIndex(to_u64(r.get(4)?)?),
                    decommissioned: r.get(5)?,
                    last_active_at: millis_to_time(r.get(6)?),
                    last_ingested_block: opt_u64(r.get(7)?)?.map(BlockIndex),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn prune_empty_invocations(
        &self,
        decommissioned_before: SystemTime,
    ) -> Result<Vec<IngestInvocationId>> {
        let before = time_to_millis(decommissioned_before);
        self.write(move |_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids: Vec<i64> = {
                let mut stmt = tx.prepare_cached(sql::PRUNABLE_INVOCATIONS)?;
                let rows = stmt.query_map(params![before], |r| r.get(0))?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            for id in &ids {
                tx.execute(sql::DELETE_INVOCATION_EVENTS, params![id])?;
                tx.execute(sql::DELETE_INVOCATION, params![id])?;
            }
            tx.commit()?;
            Ok(ids.into_iter().map(IngestInvocationId).collect())
        })
        .await
    }

    async fn add_block_data(
        &self,
        invocation: IngestInvocationId,
        block_index: BlockIndex,
        cumulative_txo_count: u64,
        block_signature_timestamp: u64,
        records: &[ETxOutRecord],
    ) -> Result<AddBlockDataStatus> {
        check_records(records)?;
        let block = to_i64(block_index.0)?;
        let count = to_i64(cumulative_txo_count)?;
        let ts = to_i64(block_signature_timestamp)?;
        let n_records = i64::try_from(records.len())
            .map_err(|_| RecoveryDbError::InvalidInput("too many records"))?;
        // Encode on the async side: the blocking closure must own its data anyway.
        let blob = encode_records(records);
        self.write(move |inner, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Inside the write transaction: a decommission commits either before this check
            // (and the write is refused) or after this commit (and freezes this block in).
            let state: Option<(Vec<u8>, bool)> = tx
                .query_row(sql::INVOCATION_STATE, params![invocation.0], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let (key, decommissioned) =
                state.ok_or(RecoveryDbError::UnknownIngestInvocation(invocation.0))?;
            if decommissioned {
                return Err(RecoveryDbError::InvocationDecommissioned(invocation.0));
            }
            let inserted = tx.prepare_cached(sql::INSERT_BLOCK)?.execute(params![
                invocation.0,
                key,
                block,
                count,
                ts,
                n_records,
                blob
            ])?;
            if inserted == 0 {
                return Ok(AddBlockDataStatus {
                    block_already_scanned_with_this_key: true,
                });
            }
            if inner.fail_next_block_write.swap(false, Ordering::SeqCst) {
                return Err(RecoveryDbError::InjectedFault);
            }
            tx.execute(sql::TOUCH_INVOCATION, params![now_millis(), invocation.0])?;
            tx.commit()?;
            if inner
                .lose_next_block_write_answer
                .swap(false, Ordering::SeqCst)
            {
                return Err(RecoveryDbError::PoolTimeout);
            }
            Ok(AddBlockDataStatus {
                block_already_scanned_with_this_key: false,
            })
        })
        .await
    }

    async fn get_tx_outs_by_block_and_key(
        &self,
        key: &IngressPublicKey,
        block_index: BlockIndex,
    ) -> Result<Option<Vec<ETxOutRecord>>> {
        let key = *key;
        let Ok(block) = to_i64(block_index.0) else {
            return Ok(None);
        };
        self.read(move |c| {
            let blob: Option<Vec<u8>> = c
                .prepare_cached(sql::BLOCK_BY_KEY)?
                .query_row(params![&key.0[..], block], |r| r.get(0))
                .optional()?;
            blob.map(|b| decode_records(&b)).transpose()
        })
        .await
    }

    async fn get_tx_outs_by_block_range_and_key(
        &self,
        key: &IngressPublicKey,
        range: BlockRange,
    ) -> Result<Vec<Vec<ETxOutRecord>>> {
        let key = *key;
        let Ok(start) = to_i64(range.start().0) else {
            return Ok(Vec::new());
        };
        let end = to_i64(range.end().0).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::BLOCK_RANGE_BY_KEY)?;
            let mut rows = stmt.query(params![&key.0[..], start, end])?;
            let mut out = Vec::new();
            let mut expected = start;
            while let Some(r) = rows.next()? {
                let b: i64 = r.get(0)?;
                if b != expected {
                    break;
                }
                let blob = r
                    .get_ref(1)?
                    .as_blob()
                    .map_err(|_| RecoveryDbError::Corrupt("records column is not a blob"))?;
                out.push(decode_records(blob)?);
                expected += 1;
            }
            Ok(out)
        })
        .await
    }

    async fn get_records_since_in(
        &self,
        cursor: RecordCursor,
        max_records: usize,
        blocks: BlockSpan,
    ) -> Result<RecordBatch> {
        let mut batch = RecordBatch {
            blocks: Vec::new(),
            next: cursor,
        };
        let Some((first, last)) = span_bounds(blocks) else {
            return Ok(batch);
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::RECORDS_SINCE_IN)?;
            // Rows are read lazily: the LIMIT only bounds a batch of empty blocks (and the ids
            // the inner walk collects).
            let limit = i64::try_from(max_records.max(1)).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![cursor.0, first, last, limit])?;
            let mut count = 0usize;
            while let Some(r) = rows.next()? {
                if !batch.blocks.is_empty() && count >= max_records {
                    break;
                }
                let id: i64 = r.get(0)?;
                let key: Vec<u8> = r.get(1)?;
                let blob = r
                    .get_ref(7)?
                    .as_blob()
                    .map_err(|_| RecoveryDbError::Corrupt("records column is not a blob"))?;
                let records = decode_records(blob)?;
                count += records.len();
                batch.blocks.push(IngestedBlock {
                    ingress_key: sql::key_from(&key)?,
                    ingest_invocation_id: IngestInvocationId(r.get(2)?),
                    block_index: BlockIndex(to_u64(r.get(3)?)?),
                    cumulative_txo_count: to_u64(r.get(4)?)?,
                    block_signature_timestamp: to_u64(r.get(5)?)?,
                    records,
                });
                batch.next = RecordCursor(id);
            }
            Ok(batch)
        })
        .await
    }

    async fn get_highest_known_block_index(&self) -> Result<Option<BlockIndex>> {
        self.read(|c| max_block(c, sql::HIGHEST_KNOWN_BLOCK, []))
            .await
    }

    async fn get_missed_block_ranges(&self) -> Result<Vec<BlockRange>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql::MISSED_RANGES)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(
                    BlockRange::from_u64(to_u64(r.get(0)?)?, to_u64(r.get(1)?)?)
                        .map_err(|_| RecoveryDbError::Corrupt("missed range start past end"))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn get_cumulative_txo_count_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        self.block_column(sql::CUMULATIVE_TXO_COUNT, block_index)
            .await
    }

    async fn get_block_signature_timestamp_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        self.block_column(sql::BLOCK_TIMESTAMP, block_index).await
    }

    async fn search_user_events(
        &self,
        since: UserEventId,
    ) -> Result<(Vec<FogUserEvent>, UserEventId)> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(sql::USER_EVENTS)?;
            let mut rows = stmt.query(params![since.0])?;
            let mut out = Vec::new();
            let mut next = since;
            while let Some(r) = rows.next()? {
                let row = EventRow {
                    id: r.get(0)?,
                    event_type: r.get(1)?,
                    new_id: r.get(2)?,
                    egress: r.get(3)?,
                    rng_version: r.get(4)?,
                    start_block: r.get(5)?,
                    decommission_id: r.get(6)?,
                    last_block: r.get(7)?,
                    missing_start: r.get(8)?,
                    missing_end: r.get(9)?,
                };
                next = UserEventId(row.id);
                out.push(row.into_event()?);
            }
            Ok((out, next))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled SQLite runs `sql::RECORDS_SINCE_IN` as intended: a walk of
    /// `ingested_blocks_by_id_block` in id order and row reads by id, with no sort and without
    /// `ingested_blocks_by_block` (which would read and sort the rest of the span every page).
    #[test]
    fn span_query_walks_the_id_block_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteRecoveryDb::open(dir.path().join("plan.db")).unwrap();
        let conn = lock(&db.inner.writer);
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql::RECORDS_SINCE_IN))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params![0, 8, 15, 100], |r| r.get(3))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("COVERING INDEX ingested_blocks_by_id_block (id>?)"),
            "{plan}"
        );
        assert!(plan.contains("INTEGER PRIMARY KEY (rowid=?)"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        assert!(!plan.contains("ingested_blocks_by_block"), "{plan}");
    }
}
