#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod metrics;
mod server;
mod service;

pub use server::{
    LedgerServer, LedgerServerConfig, LedgerServerError, LedgerStatus, MAX_BLOCKS_PER_CALL,
    MAX_TX_OUT_LOOKUPS,
};
pub use service::{
    run, run_with, LedgerService, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, TIMESTAMP_UNAVAILABLE,
};
