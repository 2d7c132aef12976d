//! `fog_ledger`: key-image checks, outputs with membership proofs, blocks and TxOut lookups
//! (services.md 3.5).

use alloc::vec::Vec;

use fog_transaction::wire::{
    Block, Bytes32, CompressedRistretto, KeyImage, TxOut, TxOutMembershipProof,
};

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
///
/// Its encoding always carries all five fields, zeros included: proto3 leaves out a field
/// that holds its default, so an answer "spent at block 0" or "timestamp 0" would be nine
/// bytes shorter than any other and tell its size to whoever sees the ciphertext. With every
/// field present, the length of a result depends only on the length of the key image echoed
/// (the asker's own). Decoding is ordinary proto3 (a missing field is zero), so it reads
/// MobileCoin's encoding and MobileCoin's decoders read this one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyImageResult {
    /// The key image asked about.
    pub key_image: Option<KeyImage>,
    /// The block that spent it, or `u64::MAX`.
    pub spent_at: u64,
    /// That block's timestamp, or `u64::MAX`.
    pub timestamp: u64,
    /// Legacy: always [`TIMESTAMP_FOUND`].
    pub timestamp_result_code: u32,
    /// A [`KeyImageResultCode`] as u32.
    pub key_image_result_code: u32,
}

impl prost::Message for KeyImageResult {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        use prost::encoding::{fixed32, fixed64, message};
        if let Some(k) = &self.key_image {
            message::encode(1, k, buf);
        }
        fixed64::encode(2, &self.spent_at, buf);
        fixed64::encode(3, &self.timestamp, buf);
        fixed32::encode(4, &self.timestamp_result_code, buf);
        fixed32::encode(5, &self.key_image_result_code, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        use prost::encoding::{fixed32, fixed64, message, skip_field};
        match tag {
            1 => message::merge(
                wire_type,
                self.key_image.get_or_insert_with(KeyImage::default),
                buf,
                ctx,
            ),
            2 => fixed64::merge(wire_type, &mut self.spent_at, buf, ctx),
            3 => fixed64::merge(wire_type, &mut self.timestamp, buf, ctx),
            4 => fixed32::merge(wire_type, &mut self.timestamp_result_code, buf, ctx),
            5 => fixed32::merge(wire_type, &mut self.key_image_result_code, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        use prost::encoding::{fixed32, fixed64, message};
        self.key_image
            .as_ref()
            .map_or(0, |k| message::encoded_len(1, k))
            + fixed64::encoded_len(2, &self.spent_at)
            + fixed64::encoded_len(3, &self.timestamp)
            + fixed32::encoded_len(4, &self.timestamp_result_code)
            + fixed32::encoded_len(5, &self.key_image_result_code)
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
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
    /// Fog's own: the block header, whose id the client checks against the ids the fog
    /// ledger enclave attests ([`BlockIdsResponse`]). Not in MobileCoin's `BlockData`; its
    /// clients skip it.
    #[prost(message, optional, tag = "101")]
    pub block: Option<Block>,
    /// Fog's own: the key images the block spends, which with `outputs` make the contents
    /// that the header's `contents_hash` commits to.
    #[prost(message, repeated, tag = "102")]
    pub key_images: Vec<KeyImage>,
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

/// The most indices one [`BlockIdsRequest`] may carry.
pub const MAX_BLOCK_IDS: usize = 1000;
/// The associated data of every `GetBlockIds` frame (authenticated by the channel): the
/// enclave opens a `BlockIdsRequest` only from a frame that carries it, and a key-image or
/// `GetOutputs` request only from one with none, so the host cannot pass a frame of one call
/// to another.
pub const BLOCK_IDS_AAD: &[u8] = b"fog_ledger.GetBlockIds";

/// Fog's own `BlockIdsRequest` (over the attested channel of the fog ledger enclave): the
/// ids of these blocks, as the enclave verified them.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BlockIdsRequest {
    /// Block indices.
    #[prost(fixed64, repeated, tag = "1")]
    pub indices: Vec<u64>,
}

/// Fog's own `BlockIdsResponse`: block ids of the chain the fog ledger enclave verified from
/// the origin block (every parent id, contents hash and TxOut count checked), so a client
/// can authenticate the untrusted blocks of `GetBlocks` by their ids and parent links.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BlockIdsResponse {
    /// One per index asked, in order; empty `data` for an index at or past `num_blocks`.
    #[prost(message, repeated, tag = "1")]
    pub ids: Vec<Bytes32>,
    /// Blocks the enclave has verified (`0..num_blocks`).
    #[prost(uint64, tag = "2")]
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    #[prost(uint64, tag = "3")]
    pub global_txo_count: u64,
    /// The id of block `num_blocks - 1` (absent before the first block).
    #[prost(message, optional, tag = "4")]
    pub last_block_id: Option<Bytes32>,
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

/// Fog's own: a key-image store's answer to a ledger router, over the attested channel
/// between the two enclaves (never sent to a client). A store keeps the key images of the
/// blocks `block_range` only, but verifies the whole chain from the origin block.
#[derive(Clone, PartialEq, Eq, prost::Message)]
#[prost(skip_debug)]
pub struct KeyImageStoreResponse {
    /// The blocks whose key images the store keeps (`end_block` = `u64::MAX`: open-ended;
    /// `start_block == end_block`: none).
    #[prost(message, optional, tag = "1")]
    pub block_range: Option<BlockRange>,
    /// The answer to the router's `CheckKeyImagesRequest`: one result per key image asked, in
    /// order; `num_blocks` is the count of blocks the store verified from the origin, which
    /// may run past (or stop short of) `block_range`.
    #[prost(message, optional, tag = "2")]
    pub response: Option<CheckKeyImagesResponse>,
}

impl core::fmt::Debug for KeyImageStoreResponse {
    /// Prints the public part only: which key images were asked and whether they are spent
    /// belong to the user.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyImageStoreResponse")
            .field("block_range", &self.block_range)
            .field("num_blocks", &self.response.as_ref().map(|r| r.num_blocks))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The derived proto3 encoding, as MobileCoin's and any generated code write it: zero
    /// fields left out.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Proto3KeyImageResult {
        #[prost(message, optional, tag = "1")]
        key_image: Option<KeyImage>,
        #[prost(fixed64, tag = "2")]
        spent_at: u64,
        #[prost(fixed64, tag = "3")]
        timestamp: u64,
        #[prost(fixed32, tag = "4")]
        timestamp_result_code: u32,
        #[prost(fixed32, tag = "5")]
        key_image_result_code: u32,
    }

    fn result(spent_at: u64, timestamp: u64, code: KeyImageResultCode) -> KeyImageResult {
        KeyImageResult {
            key_image: Some(KeyImage {
                data: alloc::vec![7; 32],
            }),
            spent_at,
            timestamp,
            timestamp_result_code: TIMESTAMP_FOUND,
            key_image_result_code: code as u32,
        }
    }

    #[test]
    fn every_key_image_result_has_one_length() {
        let results = [
            result(0, 0, KeyImageResultCode::Spent),
            result(0, 1_700_000_000, KeyImageResultCode::Spent),
            result(5, 0, KeyImageResultCode::Spent),
            result(123_456, 1_700_000_000, KeyImageResultCode::Spent),
            result(u64::MAX, u64::MAX, KeyImageResultCode::NotSpent),
            result(u64::MAX, u64::MAX, KeyImageResultCode::KeyImageError),
            KeyImageResult {
                timestamp_result_code: 0,
                key_image_result_code: 0,
                ..result(0, 0, KeyImageResultCode::Unused)
            },
        ];
        let lengths: alloc::vec::Vec<usize> =
            results.iter().map(|r| r.encode_to_vec().len()).collect();
        assert!(lengths.iter().all(|&n| n == lengths[0]), "{lengths:?}");
        for r in &results {
            assert_eq!(r.encoded_len(), r.encode_to_vec().len());
            assert_eq!(&KeyImageResult::decode(&*r.encode_to_vec()).unwrap(), r);
        }
        // The derived encoding is what this replaces: its zero fields go missing.
        let derived = |r: &KeyImageResult| Proto3KeyImageResult {
            key_image: r.key_image.clone(),
            spent_at: r.spent_at,
            timestamp: r.timestamp,
            timestamp_result_code: r.timestamp_result_code,
            key_image_result_code: r.key_image_result_code,
        };
        assert!(derived(&results[0]).encoded_len() < results[0].encoded_len());
    }

    #[test]
    fn key_image_results_read_and_are_read_by_the_proto3_encoding() {
        for r in [
            result(0, 0, KeyImageResultCode::Spent),
            result(9, 1_700_000_009, KeyImageResultCode::Spent),
            result(u64::MAX, u64::MAX, KeyImageResultCode::NotSpent),
        ] {
            let theirs = Proto3KeyImageResult {
                key_image: r.key_image.clone(),
                spent_at: r.spent_at,
                timestamp: r.timestamp,
                timestamp_result_code: r.timestamp_result_code,
                key_image_result_code: r.key_image_result_code,
            };
            assert_eq!(KeyImageResult::decode(&*theirs.encode_to_vec()).unwrap(), r);
            assert_eq!(
                Proto3KeyImageResult::decode(&*r.encode_to_vec()).unwrap(),
                theirs
            );
        }
        // Unknown fields are skipped; a wrong wire type is an error.
        let mut bytes = result(1, 2, KeyImageResultCode::Spent).encode_to_vec();
        bytes.extend_from_slice(&[0x30, 0x05]); // field 6, varint 5
        assert_eq!(
            KeyImageResult::decode(&*bytes).unwrap(),
            result(1, 2, KeyImageResultCode::Spent)
        );
        assert!(KeyImageResult::decode(&[0x10, 0x01][..]).is_err()); // field 2 as a varint
    }
}
