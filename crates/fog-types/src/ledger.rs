//! `fog_ledger`: key-image checks, outputs with membership proofs, blocks and TxOut lookups
//! (services.md 3.5).

use alloc::vec::Vec;

use fog_transaction::wire::{CompressedRistretto, KeyImage, TxOut, TxOutMembershipProof};

use crate::common::BlockRange;

/// The most indices one `GetOutputs` request may carry (MobileCoin's `MAX_REQUEST_SIZE`).
pub const MAX_GET_OUTPUTS: usize = 2000;
/// The legacy `timestamp_result_code` value "timestamp found".
pub const TIMESTAMP_FOUND: u32 = 1;

/// `KeyImageQuery`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct KeyImageQuery {
    /// The key image.
    #[prost(message, optional, tag = "1")]
    pub key_image: Option<KeyImage>,
    /// A hint; ignored.
    #[prost(fixed64, tag = "2")]
    pub start_block: u64,
}

/// `CheckKeyImagesRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CheckKeyImagesRequest {
    /// The key images to check.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<KeyImageQuery>,
}

/// `KeyImageResultCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum KeyImageResultCode {
    /// Never sent.
    Unused = 0,
    /// Spent at `spent_at`.
    Spent = 1,
    /// Not spent in blocks below `num_blocks`.
    NotSpent = 2,
    /// The key image is malformed.
    KeyImageError = 3,
}

/// `KeyImageResult`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct KeyImageResult {
    /// The key image asked about.
    #[prost(message, optional, tag = "1")]
    pub key_image: Option<KeyImage>,
    /// The block that spent it, or `u64::MAX`.
    #[prost(fixed64, tag = "2")]
    pub spent_at: u64,
    /// That block's timestamp, or `u64::MAX`.
    #[prost(fixed64, tag = "3")]
    pub timestamp: u64,
    /// Legacy: always [`TIMESTAMP_FOUND`].
    #[prost(fixed32, tag = "4")]
    pub timestamp_result_code: u32,
    /// A [`KeyImageResultCode`] as u32.
    #[prost(fixed32, tag = "5")]
    pub key_image_result_code: u32,
}

/// `CheckKeyImagesResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CheckKeyImagesResponse {
    /// `NotSpent` means not spent in blocks below this.
    #[prost(uint64, tag = "1")]
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    #[prost(uint64, tag = "2")]
    pub global_txo_count: u64,
    /// One result per query, in order.
    #[prost(message, repeated, tag = "3")]
    pub results: Vec<KeyImageResult>,
    /// The block version of the last block.
    #[prost(uint32, tag = "4")]
    pub latest_block_version: u32,
    /// The highest block version this server knows.
    #[prost(uint32, tag = "5")]
    pub max_block_version: u32,
}

/// `GetOutputsRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct GetOutputsRequest {
    /// Global TxOut indices.
    #[prost(fixed64, repeated, tag = "1")]
    pub indices: Vec<u64>,
    /// Ignored: proofs are against the current ledger.
    #[prost(fixed64, tag = "2")]
    pub merkle_root_block: u64,
}

/// `OutputResultCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OutputResultCode {
    /// Never sent.
    IntentionallyUnused = 0,
    /// No TxOut has this index.
    DoesNotExist = 1,
    /// Found; output and proof are set.
    Exists = 2,
    /// The ledger DB failed.
    OutputDatabaseError = 3,
}

/// `OutputResult`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutputResult {
    /// The global index asked for.
    #[prost(fixed64, tag = "1")]
    pub index: u64,
    /// An [`OutputResultCode`] as u32.
    #[prost(fixed32, tag = "2")]
    pub result_code: u32,
    /// The TxOut.
    #[prost(message, optional, tag = "3")]
    pub output: Option<TxOut>,
    /// Its membership proof against the current root.
    #[prost(message, optional, tag = "4")]
    pub proof: Option<TxOutMembershipProof>,
}

/// `GetOutputsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetOutputsResponse {
    /// One result per index, in order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<OutputResult>,
    /// Blocks in the ledger the proofs are against.
    #[prost(uint64, tag = "2")]
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    #[prost(uint64, tag = "3")]
    pub global_txo_count: u64,
    /// The block version of the last block.
    #[prost(uint32, tag = "4")]
    pub latest_block_version: u32,
    /// The highest block version this server knows.
    #[prost(uint32, tag = "5")]
    pub max_block_version: u32,
}

/// `BlockRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BlockRequest {
    /// The ranges wanted.
    #[prost(message, repeated, tag = "1")]
    pub ranges: Vec<BlockRange>,
}

/// `BlockData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockData {
    /// Block index.
    #[prost(uint64, tag = "1")]
    pub index: u64,
    /// TxOuts up to and including this block.
    #[prost(uint64, tag = "2")]
    pub global_txo_count: u64,
    /// The block's TxOuts.
    #[prost(message, repeated, tag = "3")]
    pub outputs: Vec<TxOut>,
    /// Block timestamp (Unix seconds).
    #[prost(uint64, tag = "4")]
    pub timestamp: u64,
    /// Legacy: [`TIMESTAMP_FOUND`].
    #[prost(uint32, tag = "5")]
    pub timestamp_result_code: u32,
}

/// `BlockResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockResponse {
    /// The blocks, range by range.
    #[prost(message, repeated, tag = "1")]
    pub blocks: Vec<BlockData>,
    /// Blocks in the ledger.
    #[prost(uint64, tag = "2")]
    pub num_blocks: u64,
    /// TxOuts in the ledger.
    #[prost(uint64, tag = "3")]
    pub global_txo_count: u64,
}

/// `TxOutRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxOutRequest {
    /// TxOut public keys to look up.
    #[prost(message, repeated, tag = "1")]
    pub tx_out_pubkeys: Vec<CompressedRistretto>,
}

/// `TxOutResultCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TxOutResultCode {
    /// No TxOut with this public key.
    NotFound = 0,
    /// Found.
    Found = 1,
    /// Deprecated.
    MalformedRequest = 2,
    /// The ledger DB failed.
    DatabaseError = 3,
}

/// `TxOutResult`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxOutResult {
    /// The public key asked for.
    #[prost(message, optional, tag = "1")]
    pub tx_out_pubkey: Option<CompressedRistretto>,
    /// A [`TxOutResultCode`].
    #[prost(enumeration = "TxOutResultCode", tag = "2")]
    pub result_code: i32,
    /// Its global index.
    #[prost(uint64, tag = "3")]
    pub tx_out_global_index: u64,
    /// Its block.
    #[prost(uint64, tag = "4")]
    pub block_index: u64,
    /// Its block's timestamp.
    #[prost(uint64, tag = "5")]
    pub timestamp: u64,
    /// Legacy: [`TIMESTAMP_FOUND`].
    #[prost(uint32, tag = "6")]
    pub timestamp_result_code: u32,
}

/// `TxOutResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TxOutResponse {
    /// One result per public key, in order.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<TxOutResult>,
    /// Blocks in the ledger.
    #[prost(uint64, tag = "2")]
    pub num_blocks: u64,
    /// TxOuts in the ledger.
    #[prost(uint64, tag = "3")]
    pub global_txo_count: u64,
}
