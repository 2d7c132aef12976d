#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod cluster;
mod server;
mod state;

pub use server::{
    default_worker_threads, lend_worker_threads, ClusterCounters, EvidenceSource, IngestConfig,
    IngestError, IngestServer, IngestStatus, Mode, NoEvidence, ProviderEvidence, WorkerThreads,
    DEFAULT_REPORT_REPUBLISH_INTERVAL, PEER_EVIDENCE_REFRESH,
};
pub use state::StateDir;
