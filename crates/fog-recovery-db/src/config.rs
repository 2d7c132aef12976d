//! Choosing and opening a backend from a URL.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::memory::MemoryRecoveryDb;
use crate::postgres::PostgresRecoveryDb;
use crate::sqlite::SqliteRecoveryDb;
use crate::traits::{RecoveryDb, ReportDb, Result};
use crate::types::*;
use crate::RecoveryDbError;

/// Which backend to open, parsed from a URL:
/// - `sqlite:///path/to/file.db`, `sqlite://relative.db`, `sqlite:file.db`, or a plain path;
/// - `postgres://…` or `postgresql://…` (user, password, host, database: libpq's URL form);
/// - `memory:`.
///
/// `Debug` never prints a Postgres URL (it may hold a password).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryDbConfig {
    /// An SQLite file.
    Sqlite {
        /// The file; created if missing.
        path: PathBuf,
    },
    /// A Postgres server.
    Postgres {
        /// The connection URL (may hold credentials: never log it).
        url: String,
    },
    /// Memory only: nothing persists.
    Memory,
}

impl core::fmt::Debug for RecoveryDbConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecoveryDbConfig::Sqlite { path } => {
                f.debug_struct("Sqlite").field("path", path).finish()
            }
            RecoveryDbConfig::Postgres { .. } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .finish(),
            RecoveryDbConfig::Memory => f.write_str("Memory"),
        }
    }
}

impl RecoveryDbConfig {
    /// Parses a URL (see the type's documentation). Errors never repeat the URL.
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(RecoveryDbError::BadUrl("empty"));
        }
        if url == "memory:" || url == "memory://" {
            return Ok(RecoveryDbConfig::Memory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(RecoveryDbConfig::Postgres {
                url: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(RecoveryDbError::BadUrl("sqlite URL without a path"));
            }
            return Ok(RecoveryDbConfig::Sqlite { path: path.into() });
        }
        if url.contains("://") {
            return Err(RecoveryDbError::BadUrl(
                "unknown scheme (use sqlite://, postgres:// or memory:)",
            ));
        }
        Ok(RecoveryDbConfig::Sqlite { path: url.into() })
    }

    /// Opens the backend, running migrations for the SQL ones.
    pub async fn open(&self) -> Result<AnyRecoveryDb> {
        match self {
            RecoveryDbConfig::Sqlite { path } => {
                let path = path.clone();
                let db = tokio::task::spawn_blocking(move || SqliteRecoveryDb::open(path))
                    .await
                    .map_err(|_| RecoveryDbError::TaskFailed)??;
                Ok(AnyRecoveryDb::Sqlite(db))
            }
            RecoveryDbConfig::Postgres { url } => Ok(AnyRecoveryDb::Postgres(
                PostgresRecoveryDb::connect(url).await?,
            )),
            RecoveryDbConfig::Memory => Ok(AnyRecoveryDb::Memory(MemoryRecoveryDb::new())),
        }
    }
}

/// Parses `url` and opens that backend: `sqlite:///path/file.db` (or a plain path),
/// `postgres://…`, or `memory:`.
pub async fn open(url: &str) -> Result<AnyRecoveryDb> {
    RecoveryDbConfig::from_url(url)?.open().await
}

/// Any backend, chosen at run time. Services that are generic over [`RecoveryDb`] can use
/// this type when the backend comes from configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyRecoveryDb {
    /// SQLite.
    Sqlite(SqliteRecoveryDb),
    /// Postgres.
    Postgres(PostgresRecoveryDb),
    /// Memory.
    Memory(MemoryRecoveryDb),
}

macro_rules! dispatch {
    ($self:ident, $db:ident => $call:expr) => {
        match $self {
            AnyRecoveryDb::Sqlite($db) => $call.await,
            AnyRecoveryDb::Postgres($db) => $call.await,
            AnyRecoveryDb::Memory($db) => $call.await,
        }
    };
}

impl ReportDb for AnyRecoveryDb {
    async fn get_all_reports(&self) -> Result<Vec<(String, ReportData)>> {
        dispatch!(self, db => db.get_all_reports())
    }
    async fn set_report(
        &self,
        ingress_key: &IngressPublicKey,
        report_id: &str,
        data: &ReportData,
    ) -> Result<IngressPublicKeyStatus> {
        dispatch!(self, db => db.set_report(ingress_key, report_id, data))
    }
    async fn remove_report(&self, report_id: &str) -> Result<()> {
        dispatch!(self, db => db.remove_report(report_id))
    }
}

impl RecoveryDb for AnyRecoveryDb {
    async fn get_ingress_key_status(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<IngressPublicKeyStatus>> {
        dispatch!(self, db => db.get_ingress_key_status(key))
    }
    async fn new_ingress_key(
        &self,
        key: &IngressPublicKey,
        start_block: BlockIndex,
    ) -> Result<BlockIndex> {
        dispatch!(self, db => db.new_ingress_key(key, start_block))
    }
    async fn retire_ingress_key(&self, key: &IngressPublicKey, set_retired: bool) -> Result<()> {
        dispatch!(self, db => db.retire_ingress_key(key, set_retired))
    }
    async fn report_lost_ingress_key(&self, key: &IngressPublicKey) -> Result<()> {
        dispatch!(self, db => db.report_lost_ingress_key(key))
    }
    async fn get_last_scanned_block_index(
        &self,
        key: &IngressPublicKey,
    ) -> Result<Option<BlockIndex>> {
        dispatch!(self, db => db.get_last_scanned_block_index(key))
    }
    async fn get_ingress_key_records(
        &self,
        start_block_at_least: BlockIndex,
        filters: &IngressPublicKeyFilters,
    ) -> Result<Vec<IngressPublicKeyRecord>> {
        dispatch!(self, db => db.get_ingress_key_records(start_block_at_least, filters))
    }
    async fn new_ingest_invocation(
        &self,
        prev: Option<IngestInvocationId>,
        ingress_key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> Result<IngestInvocationId> {
        dispatch!(self, db => db.new_ingest_invocation(prev, ingress_key, egress, start_block))
    }
    async fn decommission_ingest_invocation(&self, id: IngestInvocationId) -> Result<()> {
        dispatch!(self, db => db.decommission_ingest_invocation(id))
    }
    async fn update_last_active_at(&self, id: IngestInvocationId) -> Result<()> {
        dispatch!(self, db => db.update_last_active_at(id))
    }
    async fn get_expired_invocations(&self, before: SystemTime) -> Result<Vec<ExpiredInvocation>> {
        dispatch!(self, db => db.get_expired_invocations(before))
    }
    async fn get_ingestable_ranges(&self) -> Result<Vec<IngestableRange>> {
        dispatch!(self, db => db.get_ingestable_ranges())
    }
    async fn take_over_ingress_key(
        &self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        condition: TakeOver,
    ) -> Result<Option<TookOver>> {
        dispatch!(self, db => db.take_over_ingress_key(key, egress, condition))
    }
    async fn get_invocations(
        &self,
        key: Option<&IngressPublicKey>,
    ) -> Result<Vec<InvocationRecord>> {
        dispatch!(self, db => db.get_invocations(key))
    }
    async fn prune_empty_invocations(
        &self,
        decommissioned_before: SystemTime,
    ) -> Result<Vec<IngestInvocationId>> {
        dispatch!(self, db => db.prune_empty_invocations(decommissioned_before))
    }
    async fn add_block_data(
        &self,
        invocation: IngestInvocationId,
        block_index: BlockIndex,
        cumulative_txo_count: u64,
        block_signature_timestamp: u64,
        records: &[ETxOutRecord],
    ) -> Result<AddBlockDataStatus> {
        dispatch!(self, db => db.add_block_data(
            invocation,
            block_index,
            cumulative_txo_count,
            block_signature_timestamp,
            records
        ))
    }
    async fn get_tx_outs_by_block_and_key(
        &self,
        key: &IngressPublicKey,
        block_index: BlockIndex,
    ) -> Result<Option<Vec<ETxOutRecord>>> {
        dispatch!(self, db => db.get_tx_outs_by_block_and_key(key, block_index))
    }
    async fn get_tx_outs_by_block_range_and_key(
        &self,
        key: &IngressPublicKey,
        range: BlockRange,
    ) -> Result<Vec<Vec<ETxOutRecord>>> {
        dispatch!(self, db => db.get_tx_outs_by_block_range_and_key(key, range))
    }
    async fn get_records_since_in(
        &self,
        cursor: RecordCursor,
        max_records: usize,
        blocks: BlockSpan,
    ) -> Result<RecordBatch> {
        dispatch!(self, db => db.get_records_since_in(cursor, max_records, blocks))
    }
    async fn get_highest_known_block_index(&self) -> Result<Option<BlockIndex>> {
        dispatch!(self, db => db.get_highest_known_block_index())
    }
    async fn get_missed_block_ranges(&self) -> Result<Vec<BlockRange>> {
        dispatch!(self, db => db.get_missed_block_ranges())
    }
    async fn get_cumulative_txo_count_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        dispatch!(self, db => db.get_cumulative_txo_count_for_block(block_index))
    }
    async fn get_block_signature_timestamp_for_block(
        &self,
        block_index: BlockIndex,
    ) -> Result<Option<u64>> {
        dispatch!(self, db => db.get_block_signature_timestamp_for_block(block_index))
    }
    async fn search_user_events(
        &self,
        since: UserEventId,
    ) -> Result<(Vec<FogUserEvent>, UserEventId)> {
        dispatch!(self, db => db.search_user_events(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_backends() {
        assert_eq!(
            RecoveryDbConfig::from_url("sqlite:///var/fog/recovery.db").unwrap(),
            RecoveryDbConfig::Sqlite {
                path: "/var/fog/recovery.db".into()
            }
        );
        assert_eq!(
            RecoveryDbConfig::from_url("recovery.db").unwrap(),
            RecoveryDbConfig::Sqlite {
                path: "recovery.db".into()
            }
        );
        assert_eq!(
            RecoveryDbConfig::from_url("memory:").unwrap(),
            RecoveryDbConfig::Memory
        );
        assert!(matches!(
            RecoveryDbConfig::from_url("postgres://u:pw@h/db").unwrap(),
            RecoveryDbConfig::Postgres { .. }
        ));
        assert!(RecoveryDbConfig::from_url("mysql://u:pw@h/db").is_err());
    }

    #[test]
    fn debug_and_errors_never_show_credentials() {
        let url = "postgres://fog:hunter2@db.internal:5432/recovery";
        let cfg = RecoveryDbConfig::from_url(url).unwrap();
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("db.internal"),
            "{shown}"
        );
        let err = RecoveryDbConfig::from_url("mysql://fog:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
