//! The two boundary traits: [`ReportDb`] (what the report server needs) and [`RecoveryDb`]
//! (everything ingest and view need). Every method is one transaction.

use std::future::Future;
use std::time::SystemTime;

use crate::types::*;
use crate::RecoveryDbError;

/// Shorthand for the result of every call.
pub type Result<T> = core::result::Result<T, RecoveryDbError>;

/// The reports half of the recovery database: signed ingest reports keyed by `fog_report_id`.
pub trait ReportDb: Send + Sync + 'static {
    /// Every report, in `fog_report_id` order. Always all of them: which report a client
    /// wants must not show in what the server reads.
    fn get_all_reports(&self) -> impl Future<Output = Result<Vec<(String, ReportData)>>> + Send;

    /// Publishes a report for `ingress_key` under `report_id` (at most 64 characters).
    ///
    /// In one transaction: the key's `pubkey_expiry` becomes `data.pubkey_expiry` if that is
    /// larger and the key is not retired (expiry only grows); then, if the key is retired,
    /// nothing more is written; otherwise the report replaces any report with the same id.
    /// Returns the key's status after the update. Fails on an unknown key or invocation.
    fn set_report(
        &self,
        ingress_key: &IngressPublicKey,
        report_id: &str,
        data: &ReportData,
    ) -> impl Future<Output = Result<IngressPublicKeyStatus>> + Send;

    /// Removes the report with this id, if there is one.
    fn remove_report(&self, report_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The recovery database: ingress keys, ingest invocations, encrypted records per block,
/// user events and (through [`ReportDb`]) reports. MobileCoin's semantics
/// (`../shared/spec/services.md` 3.2); the conformance suite ([`crate::conformance`]) pins
/// them down for every backend.
pub trait RecoveryDb: ReportDb {
    // --- ingress keys ------------------------------------------------------------------

    /// The status of a key, or `None` if unknown.
    fn get_ingress_key_status(
        &self,
        key: &IngressPublicKey,
    ) -> impl Future<Output = Result<Option<IngressPublicKeyStatus>>> + Send;

    /// Registers a new ingress key. The accepted start block is
    /// `max(start_block, highest known block + 1)` and is returned. Fails with
    /// [`RecoveryDbError::DuplicateIngressKey`] if the key exists.
    fn new_ingress_key(
        &self,
        key: &IngressPublicKey,
        start_block: BlockIndex,
    ) -> impl Future<Output = Result<BlockIndex>> + Send;

    /// Sets or clears the `retired` flag. Fails on an unknown key.
    fn retire_ingress_key(
        &self,
        key: &IngressPublicKey,
        set_retired: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Marks the key lost. If `[max(start, last_scanned + 1), pubkey_expiry)` is not empty it
    /// becomes a `MissingBlocks` user event (once: reporting the same range again adds
    /// nothing). Fails on an unknown key.
    fn report_lost_ingress_key(
        &self,
        key: &IngressPublicKey,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The highest block stored under this key, if any.
    fn get_last_scanned_block_index(
        &self,
        key: &IngressPublicKey,
    ) -> impl Future<Output = Result<Option<BlockIndex>>> + Send;

    /// The keys with `start_block >= start_block_at_least` that pass `filters`, ordered by
    /// start block then key bytes; see [`IngressPublicKeyRecord::covered_block_range`].
    fn get_ingress_key_records(
        &self,
        start_block_at_least: BlockIndex,
        filters: &IngressPublicKeyFilters,
    ) -> impl Future<Output = Result<Vec<IngressPublicKeyRecord>>> + Send;

    // --- ingest invocations --------------------------------------------------------------

    /// Opens a new invocation for `ingress_key` with egress key `egress` starting at
    /// `start_block`, and adds its `NewRngRecord` event. If `prev` is given it is
    /// decommissioned in the same transaction (its event comes first). Fails on an unknown
    /// key or `prev`, or an egress key already used.
    fn new_ingest_invocation(
        &self,
        prev: Option<IngestInvocationId>,
        ingress_key: &IngressPublicKey,
        egress: &KexRngPubkey,
        start_block: BlockIndex,
    ) -> impl Future<Output = Result<IngestInvocationId>> + Send;

    /// Decommissions an invocation: sets the flag, freezes its last stored block (the one its
    /// `DecommissionIngestInvocation` event reports from then on), touches `last_active_at`
    /// and adds the event. Later `add_block_data` calls for it are refused. A second call is
    /// a no-op. Fails on an unknown id.
    fn decommission_ingest_invocation(
        &self,
        id: IngestInvocationId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets the invocation's `last_active_at` to now. Fails on an unknown id.
    fn update_last_active_at(
        &self,
        id: IngestInvocationId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Invocations last active strictly before `before`, by id.
    fn get_expired_invocations(
        &self,
        before: SystemTime,
    ) -> impl Future<Output = Result<Vec<ExpiredInvocation>>> + Send;

    /// Every invocation with its start and last ingested block, by id.
    fn get_ingestable_ranges(&self) -> impl Future<Output = Result<Vec<IngestableRange>>> + Send;

    /// Fences an ingress key for a new invocation: in one transaction, opens an invocation
    /// for `key` with egress key `egress` as the key's only live one, decommissioning every
    /// other live invocation of the key (each with its event, by id, before the new
    /// invocation's `NewRngRecord` event). It starts at the block after the last one stored
    /// under the key (the key's start block if none), read in the same transaction, so no
    /// block falls between the old writer and the new one.
    ///
    /// With [`TakeOver::IfIdleSince`] nothing is written and `None` returned when some live
    /// invocation of the key was active at or after that time. Because `add_block_data`
    /// refuses decommissioned invocations inside its own transaction, a server whose
    /// invocation was taken over can never write again: at most one writer per key.
    ///
    /// Fails on an unknown key ([`RecoveryDbError::UnknownIngressKey`]), a key reported lost
    /// ([`RecoveryDbError::IngressKeyLost`]) or an egress key already used.
    fn take_over_ingress_key(
        &self,
        key: &IngressPublicKey,
        egress: &KexRngPubkey,
        condition: TakeOver,
    ) -> impl Future<Output = Result<Option<TookOver>>> + Send;

    /// The invocations, by id; only those of `key` when given.
    fn get_invocations(
        &self,
        key: Option<&IngressPublicKey>,
    ) -> impl Future<Output = Result<Vec<InvocationRecord>>> + Send;

    /// Removes the invocations that stored no block, were decommissioned strictly before
    /// `decommissioned_before`, and no report names, together with their two user events
    /// (new RNG record, decommission). Clients lose nothing: such an RNG record never had a
    /// search key in the DB. Invocations that stored blocks are never removed (their events are
    /// how a client finds its TxOuts). Returns the removed ids.
    fn prune_empty_invocations(
        &self,
        decommissioned_before: SystemTime,
    ) -> impl Future<Output = Result<Vec<IngestInvocationId>>> + Send;

    // --- blocks and records ------------------------------------------------------------

    /// Stores one block's records and marks the block scanned by `invocation` and its ingress
    /// key, in one transaction, and touches the invocation's `last_active_at`. If the block
    /// is already stored for this invocation or this ingress key, nothing is written and
    /// `block_already_scanned_with_this_key` is true. Every search key must be 16 bytes.
    ///
    /// Fails with [`RecoveryDbError::InvocationDecommissioned`] once the invocation is
    /// decommissioned, checked inside the write transaction: clients stop drawing from its RNG
    /// after the last block the decommission froze, so a later block would be lost to them.
    fn add_block_data(
        &self,
        invocation: IngestInvocationId,
        block_index: BlockIndex,
        cumulative_txo_count: u64,
        block_signature_timestamp: u64,
        records: &[ETxOutRecord],
    ) -> impl Future<Output = Result<AddBlockDataStatus>> + Send;

    /// The records of one block scanned with `key`, or `None` if it was not.
    fn get_tx_outs_by_block_and_key(
        &self,
        key: &IngressPublicKey,
        block_index: BlockIndex,
    ) -> impl Future<Output = Result<Option<Vec<ETxOutRecord>>>> + Send;

    /// The records of the consecutive blocks from `range.start()` scanned with `key`, one
    /// entry per block, stopping before the first block of the range not stored.
    fn get_tx_outs_by_block_range_and_key(
        &self,
        key: &IngressPublicKey,
        range: BlockRange,
    ) -> impl Future<Output = Result<Vec<Vec<ETxOutRecord>>>> + Send;

    /// Whole stored blocks after `cursor`, in write order, until the batch holds at least
    /// `max_records` records (at least one block when any is left). For bulk loading (view
    /// restart). Blocks become visible to this stream in the order they were committed.
    ///
    /// Exactly [`get_records_since_in`](Self::get_records_since_in) over [`BlockSpan::ALL`],
    /// which is what it calls (backends implement only that).
    fn get_records_since(
        &self,
        cursor: RecordCursor,
        max_records: usize,
    ) -> impl Future<Output = Result<RecordBatch>> + Send {
        self.get_records_since_in(cursor, max_records, BlockSpan::ALL)
    }

    /// [`get_records_since`](Self::get_records_since) restricted to the blocks whose index lies
    /// in `blocks`: whole stored blocks of the span after `cursor`, in write order, until the
    /// batch holds at least `max_records` records (at least one block when any of the span is
    /// left); `next` is where to continue, unchanged if the batch is empty. Blocks outside the
    /// span are skipped, not returned. For a view store that serves one block range; a block
    /// of the span stored later (for example scanned again under another ingress key) comes
    /// after any cursor already returned.
    ///
    /// A call passes over the blocks written after `cursor` until its batch is full: up to
    /// the last block it returns, or all of them when none of the span is left. The SQL
    /// backends pass over a block outside the span on an index entry, without reading its row;
    /// a store at the end of a long chain pays that once, for the blocks before its span.
    fn get_records_since_in(
        &self,
        cursor: RecordCursor,
        max_records: usize,
        blocks: BlockSpan,
    ) -> impl Future<Output = Result<RecordBatch>> + Send;

    // --- progress ------------------------------------------------------------------------

    /// The highest block stored by any invocation, if any.
    fn get_highest_known_block_index(
        &self,
    ) -> impl Future<Output = Result<Option<BlockIndex>>> + Send;

    /// Every `MissingBlocks` range, in event order.
    fn get_missed_block_ranges(&self) -> impl Future<Output = Result<Vec<BlockRange>>> + Send;

    /// The cumulative TxOut count stored with this block, if any invocation stored it.
    fn get_cumulative_txo_count_for_block(
        &self,
        block_index: BlockIndex,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;

    /// The block signature timestamp stored with this block, if any invocation stored it.
    fn get_block_signature_timestamp_for_block(
        &self,
        block_index: BlockIndex,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;

    // --- user events ---------------------------------------------------------------------

    /// The events with id `> since`, in id order, and the id to pass next time (the last id
    /// returned, or `since` if none).
    fn search_user_events(
        &self,
        since: UserEventId,
    ) -> impl Future<Output = Result<(Vec<FogUserEvent>, UserEventId)>> + Send;
}
