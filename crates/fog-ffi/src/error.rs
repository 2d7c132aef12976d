//! [`FogError`]: the one error type every exported call raises, a typed exception in each
//! language (`FogError.Unavailable` in Python, `FogException.Unavailable` in Kotlin,
//! `FogError.Unavailable` in Swift).
//!
//! The variants keep fog-client's three kinds apart: a service failed or refused
//! ([`FogError::Unavailable`], [`FogError::Attestation`], [`FogError::Refused`],
//! [`FogError::BadResponse`], [`FogError::InvalidReport`], and the ledger node's refusals of a
//! transaction), the caller asked for something impossible (`Invalid*`, among them
//! [`FogError::InvalidOffer`] for a swap offer that does not check,
//! [`FogError::InsufficientFunds`]; the app's own progress callback raised,
//! [`FogError::Callback`]), or this library failed ([`FogError::Internal`]). Every
//! error of a service carries the [`Service`] that failed. No message carries a mnemonic, a
//! key or a search key: they are built from fog-client's and fog-wallet's errors, which
//! carry none.

use fog_client::ClientError;
use fog_wallet::WalletError;

/// The remote services a wallet talks to (fog-client's `Service`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Service {
    /// The view service: the account's TxOut records.
    View,
    /// The fog ledger's key-image service.
    KeyImages,
    /// The fog ledger's outputs and membership proofs.
    MerkleProofs,
    /// The fog ledger's block service (missed block ranges).
    Blocks,
    /// The fog ledger enclave's attested block ids.
    BlockIds,
    /// A fog report server (the recipient's ingest key).
    Report,
    /// The ledger node: ledger info and transaction submission.
    Node,
    /// A service this version of the bindings does not name.
    Other,
}

impl From<fog_client::Service> for Service {
    fn from(s: fog_client::Service) -> Self {
        use fog_client::Service as S;
        match s {
            S::View => Self::View,
            S::KeyImages => Self::KeyImages,
            S::MerkleProofs => Self::MerkleProofs,
            S::Blocks => Self::Blocks,
            S::BlockIds => Self::BlockIds,
            S::Report => Self::Report,
            S::Node => Self::Node,
            _ => Self::Other,
        }
    }
}

impl core::fmt::Display for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::View => "fog view",
            Self::KeyImages => "fog ledger (key images)",
            Self::MerkleProofs => "fog ledger (outputs and membership proofs)",
            Self::Blocks => "fog ledger (blocks)",
            Self::BlockIds => "fog ledger (attested block ids)",
            Self::Report => "fog report",
            Self::Node => "ledger node",
            Self::Other => "a fog service",
        })
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum FogError {
    /// A service could not be reached or said it is not ready (connection refused, timeout,
    /// gRPC UNAVAILABLE). Trying again later may work.
    #[error("{service} at {uri} is unavailable: {reason}")]
    Unavailable {
        /// The service.
        service: Service,
        /// Where it was expected.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// The service's enclave evidence was refused by the attestation policy, or the
    /// attested handshake failed.
    #[error("{service} at {uri} failed attestation: {reason}")]
    Attestation {
        /// The service.
        service: Service,
        /// Where it was.
        uri: String,
        /// The refused rule.
        reason: String,
    },
    /// The service answered with an error status.
    #[error("{service} refused the request ({code}): {reason}")]
    Refused {
        /// The service.
        service: Service,
        /// The gRPC status code, by name.
        code: String,
        /// The service's message.
        reason: String,
    },
    /// The service answered something a correct service never sends.
    #[error("{service} sent a bad answer: {reason}")]
    BadResponse {
        /// The service.
        service: Service,
        /// What was wrong with it.
        reason: String,
    },
    /// The recipient's fog report (from the fog report service its address names) did not
    /// validate: certificate chain, signature, ingest enclave evidence or expiry.
    #[error("{service}: the recipient's fog report was refused: {reason}")]
    InvalidReport {
        /// Always [`Service::Report`].
        service: Service,
        /// Why.
        reason: String,
    },
    /// The ledger node refused the transaction.
    #[error("{service} refused the transaction: {result} {rule}")]
    Submit {
        /// Always [`Service::Node`].
        service: Service,
        /// The node's result.
        result: String,
        /// The validation rule that refused it, if any.
        rule: String,
    },
    /// The ledger node refused the transaction as a double spend (its inputs are spent in the
    /// ledger, or by a transaction waiting to land).
    #[error("{service} refused the transaction as a double spend ({rule}): {reason}")]
    DoubleSpend {
        /// Always [`Service::Node`].
        service: Service,
        /// The node's rule (`ContainsSpentKeyImage`, `KeyImageAlreadyPending`).
        rule: String,
        /// What it means.
        reason: String,
    },
    /// The transaction can no longer land: the ledger reached its tombstone block.
    #[error(
        "the transaction expired: the ledger has {block_count} blocks and its tombstone block \
         is {tombstone_block}"
    )]
    Expired {
        /// The first block in which it could no longer land.
        tombstone_block: u64,
        /// The ledger's block count when this was seen.
        block_count: u64,
    },
    /// Waiting for a payment to land took longer than allowed (it may still land; the
    /// wallet's state keeps its inputs reserved).
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// Not enough unspent, confirmed funds of the token (amount plus fee).
    #[error("insufficient funds of token {token_id}: {available} available, {needed} needed")]
    InsufficientFunds {
        /// The token.
        token_id: u64,
        /// Spendable value, in the token's smallest unit (decimal: it may exceed 64 bits).
        available: String,
        /// Amount plus fee.
        needed: String,
    },
    /// The mnemonic is not a valid English BIP39 phrase.
    #[error("invalid mnemonic: {reason}")]
    InvalidMnemonic {
        /// Why (never a word of the phrase).
        reason: String,
    },
    /// A string is not a b58 public address.
    #[error("invalid address: {reason}")]
    InvalidAddress {
        /// Why.
        reason: String,
    },
    /// Fog or network settings are invalid (URL, authority key, attestation policy).
    #[error("invalid settings: {reason}")]
    InvalidSettings {
        /// Why.
        reason: String,
    },
    /// A stored account state (or wallet file) could not be read; nothing was changed.
    #[error("invalid stored state: {reason}")]
    InvalidState {
        /// Why.
        reason: String,
    },
    /// The call cannot be done as asked (zero amount, fee in another token, a ledger too
    /// small for rings, ...).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why.
        reason: String,
    },
    /// An offer's bytes are not a valid signed offer (encoding, signature, rules or
    /// amounts); nothing was sent.
    #[error("invalid offer: {reason}")]
    InvalidOffer {
        /// Why.
        reason: String,
    },
    /// A wallet file could not be read or written.
    #[error("wallet file: {reason}")]
    WalletFile {
        /// The file and the OS error (never its contents).
        reason: String,
    },
    /// The app's progress callback raised (threw). The check it was called for went on to
    /// its end without calling it again, and kept what it found (its balance is
    /// `last_balance()`); the callback's exception is not raised again, only its text.
    #[error("the progress callback raised: {reason}")]
    Callback {
        /// The exception, as the foreign language prints it.
        reason: String,
    },
    /// A failure of this library (a bug, or the runtime could not start).
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

#[uniffi::export]
impl FogError {
    /// The error as one line for people.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The service that failed or refused, if a service did.
    pub fn failed_service(&self) -> Option<Service> {
        match self {
            Self::Unavailable { service, .. }
            | Self::Attestation { service, .. }
            | Self::Refused { service, .. }
            | Self::BadResponse { service, .. }
            | Self::InvalidReport { service, .. }
            | Self::Submit { service, .. }
            | Self::DoubleSpend { service, .. } => Some(*service),
            Self::Expired { .. } => Some(Service::Node),
            _ => None,
        }
    }
}

impl From<ClientError> for FogError {
    fn from(e: ClientError) -> Self {
        let text = e.to_string();
        match e {
            ClientError::Unavailable {
                service,
                uri,
                reason,
            } => Self::Unavailable {
                service: service.into(),
                uri,
                reason,
            },
            ClientError::Attestation {
                service,
                uri,
                source,
            } => Self::Attestation {
                service: service.into(),
                uri,
                reason: source.to_string(),
            },
            ClientError::Refused {
                service,
                code,
                message,
            } => Self::Refused {
                service: service.into(),
                code,
                reason: message,
            },
            ClientError::BadResponse { service, what } => Self::BadResponse {
                service: service.into(),
                reason: what,
            },
            ClientError::Report(source) => Self::InvalidReport {
                service: Service::Report,
                reason: source.to_string(),
            },
            ClientError::InsufficientFunds {
                token,
                available,
                needed,
            } => Self::InsufficientFunds {
                token_id: token,
                available: available.to_string(),
                needed: needed.to_string(),
            },
            ClientError::InvalidRequest(reason) => Self::InvalidRequest { reason },
            ClientError::Build(source) => Self::InvalidRequest {
                reason: format!("building the transaction failed: {source}"),
            },
            ClientError::Submit { result, rule } => Self::Submit {
                service: Service::Node,
                result,
                rule,
            },
            ClientError::DoubleSpend { rule } => Self::DoubleSpend {
                service: Service::Node,
                rule,
                reason: text,
            },
            ClientError::Expired {
                tombstone_block,
                block_count,
            } => Self::Expired {
                tombstone_block,
                block_count,
            },
            ClientError::SavedTx(reason) => Self::InvalidRequest { reason },
            ClientError::Timeout { what, seconds } => Self::Timeout {
                what: what.to_owned(),
                seconds,
            },
            ClientError::State(reason) => Self::InvalidState { reason },
            ClientError::Misuse(what) => Self::Internal {
                reason: what.to_owned(),
            },
            _ => Self::Internal { reason: text },
        }
    }
}

/// A foreign callback that raised something other than a [`FogError`] (any exception of the
/// app's): UniFFI hands its text here instead of panicking.
impl From<uniffi::UnexpectedUniFFICallbackError> for FogError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Callback { reason: e.reason }
    }
}

impl From<WalletError> for FogError {
    fn from(e: WalletError) -> Self {
        let reason = e.to_string();
        match e {
            WalletError::Client { source, .. } => source.into(),
            WalletError::Mnemonic(_) => Self::InvalidMnemonic { reason },
            WalletError::WalletContent { .. } | WalletError::WalletSyntax { .. } => {
                Self::InvalidState { reason }
            }
            WalletError::WalletMissing(_)
            | WalletError::WalletExists(_)
            | WalletError::Read { .. }
            | WalletError::Write { .. } => Self::WalletFile { reason },
            WalletError::FileExists(_) => Self::WalletFile { reason },
            WalletError::Usage(_) | WalletError::NoNetwork { .. } => {
                Self::InvalidSettings { reason }
            }
            WalletError::Spki { .. } => Self::InvalidSettings { reason },
            _ => Self::Internal { reason },
        }
    }
}

impl From<fog_account::AccountError> for FogError {
    fn from(e: fog_account::AccountError) -> Self {
        match e {
            fog_account::AccountError::Mnemonic(_) => Self::InvalidMnemonic {
                reason: e.to_string(),
            },
            other => Self::InvalidAddress {
                reason: other.to_string(),
            },
        }
    }
}

/// The crate's result type.
pub type Result<T, E = FogError> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_their_service() {
        let e: FogError = ClientError::Unavailable {
            service: fog_client::Service::KeyImages,
            uri: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        }
        .into();
        assert_eq!(e.failed_service(), Some(Service::KeyImages));
        assert_eq!(
            e.message(),
            "fog ledger (key images) at http://127.0.0.1:1 is unavailable: connection refused"
        );
        let e: FogError = ClientError::DoubleSpend {
            rule: "KeyImageAlreadyPending".into(),
        }
        .into();
        assert_eq!(e.failed_service(), Some(Service::Node));
        assert!(e.message().contains("submitted twice"), "{}", e.message());
        let e: FogError = ClientError::InsufficientFunds {
            token: 0,
            available: u128::from(u64::MAX) + 1,
            needed: 5,
        }
        .into();
        assert_eq!(
            e,
            FogError::InsufficientFunds {
                token_id: 0,
                available: "18446744073709551616".into(),
                needed: "5".into(),
            }
        );
        assert_eq!(e.failed_service(), None);
    }

    #[test]
    fn a_raising_callback_is_a_callback_error() {
        let e: FogError = uniffi::UnexpectedUniFFICallbackError::new("RuntimeError('boom')").into();
        assert_eq!(
            e,
            FogError::Callback {
                reason: "RuntimeError('boom')".into()
            }
        );
        assert_eq!(
            e.message(),
            "the progress callback raised: RuntimeError('boom')"
        );
        assert_eq!(e.failed_service(), None);
    }
}
