#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod server;
mod state;

pub use server::{
    coarse_load_percent, EvidenceSource, IngestConfig, IngestError, IngestServer, IngestStatus,
    NoEvidence, SimEvidence, DEFAULT_REPORT_REPUBLISH_INTERVAL,
};
pub use state::StateDir;
