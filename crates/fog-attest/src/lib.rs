#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod channel;
mod error;
pub mod evidence;
pub mod platform;
#[cfg(feature = "policy-file")]
pub mod policy_file;
pub mod report;
pub mod sim;
pub mod tsm;
pub mod verifier;
pub mod wire;

pub use channel::{
    Channel, ChannelId, ChannelKeypair, ClientHandshake, EnclaveResponder, PeerHandshake, PeerKey,
    SessionLimits, SessionTable,
};
pub use error::{Error, Result, VerifyError};
pub use evidence::{
    BoundEvidence, Collateral, ConfigId, EnclaveIdentity, Evidence, EvidenceKind, Measurement,
    QuoteEvidence, ReportData, SignerId, SimEvidence, UnixSeconds,
};
pub use platform::{SnpTcb, TcbStatus};
pub use report::{validate_report, Report, ValidatedFogPubkey};
pub use sim::{fog_identity, FogEnclave, Provider, SimProvider};
pub use verifier::{IdentityRule, Policy, TrustAnchor, Verdict, Verifier};

/// Re-exported so callers name the same Ed25519 types (quoting keys, authority keys).
pub use ed25519_dalek;
