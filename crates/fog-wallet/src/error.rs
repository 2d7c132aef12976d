//! The wallet's one error type.
//!
//! Every message is safe to print: none carries a mnemonic, a word of one, a key or the
//! contents of a wallet file. File paths and public settings (fog URL) may appear.

use std::{io, path::PathBuf};

use fog_account::AccountError;
use fog_client::ClientError;
use thiserror::Error;

/// Why a command failed. `main` prints it as one `error: ` line.
///
/// Exit codes: 2 for bad input (arguments, files, a wallet without service addresses,
/// insufficient funds), 1 for failures of the machine or of a service (unreachable, refused
/// attestation, refused the request or the transaction, timed out), 3 for a transaction the
/// ledger node refused as a double spend, 4 for one whose tombstone block has passed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The command line is wrong (unknown flag, missing partner flag, bad number).
    #[error("{0}")]
    Usage(String),
    /// The phrase given by the user is not a valid English BIP39 mnemonic.
    #[error("{0}")]
    Mnemonic(AccountError),
    /// Nothing usable arrived on standard input.
    #[error("no mnemonic on standard input: enter the phrase on one line")]
    NoMnemonicInput,
    /// No wallet file at the path.
    #[error(
        "no wallet at {0}: create one with `fog-wallet keys new` or `fog-wallet keys from-mnemonic`"
    )]
    WalletMissing(PathBuf),
    /// A wallet already exists and `--force` was not given.
    #[error("a wallet already exists at {0}: pass --force to replace it (its mnemonic is lost unless written down)")]
    WalletExists(PathBuf),
    /// The wallet file could not be parsed. Only the position is reported, never the text.
    #[error("{path} is not a valid wallet file ({what} at line {line}, column {column})")]
    WalletSyntax {
        /// The wallet file.
        path: PathBuf,
        /// "syntax error", "unexpected value", "truncated file".
        what: &'static str,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// The wallet file parses but holds something this version cannot use.
    #[error("{path} is not a valid wallet file: {reason}")]
    WalletContent {
        /// The wallet file.
        path: PathBuf,
        /// What is wrong, without any secret.
        reason: String,
    },
    /// The fog authority key file is not DER or PEM SubjectPublicKeyInfo.
    #[error("{path}: {reason}")]
    Spki {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),
    /// The wallet has no service addresses and not all were given as flags.
    #[error(
        "the wallet at {path} has no service addresses: give {missing} (they are then kept in the wallet)"
    )]
    NoNetwork {
        /// The wallet file.
        path: PathBuf,
        /// The flags still needed.
        missing: String,
    },
    /// A service failed, refused attestation or the request; or the request cannot be done
    /// (insufficient funds). `at` is the address of the service, when the client's message
    /// does not already say it.
    #[error("{source}{}", at.as_ref().map(|a| format!(" (at {a})")).unwrap_or_default())]
    Client {
        /// What the client said.
        source: ClientError,
        /// The service's address.
        at: Option<String>,
    },
    /// The ledger node does not take this token: its minimum fees (`GetLedgerInfo`) name
    /// others only.
    #[error(
        "the ledger node at {at} does not accept token {token}: it takes token(s) {}",
        accepted.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    TokenNotAccepted {
        /// The token asked for.
        token: u64,
        /// The tokens the node has a minimum fee for.
        accepted: Vec<u64>,
        /// The node's address.
        at: String,
    },
    /// A saved transaction file is not one this wallet can read (or not this wallet's).
    #[error("{path}: {reason}; nothing was submitted")]
    SavedTx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file that would be replaced already exists.
    #[error("{0} already exists: remove it or choose another file")]
    FileExists(PathBuf),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

impl WalletError {
    /// The exit code of a double spend refused by the ledger node.
    pub const EXIT_DOUBLE_SPEND: i32 = 3;
    /// The exit code of a transaction whose tombstone block has passed.
    pub const EXIT_EXPIRED: i32 = 4;

    /// The process exit code: 2 for bad input (arguments, standard input, files read), 1 for
    /// failures of the machine (writing the wallet, randomness) or of a service,
    /// [`Self::EXIT_DOUBLE_SPEND`] and [`Self::EXIT_EXPIRED`] for those refusals.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Write { .. } | Self::Randomness(_) | Self::Runtime(_) => 1,
            Self::Client { source, .. } => match source {
                ClientError::InsufficientFunds { .. }
                | ClientError::InvalidRequest(_)
                | ClientError::SavedTx(_) => 2,
                ClientError::DoubleSpend { .. } => Self::EXIT_DOUBLE_SPEND,
                ClientError::Expired { .. } => Self::EXIT_EXPIRED,
                _ => 1,
            },
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(source: ClientError) -> WalletError {
        WalletError::Client { source, at: None }
    }

    #[test]
    fn refused_transactions_have_their_own_exit_codes() {
        let double = client(ClientError::DoubleSpend {
            rule: "ContainsSpentKeyImage".into(),
        });
        assert_eq!(double.exit_code(), WalletError::EXIT_DOUBLE_SPEND);
        assert!(double.to_string().starts_with("double spend: "), "{double}");
        let pending = client(ClientError::DoubleSpend {
            rule: "KeyImageAlreadyPending".into(),
        });
        assert!(pending.to_string().contains("already waiting to land"));
        let expired = client(ClientError::Expired {
            tombstone_block: 60,
            block_count: 61,
        });
        assert_eq!(expired.exit_code(), WalletError::EXIT_EXPIRED);
        assert!(
            expired.to_string().contains("tombstone block is 60"),
            "{expired}"
        );
        assert_eq!(client(ClientError::SavedTx("x".into())).exit_code(), 2);
        let saved = WalletError::SavedTx {
            path: PathBuf::from("p.fogtx"),
            reason: "corrupt: the checksum does not match".into(),
        };
        assert_eq!(saved.exit_code(), 2);
        assert_eq!(
            saved.to_string(),
            "p.fogtx: corrupt: the checksum does not match; nothing was submitted"
        );
        let other = client(ClientError::Submit {
            result: "Invalid".into(),
            rule: "InvalidRangeProof".into(),
        });
        assert_eq!(other.exit_code(), 1);
    }
}
