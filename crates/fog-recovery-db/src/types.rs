//! The domain types of the recovery database: block indices and ranges, ids, key status and
//! records, user events, reports. Plain data: no I/O, no secrets.

use core::fmt;
use std::time::SystemTime;

pub use fog_crypto::kex_rng::KexRngPubkey;
pub use fog_crypto::CompressedRistrettoPublic;
pub use fog_transaction::wire::ETxOutRecord;

use crate::RecoveryDbError;

/// An ingest server's ingress public key (the key fog hints are encrypted to), 32 bytes.
pub type IngressPublicKey = CompressedRistrettoPublic;

/// Length of a fog search key (one KexRng output).
pub const SEARCH_KEY_LEN: usize = 16;

/// Longest `fog_report_id`, in characters (MobileCoin's `VARCHAR(64)`).
pub const MAX_REPORT_ID_CHARS: usize = 64;

/// The index of a block in the ledger (block 0 is the origin block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockIndex(pub u64);

impl BlockIndex {
    /// The next index, or `None` at `u64::MAX`.
    pub fn checked_next(self) -> Option<BlockIndex> {
        self.0.checked_add(1).map(BlockIndex)
    }
}

impl fmt::Display for BlockIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A number of blocks (also "the index one past the last block").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockCount(pub u64);

impl fmt::Display for BlockCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A half-open range of blocks `[start, end)`. Valid when built: `start <= end`. An empty range
/// (`start == end`) is allowed; a range that never ends has `end = u64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRange {
    start: BlockIndex,
    end: BlockIndex,
}

impl BlockRange {
    /// `[start, end)`; fails when `start > end`.
    pub fn new(start: BlockIndex, end: BlockIndex) -> Result<Self, RecoveryDbError> {
        if start > end {
            return Err(RecoveryDbError::InvalidInput(
                "block range start is past its end",
            ));
        }
        Ok(Self { start, end })
    }

    /// `[start, end)` from plain numbers; fails when `start > end`.
    pub fn from_u64(start: u64, end: u64) -> Result<Self, RecoveryDbError> {
        Self::new(BlockIndex(start), BlockIndex(end))
    }

    /// `[start, u64::MAX)`: a range that has not ended.
    pub fn unbounded_from(start: BlockIndex) -> Self {
        Self {
            start,
            end: BlockIndex(u64::MAX),
        }
    }

    /// The first block.
    pub fn start(&self) -> BlockIndex {
        self.start
    }

    /// One past the last block.
    pub fn end(&self) -> BlockIndex {
        self.end
    }

    /// The number of blocks.
    pub fn len(&self) -> BlockCount {
        BlockCount(self.end.0 - self.start.0)
    }

    /// True if the range holds no block.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True if `block` lies in the range.
    pub fn contains(&self, block: BlockIndex) -> bool {
        self.start <= block && block < self.end
    }
}

impl fmt::Display for BlockRange {
    /// MobileCoin's text form, `"start-end"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.0, self.end.0)
    }
}

/// The blocks `start <= b < end`, or every block from `start` on when `end` is `None`: the
/// blocks a view store serving one block range loads with
/// [`get_records_since_in`](crate::RecoveryDb::get_records_since_in). Any two values make a
/// span; one with `end <= start` holds no block. The default is [`BlockSpan::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BlockSpan {
    /// The first block of the span.
    pub start: BlockIndex,
    /// One past the last block of the span; `None` for a span that never ends.
    pub end: Option<BlockIndex>,
}

impl BlockSpan {
    /// Every block: `[0, ∞)`.
    pub const ALL: BlockSpan = BlockSpan {
        start: BlockIndex(0),
        end: None,
    };

    /// True if `block` lies in the span.
    pub fn contains(&self, block: BlockIndex) -> bool {
        self.start <= block && self.end.is_none_or(|end| block < end)
    }
}

/// The id of an ingest invocation (one run of an ingest enclave with one egress key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngestInvocationId(pub i64);

impl fmt::Display for IngestInvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The id of a user event. Ids start at 1 and strictly increase; `UserEventId(0)` asks for
/// every event, `UserEventId(i64::MAX)` for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserEventId(pub i64);

impl UserEventId {
    /// Before the first event.
    pub const START: UserEventId = UserEventId(0);
    /// After every event: a search from here returns nothing.
    pub const END: UserEventId = UserEventId(i64::MAX);
}

/// The state of an ingress key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IngressPublicKeyStatus {
    /// The first block this key is responsible for.
    pub start_block: BlockIndex,
    /// The first block the key's published reports no longer cover (0 until a report is set).
    /// Only grows.
    pub pubkey_expiry: BlockIndex,
    /// Retired: no more reports are published; scanning continues until the expiry.
    pub retired: bool,
    /// Lost: the private key is gone; its unscanned blocks became a missed range.
    pub lost: bool,
}

/// An ingress key with its status and the last block scanned with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IngressPublicKeyRecord {
    /// The key.
    pub key: IngressPublicKey,
    /// Its status.
    pub status: IngressPublicKeyStatus,
    /// The highest block stored under this key, if any.
    pub last_scanned_block: Option<BlockIndex>,
}

impl IngressPublicKeyRecord {
    /// The blocks this key is (or was) responsible for, as MobileCoin defines them:
    /// - lost: `[start, last_scanned + 1)`, empty if nothing was scanned;
    /// - retired: `[start, pubkey_expiry)` (empty if the expiry is not past the start);
    /// - otherwise `[start, u64::MAX)`: the key is still in use.
    pub fn covered_block_range(&self) -> BlockRange {
        let start = self.status.start_block;
        let end = if self.status.lost {
            match self.last_scanned_block {
                Some(last) => BlockIndex(last.0.saturating_add(1)),
                None => start,
            }
        } else if self.status.retired {
            self.status.pubkey_expiry
        } else {
            BlockIndex(u64::MAX)
        };
        BlockRange {
            start,
            end: end.max(start),
        }
    }
}

/// Which ingress keys [`get_ingress_key_records`](crate::RecoveryDb::get_ingress_key_records)
/// returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IngressPublicKeyFilters {
    /// Include keys marked lost.
    pub should_include_lost_keys: bool,
    /// Include retired keys.
    pub should_include_retired_keys: bool,
    /// Only keys with a scanned block below their expiry (`last_scanned` set and
    /// `pubkey_expiry > last_scanned`).
    pub should_only_include_unexpired_keys: bool,
}

impl IngressPublicKeyFilters {
    /// Every key.
    pub const ALL: IngressPublicKeyFilters = IngressPublicKeyFilters {
        should_include_lost_keys: true,
        should_include_retired_keys: true,
        should_only_include_unexpired_keys: false,
    };
}

/// What the client needs to rebuild one ingest invocation's RNGs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RngRecord {
    /// The invocation.
    pub ingest_invocation_id: IngestInvocationId,
    /// Its egress public key and KexRng version.
    pub pubkey: KexRngPubkey,
    /// The first block it scans.
    pub start_block: BlockIndex,
}

/// One entry of the user event log, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FogUserEvent {
    /// A new ingest invocation (a new egress key): clients add an RNG.
    NewRngRecord(RngRecord),
    /// An invocation stopped; it scanned no block after `last_ingested_block` (0 if it scanned
    /// none, as in MobileCoin).
    DecommissionIngestInvocation {
        /// The invocation.
        id: IngestInvocationId,
        /// The highest block it stored, or 0.
        last_ingested_block: BlockIndex,
    },
    /// Blocks no ingest scanned: clients scan them with their view key.
    MissingBlocks(BlockRange),
}

/// One invocation's place in the chain of ingested blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IngestableRange {
    /// The invocation.
    pub id: IngestInvocationId,
    /// The first block it scans.
    pub start_block: BlockIndex,
    /// Whether it was decommissioned.
    pub decommissioned: bool,
    /// The highest block it stored, if any.
    pub last_ingested_block: Option<BlockIndex>,
}

/// An invocation whose `last_active_at` is older than a deadline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpiredInvocation {
    /// The invocation.
    pub ingest_invocation_id: IngestInvocationId,
    /// Its egress public key.
    pub egress_public_key: KexRngPubkey,
    /// When it was last active.
    pub last_active_at: SystemTime,
}

/// One ingest invocation as an operator, and an ingest peer deciding whether to take over,
/// sees it ([`get_invocations`](crate::RecoveryDb::get_invocations)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvocationRecord {
    /// The invocation.
    pub id: IngestInvocationId,
    /// The ingress key it scans with.
    pub ingress_key: IngressPublicKey,
    /// Its egress public key (its RNG record).
    pub egress_public_key: KexRngPubkey,
    /// The first block it scans.
    pub start_block: BlockIndex,
    /// The highest block it stored, if any: it wrote `start_block..=last_ingested_block`
    /// (blocks another invocation of the same key stored first are absent from it).
    pub last_ingested_block: Option<BlockIndex>,
    /// Whether it was decommissioned: nothing more is accepted from it.
    pub decommissioned: bool,
    /// When it last stored a block or sent a heartbeat (or, decommissioned, when that
    /// happened), as the writing host's clock read it.
    pub last_active_at: SystemTime,
}

/// When [`take_over_ingress_key`](crate::RecoveryDb::take_over_ingress_key) may take a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeOver {
    /// Whatever invocations of the key are live (an operator's `activate`).
    Always,
    /// Only if every live invocation of the key was last active strictly before this time
    /// (an idle peer failing over: the active server stopped sending heartbeats). Of several
    /// peers trying at once exactly one succeeds: the winner's new invocation is itself live
    /// and fresh when the others' transactions look.
    IfIdleSince(SystemTime),
}

/// What a successful [`take_over_ingress_key`](crate::RecoveryDb::take_over_ingress_key) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TookOver {
    /// The new invocation, now the key's only live one.
    pub invocation: IngestInvocationId,
    /// The block it starts at: the block after the last one stored under the key, or the
    /// key's start block if none was.
    pub start_block: BlockIndex,
    /// The invocations it decommissioned (each with its event), by id.
    pub decommissioned: Vec<IngestInvocationId>,
}

/// The result of [`add_block_data`](crate::RecoveryDb::add_block_data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddBlockDataStatus {
    /// The block was already stored for this invocation or this ingress key: nothing was
    /// written (another ingest won the race, or this is a retry of a committed write).
    pub block_already_scanned_with_this_key: bool,
}

/// A published ingest report.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReportData {
    /// The invocation that published it, if any.
    pub ingest_invocation_id: Option<IngestInvocationId>,
    /// The attestation evidence, as bytes.
    pub evidence: Vec<u8>,
    /// The first block the report no longer covers.
    pub pubkey_expiry: BlockIndex,
}

/// One block's records as stored by one invocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IngestedBlock {
    /// The ingress key it was scanned with.
    pub ingress_key: IngressPublicKey,
    /// The invocation that wrote it.
    pub ingest_invocation_id: IngestInvocationId,
    /// The block.
    pub block_index: BlockIndex,
    /// TxOuts in the ledger up to and including this block.
    pub cumulative_txo_count: u64,
    /// The block signature's timestamp, seconds since the Unix epoch.
    pub block_signature_timestamp: u64,
    /// One record per TxOut of the block, in order.
    pub records: Vec<ETxOutRecord>,
}

/// A position in the stream of stored blocks, in write order, for
/// [`get_records_since`](crate::RecoveryDb::get_records_since) and
/// [`get_records_since_in`](crate::RecoveryDb::get_records_since_in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordCursor(pub i64);

impl RecordCursor {
    /// Before the first block.
    pub const START: RecordCursor = RecordCursor(0);
}

/// A batch of blocks from [`get_records_since`](crate::RecoveryDb::get_records_since).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordBatch {
    /// Whole blocks, in write order.
    pub blocks: Vec<IngestedBlock>,
    /// Where the next call continues (unchanged if the batch is empty).
    pub next: RecordCursor,
}

impl RecordBatch {
    /// The number of records in the batch.
    pub fn record_count(&self) -> usize {
        self.blocks.iter().map(|b| b.records.len()).sum()
    }
}
