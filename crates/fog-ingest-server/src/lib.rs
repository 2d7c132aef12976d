#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod cluster;
mod server;
mod state;

pub use server::{
    ClusterCounters, EvidenceSource, IngestConfig, IngestError, IngestServer, IngestStatus, Mode,
    NoEvidence, ProviderEvidence, DEFAULT_REPORT_REPUBLISH_INTERVAL, PEER_EVIDENCE_REFRESH,
};
pub use state::StateDir;
