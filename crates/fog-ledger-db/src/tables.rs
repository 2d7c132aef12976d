//! The redb tables and their key encodings.
//!
//! Integer keys are big-endian byte arrays, so a key range iterates in numeric order and the
//! layout mirrors MobileCoin's LMDB ledger (`u64_to_key_bytes`). Values are protobuf where
//! MobileCoin stores protobuf (blocks, TxOuts), fixed-width otherwise.

use fog_transaction::membership::Range;
use redb::TableDefinition;

/// Ledger-wide settings: `format` (the layout version).
pub(crate) const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
/// `num_blocks` and `num_txos`.
pub(crate) const COUNTS: TableDefinition<'static, &str, u64> = TableDefinition::new("counts");
/// Block index → `Block` protobuf.
pub(crate) const BLOCKS: TableDefinition<'static, &[u8; 8], &[u8]> = TableDefinition::new("blocks");
/// Block index → seconds since the Unix epoch. Fog's own metadata: MobileCoin's `Block` has no
/// timestamp, and adding one to it would change the block id.
pub(crate) const BLOCK_TIMESTAMPS: TableDefinition<'static, &[u8; 8], u64> =
    TableDefinition::new("block_timestamps");
/// Block index → the block's key images, 32 bytes each, in block order.
pub(crate) const KEY_IMAGES_BY_BLOCK: TableDefinition<'static, &[u8; 8], &[u8]> =
    TableDefinition::new("key_images_by_block");
/// Block index → (first global TxOut index, number of TxOuts).
pub(crate) const TX_OUTS_BY_BLOCK: TableDefinition<'static, &[u8; 8], (u64, u64)> =
    TableDefinition::new("tx_outs_by_block");
/// First global TxOut index of a block → block index; the block of any TxOut is the entry at
/// or before its index (every block has at least one output).
pub(crate) const BLOCK_BY_FIRST_TX_OUT: TableDefinition<'static, &[u8; 8], u64> =
    TableDefinition::new("block_by_first_tx_out");
/// Global TxOut index → `TxOut` protobuf.
pub(crate) const TX_OUTS: TableDefinition<'static, &[u8; 8], &[u8]> =
    TableDefinition::new("tx_outs");
/// TxOut public key → global index.
pub(crate) const TX_OUT_INDEX_BY_PUBLIC_KEY: TableDefinition<'static, &[u8; 32], u64> =
    TableDefinition::new("tx_out_index_by_public_key");
/// Key image → index of the block that spent it.
pub(crate) const KEY_IMAGES: TableDefinition<'static, &[u8; 32], u64> =
    TableDefinition::new("key_images");
/// Merkle node range (from BE ‖ to BE) → node hash.
pub(crate) const MERKLE_NODES: TableDefinition<'static, &[u8; 16], &[u8; 32]> =
    TableDefinition::new("merkle_hash_by_range");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const COUNT_BLOCKS: &str = "num_blocks";
pub(crate) const COUNT_TXOS: &str = "num_txos";

/// The layout this crate writes.
pub(crate) const FORMAT_VERSION: u64 = 1;

/// A big-endian integer key.
pub(crate) fn be(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

/// The key of a Merkle node.
pub(crate) fn range_key(r: Range) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&r.from.to_be_bytes());
    k[8..].copy_from_slice(&r.to.to_be_bytes());
    k
}
