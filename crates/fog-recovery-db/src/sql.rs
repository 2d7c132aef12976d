//! The SQL both backends run. Parameters are written `$n` and first appear in increasing
//! order, so SQLite (which numbers `$name` parameters by first appearance) and Postgres bind
//! them the same way. Booleans are `TRUE`/`FALSE` (SQLite stores them as 0/1).

/// `user_events.event_type` of a new ingest invocation (a new RNG record).
pub const EVENT_NEW_INVOCATION: i64 = 1;
/// `user_events.event_type` of a decommissioned invocation.
pub const EVENT_DECOMMISSION: i64 = 2;
/// `user_events.event_type` of a missed block range.
pub const EVENT_MISSING_BLOCKS: i64 = 3;

pub(crate) const HIGHEST_KNOWN_BLOCK: &str = "SELECT MAX(block_number) FROM ingested_blocks";

pub(crate) const KEY_STATUS: &str = "SELECT start_block, pubkey_expiry, retired, lost \
     FROM ingress_keys WHERE ingress_public_key = $1";

pub(crate) const INSERT_KEY: &str = "INSERT INTO ingress_keys \
     (ingress_public_key, start_block, pubkey_expiry, retired, lost) \
     VALUES ($1, $2, 0, FALSE, FALSE) ON CONFLICT DO NOTHING";

pub(crate) const RETIRE_KEY: &str =
    "UPDATE ingress_keys SET retired = $1 WHERE ingress_public_key = $2";

pub(crate) const SET_LOST: &str =
    "UPDATE ingress_keys SET lost = TRUE WHERE ingress_public_key = $1";

pub(crate) const LAST_SCANNED: &str =
    "SELECT MAX(block_number) FROM ingested_blocks WHERE ingress_public_key = $1";

pub(crate) const INSERT_MISSING: &str = "INSERT INTO user_events \
     (event_type, missing_blocks_start, missing_blocks_end) VALUES (3, $1, $2) \
     ON CONFLICT DO NOTHING";

pub(crate) const KEY_RECORDS: &str = "SELECT k.ingress_public_key, k.start_block, \
     k.pubkey_expiry, k.retired, k.lost, \
     (SELECT MAX(b.block_number) FROM ingested_blocks b \
      WHERE b.ingress_public_key = k.ingress_public_key) \
     FROM ingress_keys k WHERE k.start_block >= $1 \
     ORDER BY k.start_block, k.ingress_public_key";

pub(crate) const INVOCATION_STATE: &str =
    "SELECT ingress_public_key, decommissioned FROM ingest_invocations WHERE id = $1";

/// Decommissions and freezes the invocation's last block: the decommission event reports that
/// column, never a value computed when the event is read, and `add_block_data` refuses the
/// invocation from then on (in the same transaction as its insert), so the two agree.
pub(crate) const DECOMMISSION: &str = "UPDATE ingest_invocations SET decommissioned = TRUE, \
     last_active_at = $1, decommissioned_last_block = \
     (SELECT MAX(b.block_number) FROM ingested_blocks b WHERE b.ingest_invocation_id = $2) \
     WHERE id = $2";

pub(crate) const INSERT_DECOMMISSION_EVENT: &str = "INSERT INTO user_events \
     (event_type, decommission_ingest_invocation_id) VALUES (2, $1)";

pub(crate) const EGRESS_KEY_USED: &str =
    "SELECT id FROM ingest_invocations WHERE egress_public_key = $1";

pub(crate) const INSERT_INVOCATION: &str = "INSERT INTO ingest_invocations \
     (ingress_public_key, egress_public_key, rng_version, last_active_at, start_block, \
      decommissioned) VALUES ($1, $2, $3, $4, $5, FALSE) RETURNING id";

pub(crate) const INSERT_NEW_INVOCATION_EVENT: &str = "INSERT INTO user_events \
     (event_type, new_ingest_invocation_id) VALUES (1, $1)";

pub(crate) const TOUCH_INVOCATION: &str =
    "UPDATE ingest_invocations SET last_active_at = $1 WHERE id = $2";

pub(crate) const EXPIRED_INVOCATIONS: &str = "SELECT id, egress_public_key, rng_version, \
     last_active_at FROM ingest_invocations WHERE last_active_at < $1 ORDER BY id";

pub(crate) const INGESTABLE_RANGES: &str = "SELECT i.id, i.start_block, i.decommissioned, \
     (SELECT MAX(b.block_number) FROM ingested_blocks b WHERE b.ingest_invocation_id = i.id) \
     FROM ingest_invocations i ORDER BY i.id";

pub(crate) const INSERT_BLOCK: &str = "INSERT INTO ingested_blocks \
     (ingest_invocation_id, ingress_public_key, block_number, cumulative_txo_count, \
      block_signature_timestamp, record_count, records) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

pub(crate) const BLOCK_BY_KEY: &str = "SELECT records FROM ingested_blocks \
     WHERE ingress_public_key = $1 AND block_number = $2";

pub(crate) const BLOCK_RANGE_BY_KEY: &str = "SELECT block_number, records FROM ingested_blocks \
     WHERE ingress_public_key = $1 AND block_number >= $2 AND block_number < $3 \
     ORDER BY block_number";

/// The blocks after cursor `$1` with `$2 <= block_number <= $3`, in write order, at most `$4`.
///
/// The inner query walks `ingested_blocks_by_id_block` from the cursor in id order and checks
/// the block number on each index entry, so a block outside the span costs an index entry, not
/// a row read, and the walk stops after `$4` blocks of the span. The unary `+` keeps both
/// planners off `ingested_blocks_by_block`: from there they would read and sort the whole rest
/// of the span on every page (SQLite picks that plan whenever it can; Postgres with a generic
/// plan). The outer query reads the chosen rows by id, in id order, lazily on SQLite.
pub(crate) const RECORDS_SINCE_IN: &str = "SELECT id, ingress_public_key, \
     ingest_invocation_id, block_number, cumulative_txo_count, block_signature_timestamp, \
     record_count, records FROM ingested_blocks WHERE id IN (SELECT id FROM ingested_blocks \
     WHERE id > $1 AND +block_number >= $2 AND +block_number <= $3 ORDER BY id LIMIT $4) \
     ORDER BY id";

pub(crate) const CUMULATIVE_TXO_COUNT: &str =
    "SELECT cumulative_txo_count FROM ingested_blocks WHERE block_number = $1 LIMIT 1";

pub(crate) const BLOCK_TIMESTAMP: &str =
    "SELECT block_signature_timestamp FROM ingested_blocks WHERE block_number = $1 LIMIT 1";

pub(crate) const MISSED_RANGES: &str = "SELECT missing_blocks_start, missing_blocks_end \
     FROM user_events WHERE event_type = 3 ORDER BY id";

pub(crate) const USER_EVENTS: &str = "SELECT e.id, e.event_type, \
     e.new_ingest_invocation_id, i.egress_public_key, i.rng_version, i.start_block, \
     e.decommission_ingest_invocation_id, d.decommissioned_last_block, \
     e.missing_blocks_start, e.missing_blocks_end \
     FROM user_events e LEFT JOIN ingest_invocations i ON i.id = e.new_ingest_invocation_id \
     LEFT JOIN ingest_invocations d ON d.id = e.decommission_ingest_invocation_id \
     WHERE e.id > $1 ORDER BY e.id";

pub(crate) const ALL_REPORTS: &str =
    "SELECT fog_report_id, ingest_invocation_id, report, pubkey_expiry FROM reports";

pub(crate) const GROW_EXPIRY: &str = "UPDATE ingress_keys SET pubkey_expiry = $1 \
     WHERE ingress_public_key = $2 AND NOT retired AND pubkey_expiry < $1";

pub(crate) const UPSERT_REPORT: &str = "INSERT INTO reports \
     (ingress_public_key, ingest_invocation_id, fog_report_id, report, pubkey_expiry) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fog_report_id) DO UPDATE SET \
     ingress_public_key = excluded.ingress_public_key, \
     ingest_invocation_id = excluded.ingest_invocation_id, \
     report = excluded.report, pubkey_expiry = excluded.pubkey_expiry";

pub(crate) const REMOVE_REPORT: &str = "DELETE FROM reports WHERE fog_report_id = $1";

/// One user event row as both backends read it, before it becomes a `FogUserEvent`.
pub struct EventRow {
    /// `user_events.id`.
    pub id: i64,
    /// `user_events.event_type`: one of the `EVENT_` constants.
    pub event_type: i64,
    /// The new invocation's id (a new-invocation event).
    pub new_id: Option<i64>,
    /// The new invocation's egress public key.
    pub egress: Option<Vec<u8>>,
    /// The new invocation's KexRng version.
    pub rng_version: Option<i64>,
    /// The new invocation's first block.
    pub start_block: Option<i64>,
    /// The decommissioned invocation's id (a decommission event).
    pub decommission_id: Option<i64>,
    /// The decommissioned invocation's last block, if it scanned one.
    pub last_block: Option<i64>,
    /// The first missed block (a missing-blocks event).
    pub missing_start: Option<i64>,
    /// One past the last missed block.
    pub missing_end: Option<i64>,
}

impl EventRow {
    /// The event this row records; [`crate::RecoveryDbError::Corrupt`] if its columns do not
    /// make one.
    pub fn into_event(self) -> Result<crate::types::FogUserEvent, crate::RecoveryDbError> {
        use crate::codec::to_u64;
        use crate::types::*;
        use crate::RecoveryDbError::Corrupt;
        match self.event_type {
            EVENT_NEW_INVOCATION => {
                let (Some(id), Some(egress), Some(version), Some(start)) =
                    (self.new_id, self.egress, self.rng_version, self.start_block)
                else {
                    return Err(Corrupt("new invocation event without its invocation"));
                };
                Ok(FogUserEvent::NewRngRecord(RngRecord {
                    ingest_invocation_id: IngestInvocationId(id),
                    pubkey: KexRngPubkey {
                        public_key: egress,
                        version: u32::try_from(version)
                            .map_err(|_| Corrupt("rng_version out of range"))?,
                    },
                    start_block: BlockIndex(to_u64(start)?),
                }))
            }
            EVENT_DECOMMISSION => {
                let id = self
                    .decommission_id
                    .ok_or(Corrupt("decommission event without its invocation"))?;
                Ok(FogUserEvent::DecommissionIngestInvocation {
                    id: IngestInvocationId(id),
                    last_ingested_block: BlockIndex(to_u64(self.last_block.unwrap_or(0))?),
                })
            }
            EVENT_MISSING_BLOCKS => {
                let (Some(s), Some(e)) = (self.missing_start, self.missing_end) else {
                    return Err(Corrupt("missing blocks event without its range"));
                };
                BlockRange::from_u64(to_u64(s)?, to_u64(e)?)
                    .map(FogUserEvent::MissingBlocks)
                    .map_err(|_| Corrupt("missing blocks event with start past end"))
            }
            _ => Err(Corrupt("unknown user event type")),
        }
    }
}

/// The status columns `(start_block, pubkey_expiry, retired, lost)` to a status.
pub fn status_from(
    start: i64,
    expiry: i64,
    retired: bool,
    lost: bool,
) -> Result<crate::types::IngressPublicKeyStatus, crate::RecoveryDbError> {
    use crate::codec::to_u64;
    use crate::types::*;
    Ok(IngressPublicKeyStatus {
        start_block: BlockIndex(to_u64(start)?),
        pubkey_expiry: BlockIndex(to_u64(expiry)?),
        retired,
        lost,
    })
}

/// Applies the record filters the way MobileCoin's SQL does.
pub(crate) fn keep_record(
    r: &crate::types::IngressPublicKeyRecord,
    f: &crate::types::IngressPublicKeyFilters,
) -> bool {
    (f.should_include_lost_keys || !r.status.lost)
        && (f.should_include_retired_keys || !r.status.retired)
        && (!f.should_only_include_unexpired_keys
            || r.last_scanned_block
                .is_some_and(|l| r.status.pubkey_expiry > l))
}

/// The key column to a key.
pub fn key_from(bytes: &[u8]) -> Result<crate::types::IngressPublicKey, crate::RecoveryDbError> {
    crate::types::IngressPublicKey::from_bytes(bytes)
        .map_err(|_| crate::RecoveryDbError::Corrupt("stored ingress key is not 32 bytes"))
}

/// The live (not decommissioned) invocations of a key with their last activity, by id.
pub(crate) const LIVE_INVOCATIONS: &str = "SELECT id, last_active_at FROM ingest_invocations \
     WHERE ingress_public_key = $1 AND NOT decommissioned ORDER BY id";

/// Every invocation, by id.
pub(crate) const INVOCATIONS: &str = "SELECT i.id, i.ingress_public_key, i.egress_public_key, \
     i.rng_version, i.start_block, i.decommissioned, i.last_active_at, \
     (SELECT MAX(b.block_number) FROM ingested_blocks b WHERE b.ingest_invocation_id = i.id) \
     FROM ingest_invocations i ORDER BY i.id";

/// The invocations of key `$1`, by id.
pub(crate) const KEY_INVOCATIONS: &str = "SELECT i.id, i.ingress_public_key, \
     i.egress_public_key, i.rng_version, i.start_block, i.decommissioned, i.last_active_at, \
     (SELECT MAX(b.block_number) FROM ingested_blocks b WHERE b.ingest_invocation_id = i.id) \
     FROM ingest_invocations i WHERE i.ingress_public_key = $1 ORDER BY i.id";

/// Decommissioned before `$1`, no block stored, no report naming it.
pub(crate) const PRUNABLE_INVOCATIONS: &str = "SELECT i.id FROM ingest_invocations i \
     WHERE i.decommissioned AND i.last_active_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM ingested_blocks b WHERE b.ingest_invocation_id = i.id) \
     AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.ingest_invocation_id = i.id) \
     ORDER BY i.id";

pub(crate) const DELETE_INVOCATION_EVENTS: &str = "DELETE FROM user_events \
     WHERE new_ingest_invocation_id = $1 OR decommission_ingest_invocation_id = $1";

pub(crate) const DELETE_INVOCATION: &str = "DELETE FROM ingest_invocations WHERE id = $1";
