//! Errors of fog-transaction.

use fog_crypto::KeyError;
use thiserror::Error;

/// Why an amount could not be masked or unmasked.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The commitment does not match the unmasked value and blinding: the TxOut is not ours,
    /// or it is malformed.
    #[error("the commitment is inconsistent with the unmasked amount")]
    InconsistentCommitment,
    /// The masked token id has a length other than 0 (V1 only) or 8.
    #[error("invalid masked token id length")]
    InvalidMaskedTokenId,
    /// A nonzero token id at a block version without token ids.
    #[error("token ids are not supported at this block version")]
    TokenIdNotSupportedAtBlockVersion,
    /// The TxOut has no masked amount.
    #[error("the TxOut has no masked amount")]
    MissingMaskedAmount,
    /// A V1 masked amount has no amount shared secret.
    #[error("the masked amount version has no amount shared secret")]
    AmountVersionTooOld,
}

/// Why a memo could not be read or built.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum MemoError {
    /// An encrypted memo or payload must be 66 bytes.
    #[error("a memo must be 66 bytes, got {0}")]
    BadLength(usize),
    /// A fee that does not fit the memo's 7 bytes.
    #[error("fee too large for a memo (at most 2^56 - 1)")]
    FeeTooLarge,
    /// A note longer than its field.
    #[error("note too long for the memo")]
    NoteTooLong,
    /// The memo's type bytes do not match the type being read.
    #[error("wrong memo type")]
    WrongType,
}

/// Why a TxOut could not be built, decoded or recovered.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum TxOutError {
    /// A key field is malformed.
    #[error("key: {0}")]
    Key(#[from] KeyError),
    /// The amount could not be masked or unmasked.
    #[error("amount: {0}")]
    Amount(#[from] AmountError),
    /// The memo is malformed.
    #[error("memo: {0}")]
    Memo(#[from] MemoError),
    /// The encrypted fog hint is not 84 bytes.
    #[error("the encrypted fog hint must be 84 bytes, got {0}")]
    FogHintLength(usize),
    /// The bytes are not a valid protobuf of the expected message.
    #[error("malformed protobuf")]
    Protobuf,
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// The CRC-32 of the rebuilt commitment differs from the record's: the record is not
    /// for this view key.
    #[error("commitment checksum mismatch")]
    ChecksumMismatch,
}
