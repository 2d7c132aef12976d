#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod server;
mod state;

pub use server::{
    EvidenceSource, IngestConfig, IngestError, IngestServer, IngestStatus, NoEvidence,
};
pub use state::StateDir;
