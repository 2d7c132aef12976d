//! The crate's error type. Every variant says which service or which check failed; none
//! carries a key, a search key or a record.

use core::fmt;

use thiserror::Error;

/// The remote services a client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The view service (`FogViewAPI`): RNG records and TxOut records.
    View,
    /// The fog ledger's key-image service (`FogKeyImageAPI`).
    KeyImages,
    /// The fog ledger's outputs and membership proofs (`FogMerkleProofAPI`).
    MerkleProofs,
    /// The fog ledger's untrusted block service (`FogBlockAPI`).
    Blocks,
    /// The fog ledger enclave's attested block ids (`FogKeyImageAPI.GetBlockIds`).
    BlockIds,
    /// A fog report server (`ReportAPI`).
    Report,
    /// The ledger node (`LedgerNode`): submit and ledger info.
    Node,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::View => "fog view",
            Self::KeyImages => "fog ledger (key images)",
            Self::MerkleProofs => "fog ledger (outputs and membership proofs)",
            Self::Blocks => "fog ledger (blocks)",
            Self::BlockIds => "fog ledger (attested block ids)",
            Self::Report => "fog report",
            Self::Node => "ledger node",
        })
    }
}

/// Errors of the client.
///
/// Three kinds stay apart: the network or a service failed ([`ClientError::Unavailable`],
/// [`ClientError::Attestation`], [`ClientError::Refused`]); a service answered something a
/// correct service never sends ([`ClientError::BadResponse`]); the caller asked for
/// something impossible ([`ClientError::InsufficientFunds`], [`ClientError::InvalidRequest`]).
/// A failed call leaves the account state as it was after the last complete step: what was
/// learned before the failure is kept, and the balance is only moved by a complete check.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A service could not be reached, or said it is not ready (gRPC UNAVAILABLE).
    #[error("{service} at {uri} is unavailable: {reason}")]
    Unavailable {
        /// The service.
        service: Service,
        /// Where it was expected.
        uri: String,
        /// What went wrong (connection refused, timeout, "store behind", ...).
        reason: String,
    },
    /// The service's enclave evidence was refused, or the attested handshake failed.
    #[error("{service} at {uri} failed attestation: {source}")]
    Attestation {
        /// The service.
        service: Service,
        /// Where it was.
        uri: String,
        /// The refused rule.
        #[source]
        source: fog_attest::Error,
    },
    /// The service answered with an error status other than UNAVAILABLE.
    #[error("{service} refused the request ({code}): {message}")]
    Refused {
        /// The service.
        service: Service,
        /// The gRPC status code, by name.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The service answered something a correct service never sends.
    #[error("{service} sent a bad answer: {what}")]
    BadResponse {
        /// The service.
        service: Service,
        /// What was wrong with it.
        what: String,
    },
    /// A recipient's fog report did not validate.
    #[error("the recipient's fog report was refused: {0}")]
    Report(#[source] fog_attest::Error),
    /// Not enough unspent, confirmed funds of the token.
    #[error("insufficient funds of token {token}: {available} available, {needed} needed")]
    InsufficientFunds {
        /// The token.
        token: u64,
        /// Spendable value (confirmed, not reserved by a pending send).
        available: u128,
        /// Amount plus fee.
        needed: u128,
    },
    /// The caller asked for something that cannot be done (zero inputs needed, a ledger too
    /// small for rings, too many inputs, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The transaction builder refused.
    #[error("building the transaction failed: {0}")]
    Build(#[from] fog_transaction::builder::TxBuilderError),
    /// The ledger node refused the transaction.
    #[error("the ledger node refused the transaction: {result} {rule}")]
    Submit {
        /// The node's result (invalid, double spend, busy).
        result: String,
        /// The validation rule that refused it, if any.
        rule: String,
    },
    /// The ledger node refused the transaction as a double spend: a key image it spends is
    /// already spent in the ledger (`ContainsSpentKeyImage`: this transaction, or another
    /// spending the same TxOuts, has landed) or by a transaction waiting to land
    /// (`KeyImageAlreadyPending`).
    #[error("{}", double_spend_text(rule))]
    DoubleSpend {
        /// The node's rule.
        rule: String,
    },
    /// The transaction can no longer land: the ledger has reached its tombstone block.
    #[error(
        "the transaction expired: the ledger has {block_count} blocks and its tombstone block \
         is {tombstone_block}, so it can no longer land; build a new payment"
    )]
    Expired {
        /// The first block in which it could no longer land.
        tombstone_block: u64,
        /// The ledger's block count when this was seen.
        block_count: u64,
    },
    /// A saved (signed, not yet submitted) transaction could not be read or is not this
    /// account's.
    #[error("{0}")]
    SavedTx(String),
    /// Waiting for a sent transaction to show up took longer than allowed.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long.
        seconds: u64,
    },
    /// A stored account state could not be read.
    #[error("stored account state: {0}")]
    State(String),
    /// A sync step was driven out of order (a bug in the driver).
    #[error("client protocol misuse: {0}")]
    Misuse(&'static str),
}

impl ClientError {
    pub(crate) fn bad(service: Service, what: impl Into<String>) -> Self {
        Self::BadResponse {
            service,
            what: what.into(),
        }
    }
}

fn double_spend_text(rule: &str) -> String {
    let why = match rule {
        "KeyImageAlreadyPending" => {
            "a transaction spending the same TxOuts is already waiting to land (submitted twice?)"
        }
        _ => {
            "its inputs' key images are already spent in the ledger: this transaction, or \
             another spending the same TxOuts, has already landed"
        }
    };
    format!("double spend: the ledger node refused the transaction ({rule}): {why}")
}

/// The crate's result type.
pub type Result<T, E = ClientError> = core::result::Result<T, E>;
