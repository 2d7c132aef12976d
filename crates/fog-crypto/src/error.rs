//! Errors of key parsing and signature verification.

use thiserror::Error;

/// Why bytes could not be taken as a key.
///
/// The variants mirror MobileCoin's `KeyError`. None of them carries key material.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input had `found` bytes where `expected` were needed.
    #[error("wrong key length: found {found} bytes, expected {expected}")]
    LengthMismatch {
        /// Bytes given.
        found: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The input names a key algorithm or version other than the one expected.
    #[error("key algorithm or version mismatch")]
    AlgorithmMismatch,
    /// The bytes are not the canonical encoding of a Ristretto point.
    #[error("invalid public key: not a canonical Ristretto point encoding")]
    InvalidPublicKey,
    /// The bytes are not a canonical scalar (an integer below the group order).
    #[error("invalid private key: not a canonical scalar")]
    InvalidPrivateKey,
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not 64 bytes, lacks the schnorrkel marker bit, or has a
    /// non-canonical scalar.
    #[error("malformed signature")]
    Malformed,
    /// The signature is well formed but does not verify under the key.
    #[error("signature does not verify")]
    Mismatch,
}
