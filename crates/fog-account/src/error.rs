//! Errors of fog-account.

use fog_crypto::{KeyError, SignatureError};
use thiserror::Error;

/// Why keys or an address could not be made or checked.
#[derive(Clone, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Bad key bytes.
    #[error("bad key: {0}")]
    Key(#[from] KeyError),
    /// The mnemonic is not a valid English BIP39 phrase (unknown word, wrong word count or
    /// bad checksum).
    #[error("invalid BIP39 mnemonic: {0}")]
    Mnemonic(&'static str),
    /// The address has a fog report URL but no authority signature.
    #[error("the address carries no fog authority signature")]
    NoFogSignature,
    /// The fog authority signature is malformed or does not verify.
    #[error("fog authority signature: {0}")]
    FogSignature(SignatureError),
    /// A required protobuf field is missing.
    #[error("missing field {0}")]
    MissingField(&'static str),
}

/// Why a base58 printable string could not be decoded.
#[derive(Clone, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum B58Error {
    /// Not valid base58 (Bitcoin alphabet).
    #[error("not valid base58")]
    Base58,
    /// Fewer than 5 bytes after base58 decoding.
    #[error("too few bytes: {0} decoded, at least 5 needed")]
    InsufficientBytes(usize),
    /// The CRC-32 prefix does not match the payload.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The payload is not a valid `PrintableWrapper` protobuf.
    #[error("not a valid PrintableWrapper protobuf")]
    Deserialization,
    /// The wrapper holds something other than a public address.
    #[error("the printable wrapper does not hold a public address")]
    NotAnAddress,
    /// The address inside is invalid.
    #[error("invalid address: {0}")]
    Address(#[from] AccountError),
}
