//! `fog_view`: the view query (services.md 3.3).
//!
//! The client sends [`QueryRequest`] encrypted over the attested channel, with
//! [`QueryRequestAad`] in clear as the frame's associated data; the enclave answers with an
//! encrypted [`QueryResponse`].

use alloc::vec::Vec;

use fog_crypto::kex_rng::KexRngPubkey;

use crate::common::BlockRange;

/// `FIXED_CIPHERTEXT_LENGTH`: every search result's ciphertext field is this long.
pub const FIXED_CIPHERTEXT_LENGTH: usize = 255;
/// Bytes of a search key.
pub const SEARCH_KEY_LEN: usize = 16;

/// `QueryRequestAAD`: travels in clear (the untrusted side reads it to fetch user events).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct QueryRequestAad {
    /// Events with an id greater than this are returned; `i64::MAX` asks for none.
    #[prost(int64, tag = "1")]
    pub start_from_user_event_id: i64,
    /// Unused by the server (as in MobileCoin).
    #[prost(uint64, tag = "2")]
    pub start_from_block_index: u64,
}

/// `QueryRequest { repeated bytes get_txos = 1; }`: the search keys, encrypted.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct QueryRequest {
    /// 16-byte search keys.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub get_txos: Vec<Vec<u8>>,
}

/// `RngRecord`: an ingest invocation's egress public key and first block.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct RngRecord {
    /// The ingest invocation.
    #[prost(int64, tag = "1")]
    pub ingest_invocation_id: i64,
    /// Its KexRng public key.
    #[prost(message, optional, tag = "2")]
    pub pubkey: Option<KexRngPubkey>,
    /// The first block it ingested.
    #[prost(uint64, tag = "3")]
    pub start_block: u64,
}

/// `DecommissionedIngestInvocation`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct DecommissionedIngestInvocation {
    /// The ingest invocation.
    #[prost(int64, tag = "1")]
    pub ingest_invocation_id: i64,
    /// The last block it ingested.
    #[prost(uint64, tag = "2")]
    pub last_ingested_block: u64,
}

/// `TxOutSearchResultCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TxOutSearchResultCode {
    /// Never sent.
    IntentionallyUnused = 0,
    /// The key has a record; the ciphertext is it.
    Found = 1,
    /// No record under this key (yet).
    NotFound = 2,
    /// The key is malformed.
    BadSearchKey = 3,
    /// The server failed.
    InternalError = 4,
    /// Too many requests.
    RateLimited = 5,
}

/// Legacy `TxOutSearchResult`: ciphertext truncated, `padding` restores the size.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxOutSearchResult {
    /// The key asked for.
    #[prost(bytes = "vec", tag = "1")]
    pub search_key: Vec<u8>,
    /// A [`TxOutSearchResultCode`] as u32.
    #[prost(fixed32, tag = "2")]
    pub result_code: u32,
    /// The payload.
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    /// Zeros: 255 − payload length.
    #[prost(bytes = "vec", tag = "4")]
    pub padding: Vec<u8>,
}

/// `FixedTxOutSearchResult`: every result the same size.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FixedTxOutSearchResult {
    /// The key asked for.
    #[prost(bytes = "vec", tag = "1")]
    pub search_key: Vec<u8>,
    /// A [`TxOutSearchResultCode`] as u32.
    #[prost(fixed32, tag = "2")]
    pub result_code: u32,
    /// Always [`FIXED_CIPHERTEXT_LENGTH`] bytes: the payload, then zeros.
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    /// How many bytes of `ciphertext` are payload.
    #[prost(fixed32, tag = "4")]
    pub payload_length: u32,
}

impl FixedTxOutSearchResult {
    /// The payload (`ciphertext[..payload_length]`), or `None` if the length is out of range.
    pub fn payload(&self) -> Option<&[u8]> {
        self.ciphertext.get(..self.payload_length as usize)
    }
}

/// `QueryResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct QueryResponse {
    /// Every block below this count is in the store (or in a missed range).
    #[prost(uint64, tag = "1")]
    pub highest_processed_block_count: u64,
    /// The timestamp of the last of those blocks.
    #[prost(uint64, tag = "2")]
    pub highest_processed_block_signature_timestamp: u64,
    /// The event id to ask from next time.
    #[prost(int64, tag = "3")]
    pub next_start_from_user_event_id: i64,
    /// Blocks no ingest processed.
    #[prost(message, repeated, tag = "4")]
    pub missed_block_ranges: Vec<BlockRange>,
    /// New RNG records.
    #[prost(message, repeated, tag = "5")]
    pub rngs: Vec<RngRecord>,
    /// Invocations that ended.
    #[prost(message, repeated, tag = "6")]
    pub decommissioned_ingest_invocations: Vec<DecommissionedIngestInvocation>,
    /// Legacy results (filled alongside the fixed ones).
    #[prost(message, repeated, tag = "7")]
    pub tx_out_search_results: Vec<TxOutSearchResult>,
    /// Blocks in the ledger as the recovery DB knows it.
    #[prost(uint64, tag = "8")]
    pub last_known_block_count: u64,
    /// TxOuts in those blocks.
    #[prost(uint64, tag = "9")]
    pub last_known_block_cumulative_txo_count: u64,
    /// One fixed-size result per search key.
    #[prost(message, repeated, tag = "10")]
    pub fixed_tx_out_search_results: Vec<FixedTxOutSearchResult>,
}

/// The block range of a store serving the whole chain (`end_block` = `u64::MAX`: open).
pub const ALL_BLOCKS: BlockRange = BlockRange {
    start_block: 0,
    end_block: u64::MAX,
};

/// A view router's query to one view store, sent over their attested enclave-to-enclave
/// channel (Fog's own message: MobileCoin's router and store exchange `MultiViewStoreQuery`
/// messages of their own too). It carries the client's query as the router opened it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreQueryRequest {
    /// The client's associated data (which events it has, which count it confirmed).
    #[prost(message, optional, tag = "1")]
    pub aad: Option<QueryRequestAad>,
    /// The client's search keys.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub get_txos: Vec<Vec<u8>>,
}

/// A view store's answer to its router.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreQueryResponse {
    /// The blocks the store is configured to serve (`end_block` = `u64::MAX`: open-ended).
    #[prost(message, optional, tag = "1")]
    pub block_range: Option<BlockRange>,
    /// The answer: `highest_processed_block_count` is the end of the run of processed blocks
    /// from the range's start (the start itself when none is), the results are one per slot
    /// of the store's partitions (padding included), the events a page from the client's id.
    #[prost(message, optional, tag = "2")]
    pub response: Option<QueryResponse>,
    /// Whether the store holds events after the page.
    #[prost(bool, tag = "3")]
    pub events_truncated: bool,
    /// One past the highest block the store loaded (0 when none): a router
    /// vouches for no block past every store's, as a single store vouches for none past its
    /// own (a missed range may reach past the ledger's end).
    #[prost(uint64, tag = "4")]
    pub loaded_end: u64,
    /// The block signature timestamp of block `loaded_end - 1` (0 when none).
    #[prost(uint64, tag = "5")]
    pub loaded_end_timestamp: u64,
}
