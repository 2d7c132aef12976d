#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The ledger node's gRPC API (`fog_node.proto`): messages, client and server stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_node {
    tonic::include_proto!("fog_node");
}

/// The attested channel's gRPC API (`attest.proto`): the generic `AttestedApi` stubs; the
/// messages are `fog_attest::wire`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod attest {
    pub use fog_attest::wire::{AuthMessage, BoundEvidence, Evidence, Message, NonceMessage};
    tonic::include_proto!("attest");
}

/// The report service's gRPC API (`report.proto`): `ReportAPI` stubs; the messages are
/// `fog_attest::wire`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod report {
    pub use fog_attest::wire::{Report, ReportRequest, ReportResponse};
    tonic::include_proto!("report");
}

/// The ingest server's admin API (`fog_ingest.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_ingest {
    tonic::include_proto!("fog_ingest");
}

pub use fog_transaction::wire as external;
