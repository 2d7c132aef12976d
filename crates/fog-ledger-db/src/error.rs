//! The one error type of the crate.

use std::path::PathBuf;

use fog_transaction::{membership::MembershipProofError, membership::TxOutMembershipElement};
use fog_transaction::{KeyImage, TxOutError};
use thiserror::Error;

/// Why a ledger operation failed.
///
/// Three kinds stay apart:
/// - **the block is invalid** (the `Invalid*`, `*Mismatch`, `No*`, `Duplicate*`, `*Already*`
///   variants): [`LedgerDb::append_block`](crate::LedgerDb::append_block) refused it and the
///   ledger is unchanged. Retrying the same block cannot help;
/// - **caller misuse or a missing file** (`AlreadyExists`, `NotFound`, `TxOutIndexOutOfRange`);
/// - **storage trouble** (`Storage`, `Corrupt`, `Decode`, `Tree`): the engine failed or the file
///   does not hold what this crate wrote. [`LedgerError::is_retryable`] says whether trying
///   again may succeed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LedgerError {
    // --- opening -------------------------------------------------------------------------
    /// `create` found a file already at the path.
    #[error("a file already exists at {0}")]
    AlreadyExists(PathBuf),
    /// `open` found no file at the path.
    #[error("no ledger database at {0}")]
    NotFound(PathBuf),
    /// The file is a database, but not a Fog ledger, or its tables disagree with each other.
    #[error("the ledger database is corrupt or not a Fog ledger: {0}")]
    Corrupt(String),

    // --- block validation (the ledger is unchanged) ---------------------------------------
    /// The block version is out of bounds: the first block must be version 0; later ones
    /// between the last block's version and [`fog_transaction::BlockVersion::MAX`].
    #[error("block version {found} is not in {min}..={max}")]
    InvalidBlockVersion {
        /// The block's version.
        found: u32,
        /// The smallest version allowed here.
        min: u32,
        /// The largest version allowed here.
        max: u32,
    },
    /// The block's index is not the ledger's block count.
    #[error("block index {found}, but the next block is {expected}")]
    IndexMismatch {
        /// `num_blocks()`.
        expected: u64,
        /// The block's index.
        found: u64,
    },
    /// The parent id is not the last block's id (zeros for the first block).
    #[error("the parent id is not the last block's id")]
    ParentIdMismatch,
    /// The block has no outputs.
    #[error("the block has no outputs")]
    NoOutputs,
    /// A block after the origin spends no key image.
    #[error("the block spends no key image")]
    NoKeyImages,
    /// `contents_hash` is not the hash of the contents.
    #[error("the contents hash does not match the contents")]
    ContentsHashMismatch,
    /// An output has no masked amount.
    #[error("output {output} of the block has no masked amount")]
    MissingMaskedAmount {
        /// Position of the output in the block.
        output: usize,
    },
    /// `cumulative_txo_count` is not the ledger's TxOut count plus the block's outputs.
    #[error("cumulative TxOut count {found}, expected {expected}")]
    CumulativeTxoCountMismatch {
        /// What the ledger computes.
        expected: u64,
        /// What the block says.
        found: u64,
    },
    /// The block's root element is not the ledger's root before the block (the default
    /// element for the origin block).
    #[error("the block's root element {found:?} is not the ledger's {expected:?}")]
    RootElementMismatch {
        /// The ledger's root element.
        expected: TxOutMembershipElement,
        /// The block's.
        found: TxOutMembershipElement,
    },
    /// The block id does not match the block's fields.
    #[error("the block id does not match its fields")]
    InvalidBlockId,
    /// A key image was spent by an earlier block.
    #[error("{key_image:?} was already spent in block {block_index}")]
    KeyImageAlreadySpent {
        /// The key image.
        key_image: KeyImage,
        /// The block that spent it.
        block_index: u64,
    },
    /// A key image appears twice in the block.
    #[error("{0:?} appears twice in the block")]
    DuplicateKeyImage(KeyImage),
    /// An output's public key is already in the ledger.
    #[error("an output public key is already in the ledger at index {global_index}")]
    OutputPublicKeyAlreadyInLedger {
        /// The public key.
        public_key: [u8; 32],
        /// The global index of the TxOut that has it.
        global_index: u64,
    },
    /// Two outputs of the block have the same public key.
    #[error("two outputs of the block share a public key")]
    DuplicateOutputPublicKey([u8; 32]),
    /// A block of a batch was refused; the whole batch was rolled back.
    #[error("block {position} of the batch: {source}")]
    InBatch {
        /// Its position in the batch, from 0.
        position: usize,
        /// Why.
        source: Box<LedgerError>,
    },

    // --- readers -------------------------------------------------------------------------
    /// A TxOut index past the end of the ledger.
    #[error("TxOut index {index} is past the ledger's {num_txos} TxOuts")]
    TxOutIndexOutOfRange {
        /// The requested global index.
        index: u64,
        /// TxOuts in the ledger.
        num_txos: u64,
    },

    // --- storage -------------------------------------------------------------------------
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(#[source] Box<redb::Error>),
    /// A stored value does not decode.
    #[error("stored {what} at {key} does not decode: {source}")]
    Decode {
        /// Which table.
        what: &'static str,
        /// Its key, as an integer.
        key: u64,
        /// The decoder's complaint.
        source: TxOutError,
    },
    /// The stored Merkle tree is missing a node it should hold.
    #[error("the stored Merkle tree is inconsistent: {0}")]
    Tree(MembershipProofError),
}

impl LedgerError {
    /// Whether the same call may succeed later, unchanged: I/O failures (a full disk, a
    /// transient device error; not unreadable data) and a database held by another handle.
    /// Invalid blocks, corruption and misuse are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Storage(e) => match &**e {
                redb::Error::Io(e) => e.kind() != std::io::ErrorKind::InvalidData,
                e => matches!(
                    e,
                    redb::Error::DatabaseAlreadyOpen | redb::Error::TransactionInProgress
                ),
            },
            Self::InBatch { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Whether the error says the block itself is invalid (as opposed to storage trouble).
    pub fn is_invalid_block(&self) -> bool {
        match self {
            Self::InvalidBlockVersion { .. }
            | Self::IndexMismatch { .. }
            | Self::ParentIdMismatch
            | Self::NoOutputs
            | Self::NoKeyImages
            | Self::ContentsHashMismatch
            | Self::MissingMaskedAmount { .. }
            | Self::CumulativeTxoCountMismatch { .. }
            | Self::RootElementMismatch { .. }
            | Self::InvalidBlockId
            | Self::KeyImageAlreadySpent { .. }
            | Self::DuplicateKeyImage(_)
            | Self::OutputPublicKeyAlreadyInLedger { .. }
            | Self::DuplicateOutputPublicKey(_) => true,
            Self::InBatch { source, .. } => source.is_invalid_block(),
            _ => false,
        }
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self {
                Self::Storage(Box::new(e.into()))
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::StorageError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError,
    redb::DatabaseError
);
