//! The one error type of the crate.

use fog_ledger_db::LedgerError;
use fog_transaction::tx::TxDecodeError;
use thiserror::Error;

/// Why a node operation failed. A transaction refused by a validation rule is not an error:
/// it is a [`crate::Verdict`].
///
/// Three kinds stay apart: **bad input from a client** (`MissingTx`, `MalformedTx`, `MalformedBlock`, `TestBlocksNotAllowed`), **caller
/// or operator misuse** (`EmptyLedger`, `BlockVersionBehindLedger`, `LedgerNotEmpty`,
/// `BadFunding`, `BadFeeMap`), and **internal trouble** (`Ledger`, `Task`, `Transport`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A `SubmitTx` request without a transaction.
    #[error("the request carries no transaction")]
    MissingTx,
    /// The transaction's protobuf does not decode into a well-formed transaction.
    #[error("malformed transaction: {0}")]
    MalformedTx(#[from] TxDecodeError),
    /// The ledger has no origin block: create one first (`fogd ledger-tool init`).
    #[error("the ledger has no origin block")]
    EmptyLedger,
    /// The configured block version is below the ledger's last block version.
    #[error("configured block version {configured} is below the ledger's {ledger}")]
    BlockVersionBehindLedger {
        /// The config's version.
        configured: u32,
        /// The last block's version.
        ledger: u32,
    },
    /// An origin block was asked for on a ledger that already has blocks.
    #[error("the ledger already has {0} blocks")]
    LedgerNotEmpty(u64),
    /// A minimum-fee map that breaks MobileCoin's rules ([`crate::check_fee_map`]).
    #[error("bad minimum fees: {0}")]
    BadFeeMap(String),
    /// Origin funding that cannot be minted (no outputs, or an amount a TxOut cannot hold).
    #[error("bad funding: {0}")]
    BadFunding(&'static str),
    /// A scripted block was offered to a node that does not take them.
    #[error("this node does not take test blocks: start it with --allow-test-blocks")]
    TestBlocksNotAllowed,
    /// A scripted block whose header or contents do not decode.
    #[error("malformed block: {0}")]
    MalformedBlock(String),
    /// The ledger store failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A blocking task panicked or was cancelled.
    #[error("a worker task failed")]
    Task,
    /// The gRPC server failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}
