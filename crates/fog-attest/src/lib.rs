#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chain;
pub mod channel;
mod error;
pub mod evidence;
pub mod report;
pub mod sim;
pub mod verifier;
pub mod wire;

pub use channel::{
    Channel, ChannelId, ChannelKeypair, ClientHandshake, EnclaveResponder, PeerHandshake, PeerKey,
    SessionLimits, SessionTable,
};
pub use error::{Error, Result, VerifyError};
pub use evidence::{
    BoundEvidence, ConfigId, EnclaveIdentity, Evidence, EvidenceKind, Measurement, ReportData,
    SignerId, UnixSeconds,
};
pub use report::{validate_report, Report, ValidatedFogPubkey};
pub use sim::{fog_identity, FogEnclave, Provider, SimProvider};
pub use verifier::{IdentityRule, Policy, TrustAnchor, Verifier};

/// Re-exported so callers name the same Ed25519 types (quoting keys, authority keys).
pub use ed25519_dalek;
