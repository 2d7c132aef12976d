//! The Postgres backend: `tokio-postgres` with a small pool of our own, migrations in one
//! transaction at start-up. Every method is one transaction (or one statement).
//!
//! Writes that add blocks or user events first take one transaction-scoped advisory lock, so
//! their `BIGSERIAL` ids commit in id order: a reader that pages by id (`get_records_since`,
//! `search_user_events`) can never see id `n + 1` before id `n` commits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, NoTls, Row};

use crate::codec::*;
use crate::sql::{self, EventRow};
use crate::traits::{RecoveryDb, ReportDb, Result};
use crate::types::*;
use crate::RecoveryDbError;

/// Connections open at most.
const POOL_SIZE: usize = 8;
/// How long a call waits for a free connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable a URL without a password takes it from (libpq's).
pub const PASSWORD_ENV: &str = "PGPASSWORD";
/// The advisory lock that orders block and event inserts (any constant; "fog-rdb").
const WRITE_ORDER_LOCK: i64 = 0x0066_6f67_2d72_6462;
/// Blocks fetched per round trip in `get_records_since_in`.
const RECORDS_CHUNK_BLOCKS: i64 = 32;

/// The schema, one migration per version. Never edit a shipped migration: add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE ingress_keys (
        ingress_public_key BYTEA PRIMARY KEY,
        start_block BIGINT NOT NULL,
        pubkey_expiry BIGINT NOT NULL DEFAULT 0,
        retired BOOLEAN NOT NULL DEFAULT FALSE,
        lost BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE ingest_invocations (
        id BIGSERIAL PRIMARY KEY,
        ingress_public_key BYTEA NOT NULL REFERENCES ingress_keys(ingress_public_key),
        egress_public_key BYTEA NOT NULL UNIQUE,
        rng_version BIGINT NOT NULL,
        last_active_at BIGINT NOT NULL,
        start_block BIGINT NOT NULL,
        decommissioned BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE ingested_blocks (
        id BIGSERIAL PRIMARY KEY,
        ingest_invocation_id BIGINT NOT NULL REFERENCES ingest_invocations(id),
        ingress_public_key BYTEA NOT NULL REFERENCES ingress_keys(ingress_public_key),
        block_number BIGINT NOT NULL,
        cumulative_txo_count BIGINT NOT NULL,
        block_signature_timestamp BIGINT NOT NULL,
        record_count BIGINT NOT NULL,
        records BYTEA NOT NULL,
        UNIQUE (ingest_invocation_id, block_number),
        UNIQUE (ingress_public_key, block_number)
    );
    CREATE INDEX ingested_blocks_by_block ON ingested_blocks(block_number);
    CREATE TABLE user_events (
        id BIGSERIAL PRIMARY KEY,
        event_type BIGINT NOT NULL,
        new_ingest_invocation_id BIGINT UNIQUE REFERENCES ingest_invocations(id),
        decommission_ingest_invocation_id BIGINT UNIQUE REFERENCES ingest_invocations(id),
        missing_blocks_start BIGINT,
        missing_blocks_end BIGINT,
        UNIQUE (missing_blocks_start, missing_blocks_end)
    );
    CREATE TABLE reports (
        id BIGSERIAL PRIMARY KEY,
        ingress_public_key BYTEA NOT NULL REFERENCES ingress_keys(ingress_public_key),
        ingest_invocation_id BIGINT REFERENCES ingest_invocations(id),
        fog_report_id VARCHAR(64) NOT NULL UNIQUE,
        report BYTEA NOT NULL,
        pubkey_expiry BIGINT NOT NULL
    );",
    ),
    // The frozen last block of a decommissioned invocation (`sql::DECOMMISSION`), filled in
    // for invocations decommissioned before this version.
    (
        2,
        "ALTER TABLE ingest_invocations ADD COLUMN decommissioned_last_block BIGINT;
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

/// The Postgres recovery database. Clones share the pool.
#[derive(Clone)]
pub struct PostgresRecoveryDb {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    fail_next_block_write: AtomicBool,
}

impl core::fmt::Debug for PostgresRecoveryDb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the URL, host or user.
        f.write_str("PostgresRecoveryDb")
    }
}

/// A pooled connection: back to the pool on drop unless it was closed.
struct Conn<'a> {
    client: Option<Client>,
    inner: &'a Inner,
    _permit: SemaphorePermit<'a>,
}

impl core::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl core::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                self.inner
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(c);
            }
        }
    }
}

impl PostgresRecoveryDb {
    /// One column of the `ingested_blocks` row of a block, if the block was ingested.
    async fn block_column(&self, query: &str, block_index: BlockIndex) -> Result<Option<u64>> {
        let Ok(block) = to_i64(block_index.0) else {
            return Ok(None);
        };
        let c = self.conn().await?;
        let row = c.query_opt(query, &[&block]).await?;
        row.map(|r| to_u64(r.try_get(0)?)).transpose()
    }

    /// Connects with a libpq-style URL (`postgres://user:password@host:port/dbname`) and runs
    /// the migrations. Errors never repeat the URL.
    ///
    /// A URL without a password takes the one in `PGPASSWORD`, if set, as libpq does.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| RecoveryDbError::BadUrl("not a valid postgres URL"))?;
        if config.get_password().is_none() {
            // libpq's variable, so that the password need not be on the command line.
            if let Some(password) = std::env::var_os(PASSWORD_ENV) {
                config.password(password.as_encoded_bytes());
            }
        }
        Self::connect_with(config).await
    }

    /// Connects with a parsed configuration and runs the migrations.
    pub async fn connect_with(mut config: tokio_postgres::Config) -> Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let db = Self {
            inner: Arc::new(Inner {
                config,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(POOL_SIZE),
                fail_next_block_write: AtomicBool::new(false),
            }),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Test hook: the next `add_block_data` fails with [`RecoveryDbError::InjectedFault`]
    /// after inserting the block row and before committing, so the transaction rolls back.
    #[doc(hidden)]
    pub fn inject_fault_in_next_block_write(&self) {
        self.inner
            .fail_next_block_write
            .store(true, Ordering::SeqCst);
    }

    async fn conn(&self) -> Result<Conn<'_>> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.inner.permits.acquire())
            .await
            .map_err(|_| RecoveryDbError::PoolTimeout)?
            .map_err(|_| RecoveryDbError::PoolTimeout)?;
        loop {
            let popped = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            match popped {
                Some(c) if c.is_closed() => continue,
                Some(c) => {
                    return Ok(Conn {
                        client: Some(c),
                        inner: &self.inner,
                        _permit: permit,
                    })
                }
                None => break,
            }
        }
        let (client, connection) = self.inner.config.connect(NoTls).await?;
        tokio::spawn(async move {
            // The error, if any, reaches the caller through the client; nothing to log here
            // (it could name the server).
            let _ = connection.await;
        });
        Ok(Conn {
            client: Some(client),
            inner: &self.inner,
            _permit: permit,
        })
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // One migrator at a time, even across processes.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&(WRITE_ORDER_LOCK + 1)],
        )
        .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS fog_schema_version (
                version BIGINT PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM fog_schema_version",
                &[],
            )
            .await?
            .try_get(0)?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(RecoveryDbError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for (version, ddl) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(ddl).await?;
            tx.execute(
                "INSERT INTO fog_schema_version (version, applied_at) VALUES ($1, $2)",
                &[version, &now_millis()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn order_writes(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_ORDER_LOCK])
        .await?;
    Ok(())
}

async fn key_status(
    c: &impl tokio_postgres::GenericClient,
    key: &[u8],
) -> Result<Option<IngressPublicKeyStatus>> {
    c.query_opt(sql::KEY_STATUS, &[&key])
        .await?
        .map(|r| sql::status_from(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
        .transpose()
}

async fn max_block(
    c: &impl tokio_postgres::GenericClient,
    query: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<BlockIndex>> {
    let v: Option<i64> = c.query_one(query, params).await?.try_get(0)?;
    v.map(|b| to_u64(b).map(BlockIndex)).transpose()
}

async fn invocation_exists(c: &impl tokio_postgres::GenericClient, id: i64) -> Result<bool> {
    Ok(
        c.query_opt("SELECT id FROM ingest_invocations WHERE id = $1", &[&id])
            .await?
            .is_some(),
    )
}

async fn decommission(tx: &tokio_postgres::Transaction<'_>, id: i64) -> Result<()> {
    // Lock the row so two decommissions of the same invocation cannot both add an event.
    let row = tx
        .query_opt(
            "SELECT decommissioned FROM ingest_invocations WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?;
    match row {
        None => Err(RecoveryDbError::UnknownIngestInvocation(id)),
        Some(r) if r.try_get::<_, bool>(0)? => Ok(()),
        Some(_) => {
            tx.execute(sql::DECOMMISSION, &[&now_millis(), &id]).await?;
            tx.execute(sql::INSERT_DECOMMISSION_EVENT, &[&id]).await?;
            Ok(())
        }
    }
}

/// Fails with [`RecoveryDbError::DuplicateEgressKey`] if an invocation uses `egress`.
async fn check_egress_unused(
    c: &impl tokio_postgres::GenericClient,
    egress: &KexRngPubkey,
) -> Result<()> {
    match c
        .query_opt(sql::EGRESS_KEY_USED, &[&egress.public_key])
        .await?
    {
        Some(_) => Err(RecoveryDbError::DuplicateEgressKey),
        None => Ok(()),
    }
}

/// Inserts a live invocation of `key` starting at `start` and its `NewRngRecord` event; its
/// id.
async fn insert_invocation(
    c: &impl tokio_postgres::GenericClient,
    key: &[u8],
    egress: &KexRngPubkey,
    start: i64,
) -> Result<i64> {
    let id: i64 = c
        .query_one(
            sql::INSERT_INVOCATION,
            &[
                &key,
                &egress.public_key,
                &i64::from(egress.version),
                &now_millis(),
                &start,
            ],
        )
        .await?
        .try_get(0)?;
    c.execute(sql::INSERT_NEW_INVOCATION_EVENT, &[&id]).await?;
    Ok(id)
}

fn opt_u64(v: Option<i64>) -> Result<Option<u64>> {
    v.map(to_u64).transpose()
}

fn block_from_row(r: &Row) -> Result<IngestedBlock> {
    let key: &[u8] = r.try_get(1)?;
    let blob: &[u8] = r.try_get(7)?;
    Ok(IngestedBlock {
        ingress_key: sql::key_from(key)?,
        ingest_invocation_id: IngestInvocationId(r.try_get(2)?),
        block_index: BlockIndex(to_u64(r.try_get(3)?)?),
        cumulative_txo_count: to_u64(r.try_get(4)?)?,
        block_signature_timestamp: to_u64(r.try_get(5)?)?,
        records: decode_records(blob)?,
    })
}

impl ReportDb for PostgresRecoveryDb {
    async fn get_all_reports(&self) -> Result<Vec<(String, ReportData)>> {
        let c = self.conn().await?;
        let rows = c.query(sql::ALL_REPORTS, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let iid: Option<i64> = r.try_get(1)?;
            out.push((
                r.try_get::<_, String>(0)?,
                ReportData {
                    ingest_invocation_id: iid.map(IngestInvocationId),
                    evidence: r.try_get(2)?,
                    pubkey_expiry: BlockIndex(to_u64(r.try_get(3)?)?),
                },
            ));
        }
        // Byte order, whatever the database's collation.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn set_report(
        &self,
        ingress_key: &IngressPublicKey,
        report_id: &str,
        data: &ReportData,
    ) -> Result<IngressPublicKeyStatus> {
        check_report_id(report_id)?;
        let expiry = to_i64(data.pubkey_expiry.0)?;
        let key: &[u8] = &ingress_key.0;
        let iid = data.ingest_invocation_id.map(|i| i.0);
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        if let Some(id) = iid {
            if !invocation_exists(&tx, id).await? {
                return Err(RecoveryDbError::UnknownIngestInvocation(id));
            }
        }
        tx.execute(sql::GROW_EXPIRY, &[&expiry, &key]).await?;
        let status = key_status(&tx, key)
            .await?
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        if !status.retired {
            tx.execute(
                sql::UPSERT_REPORT,
                &[&key, &iid, &report_id, &data.evidence, &expiry],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(status)
    }

    async fn remove_report(&self, report_id: &str) -> Result<()> {
        let c = self.conn().await?;
        c.execute(sql::REMOVE_REPORT, &[&report_id]).await?;
        Ok(())
    }
}

impl RecoveryDb for PostgresRecoveryDb {
    async fn get_ingress_key_status(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<IngressPublicKeyStatus>> {
        let c = self.conn().await?;
        key_status(&*c, &key.0).await
    }

    async fn new_ingress_key(
        &self,
        key: &IngressPublicKey,
        start_block: BlockIndex,
    ) -> Result<BlockIndex> {
        to_i64(start_block.0)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let accepted = match max_block(&tx, sql::HIGHEST_KNOWN_BLOCK, &[]).await? {
            Some(h) => start_block.max(BlockIndex(h.0 + 1)),
            None => start_block,
        };
        let n = tx
            .execute(sql::INSERT_KEY, &[&&key.0[..], &to_i64(accepted.0)?])
            .await?;
        if n == 0 {
            return Err(RecoveryDbError::DuplicateIngressKey);
        }
        tx.commit().await?;
        Ok(accepted)
    }

    async fn retire_ingress_key(&self, key: &IngressPublicKey, set_retired: bool) -> Result<()> {
        let c = self.conn().await?;
        let n = c
            .execute(sql::RETIRE_KEY, &[&set_retired, &&key.0[..]])
            .await?;
        if n == 0 {
            return Err(RecoveryDbError::UnknownIngressKey);
        }
        Ok(())
    }

    async fn report_lost_ingress_key(&self, key: &IngressPublicKey) -> Result<()> {
        let key: &[u8] = &key.0;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        order_writes(&tx).await?;
        let status = key_status(&tx, key)
            .await?
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        tx.execute(sql::SET_LOST, &[&key]).await?;
        let start = match max_block(&tx, sql::LAST_SCANNED, &[&key]).await? {
            Some(l) => status.start_block.max(BlockIndex(l.0 + 1)),
            None => status.start_block,
        };
        if start < status.pubkey_expiry {
            tx.execute(
                sql::INSERT_MISSING,
                &[&to_i64(start.0)?, &to_i64(status.pubkey_expiry.0)?],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_last_scanned_block_index(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<BlockIndex>> {
        let c = self.conn().await?;
        max_block(&*c, sql::LAST_SCANNED, &[&&key.0[..]]).await
    }

    async fn get_ingress_key_records(
        &self,
        start_block_at_least: BlockIndex,
        filters: &IngressPublicKeyFilters,
    ) -> Result<Vec<IngressPublicKeyRecord>> {
        let from = to_i64(start_block_at_least.0).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        let rows = c.query(sql::KEY_RECORDS, &[&from]).await?;
        let mut out = Vec::new();
        for r in rows {
            let key: &[u8] = r.try_get(0)?;
            let rec = IngressPublicKeyRecord {
                key: sql::key_from(key)?,
                status: sql::status_from(
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                )?,
                last_scanned_block: opt_u64(r.try_get(5)?)?.map(BlockIndex),
            };
            if sql::keep_record(&rec, filters) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    async fn new_ingest_invocation(
        &self,
        prev: Option<IngestInvocationId>,
        ingress_key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> Result<IngestInvocationId> {
        let start = to_i64(start_block.0)?;
        let key: &[u8] = &ingress_key.0;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        order_writes(&tx).await?;
        if let Some(p) = prev {
            if !invocation_exists(&tx, p.0).await? {
                return Err(RecoveryDbError::UnknownIngestInvocation(p.0));
            }
        }
        if key_status(&tx, key).await?.is_none() {
            return Err(RecoveryDbError::UnknownIngressKey);
        }
        check_egress_unused(&tx, egress).await?;
        if let Some(p) = prev {
            decommission(&tx, p.0).await?;
        }
        let id = insert_invocation(&tx, key, egress, start).await?;
        tx.commit().await?;
        Ok(IngestInvocationId(id))
    }

    async fn decommission_ingest_invocation(&self, id: IngestInvocationId) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        order_writes(&tx).await?;
        decommission(&tx, id.0).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_last_active_at(&self, id: IngestInvocationId) -> Result<()> {
        let c = self.conn().await?;
        let n = c
            .execute(sql::TOUCH_INVOCATION, &[&now_millis(), &id.0])
            .await?;
        if n == 0 {
            return Err(RecoveryDbError::UnknownIngestInvocation(id.0));
        }
        Ok(())
    }

    async fn get_expired_invocations(&self, before: SystemTime) -> Result<Vec<ExpiredInvocation>> {
        let before = time_to_millis(before);
        let c = self.conn().await?;
        let rows = c.query(sql::EXPIRED_INVOCATIONS, &[&before]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(ExpiredInvocation {
                ingest_invocation_id: IngestInvocationId(r.try_get(0)?),
                egress_public_key: KexRngPubkey {
                    public_key: r.try_get(1)?,
                    version: u32::try_from(r.try_get::<_, i64>(2)?)
                        .map_err(|_| RecoveryDbError::Corrupt("rng_version out of range"))?,
                },
                last_active_at: millis_to_time(r.try_get(3)?),
            });
        }
        Ok(out)
    }

    async fn get_ingestable_ranges(&self) -> Result<Vec<IngestableRange>> {
        let c = self.conn().await?;
        let rows = c.query(sql::INGESTABLE_RANGES, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(IngestableRange {
                id: IngestInvocationId(r.try_get(0)?),
                start_block: BlockIndex(to_u64(r.try_get(1)?)?),
                decommissioned: r.try_get(2)?,
                last_ingested_block: opt_u64(r.try_get(3)?)?.map(BlockIndex),
            });
        }
        Ok(out)
    }

    async fn take_over_ingress_key(
        &self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        condition: TakeOver,
    ) -> Result<Option<TookOver>> {
        let k: &[u8] = &key.0;
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // Every writer of invocations and blocks takes this lock first: two peers taking
        // over at once run one after the other, and the second sees the first's invocation.
        order_writes(&tx).await?;
        let status = key_status(&tx, k)
            .await?
            .ok_or(RecoveryDbError::UnknownIngressKey)?;
        if status.lost {
            return Err(RecoveryDbError::IngressKeyLost);
        }
        check_egress_unused(&tx, egress).await?;
        let mut live = Vec::new();
        for r in tx.query(sql::LIVE_INVOCATIONS, &[&k]).await? {
            live.push((r.try_get::<_, i64>(0)?, r.try_get::<_, i64>(1)?));
        }
        if let TakeOver::IfIdleSince(t) = condition {
            let t = time_to_millis(t);
            if live.iter().any(|&(_, active)| active >= t) {
                return Ok(None);
            }
        }
        let start_block = match max_block(&tx, sql::LAST_SCANNED, &[&k]).await? {
            Some(b) => BlockIndex(b.0.checked_add(1).ok_or(RecoveryDbError::InvalidInput(
                "the key has scanned the last block there is",
            ))?),
            None => status.start_block,
        };
        let start = to_i64(start_block.0)?;
        for &(id, _) in &live {
            decommission(&tx, id).await?;
        }
        let id = insert_invocation(&tx, k, egress, start).await?;
        tx.commit().await?;
        Ok(Some(TookOver {
            invocation: IngestInvocationId(id),
            start_block,
            decommissioned: live
                .into_iter()
                .map(|(id, _)| IngestInvocationId(id))
                .collect(),
        }))
    }

    async fn get_invocations(
        &self,
        key: Option<&IngressPublicKey>,
    ) -> Result<Vec<InvocationRecord>> {
        let c = self.conn().await?;
        let rows = match key {
            None => c.query(sql::INVOCATIONS, &[]).await?,
            Some(k) => c.query(sql::KEY_INVOCATIONS, &[&&k.0[..]]).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let k: &[u8] = r.try_get(1)?;
            out.push(InvocationRecord {
                id: IngestInvocationId(r.try_get(0)?),
                ingress_key: sql::key_from(k)?,
                egress_public_key: KexRngPubkey {
                    public_key: r.try_get(2)?,
                    version: u32::try_from(r.try_get::<_, i64>(3)?)
                        .map_err(|_| RecoveryDbError::Corrupt("rng_version out of range"))?,
                },
                start_block: BlockIndex(to_u64(r.try_get(4)?)?),
                decommissioned: r.try_get(5)?,
                last_active_at: millis_to_time(r.try_get(6)?),
                last_ingested_block: opt_u64(r.try_get(7)?)?.map(BlockIndex),
            });
        }
        Ok(out)
    }

    async fn prune_empty_invocations(
        &self,
        decommissioned_before: SystemTime,
    ) -> Result<Vec<IngestInvocationId>> {
        let before = time_to_millis(decommissioned_before);
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        order_writes(&tx).await?;
        let mut ids = Vec::new();
        for r in tx.query(sql::PRUNABLE_INVOCATIONS, &[&before]).await? {
            ids.push(r.try_get::<_, i64>(0)?);
        }
        for id in &ids {
            tx.execute(sql::DELETE_INVOCATION_EVENTS, &[id]).await?;
            tx.execute(sql::DELETE_INVOCATION, &[id]).await?;
        }
        tx.commit().await?;
        Ok(ids.into_iter().map(IngestInvocationId).collect())
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
        let blob = encode_records(records);
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        order_writes(&tx).await?;
        // After `order_writes`, which every decommission takes too: a decommission commits
        // either before this read (and the write is refused) or after this commit (and
        // freezes this block in).
        let state = tx
            .query_opt(sql::INVOCATION_STATE, &[&invocation.0])
            .await?
            .ok_or(RecoveryDbError::UnknownIngestInvocation(invocation.0))?;
        let key: Vec<u8> = state.try_get(0)?;
        if state.try_get::<_, bool>(1)? {
            return Err(RecoveryDbError::InvocationDecommissioned(invocation.0));
        }
        let inserted = tx
            .execute(
                sql::INSERT_BLOCK,
                &[&invocation.0, &key, &block, &count, &ts, &n_records, &blob],
            )
            .await?;
        if inserted == 0 {
            return Ok(AddBlockDataStatus {
                block_already_scanned_with_this_key: true,
            });
        }
        if self
            .inner
            .fail_next_block_write
            .swap(false, Ordering::SeqCst)
        {
            return Err(RecoveryDbError::InjectedFault);
        }
        tx.execute(sql::TOUCH_INVOCATION, &[&now_millis(), &invocation.0])
            .await?;
        tx.commit().await?;
        Ok(AddBlockDataStatus {
            block_already_scanned_with_this_key: false,
        })
    }

    async fn get_tx_outs_by_block_and_key(
        &self,
        key: &IngressPublicKey,
        block_index: BlockIndex,
    ) -> Result<Option<Vec<ETxOutRecord>>> {
        let Ok(block) = to_i64(block_index.0) else {
            return Ok(None);
        };
        let c = self.conn().await?;
        let row = c
            .query_opt(sql::BLOCK_BY_KEY, &[&&key.0[..], &block])
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let blob: &[u8] = r.try_get(0)?;
                decode_records(blob).map(Some)
            }
        }
    }

    async fn get_tx_outs_by_block_range_and_key(
        &self,
        key: &IngressPublicKey,
        range: BlockRange,
    ) -> Result<Vec<Vec<ETxOutRecord>>> {
        let Ok(start) = to_i64(range.start().0) else {
            return Ok(Vec::new());
        };
        let end = to_i64(range.end().0).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        let rows = c
            .query(sql::BLOCK_RANGE_BY_KEY, &[&&key.0[..], &start, &end])
            .await?;
        let mut out = Vec::new();
        for (expected, r) in (start..).zip(rows) {
            let b: i64 = r.try_get(0)?;
            if b != expected {
                break;
            }
            let blob: &[u8] = r.try_get(1)?;
            out.push(decode_records(blob)?);
        }
        Ok(out)
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
        let c = self.conn().await?;
        let stmt = c.prepare(sql::RECORDS_SINCE_IN).await?;
        let mut count = 0usize;
        'outer: loop {
            let rows = c
                .query(
                    &stmt,
                    &[&batch.next.0, &first, &last, &RECORDS_CHUNK_BLOCKS],
                )
                .await?;
            let full = rows.len() as i64 == RECORDS_CHUNK_BLOCKS;
            for r in rows {
                if !batch.blocks.is_empty() && count >= max_records {
                    break 'outer;
                }
                let id: i64 = r.try_get(0)?;
                let block = block_from_row(&r)?;
                count += block.records.len();
                batch.blocks.push(block);
                batch.next = RecordCursor(id);
            }
            if !full || count >= max_records {
                break;
            }
        }
        Ok(batch)
    }

    async fn get_highest_known_block_index(&self) -> Result<Option<BlockIndex>> {
        let c = self.conn().await?;
        max_block(&*c, sql::HIGHEST_KNOWN_BLOCK, &[]).await
    }

    async fn get_missed_block_ranges(&self) -> Result<Vec<BlockRange>> {
        let c = self.conn().await?;
        let rows = c.query(sql::MISSED_RANGES, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(
                BlockRange::from_u64(to_u64(r.try_get(0)?)?, to_u64(r.try_get(1)?)?)
                    .map_err(|_| RecoveryDbError::Corrupt("missed range start past end"))?,
            );
        }
        Ok(out)
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
        let mut c = self.conn().await?;
        // One snapshot for the events and the invocations' last blocks.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let rows = tx.query(sql::USER_EVENTS, &[&since.0]).await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut next = since;
        for r in rows {
            let row = EventRow {
                id: r.try_get(0)?,
                event_type: r.try_get(1)?,
                new_id: r.try_get(2)?,
                egress: r.try_get(3)?,
                rng_version: r.try_get(4)?,
                start_block: r.try_get(5)?,
                decommission_id: r.try_get(6)?,
                last_block: r.try_get(7)?,
                missing_start: r.try_get(8)?,
                missing_end: r.try_get(9)?,
            };
            next = UserEventId(row.id);
            out.push(row.into_event()?);
        }
        Ok((out, next))
    }
}
