#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod metrics;
pub mod router;
mod server;
mod service;
mod store;

pub use router::LedgerRouterServer;
pub use server::{
    LedgerServer, LedgerServerConfig, LedgerServerError, LedgerStatus, ALL_BLOCKS,
    MAX_BLOCKS_PER_CALL, MAX_TX_OUT_LOOKUPS,
};
pub use service::{
    run, run_with, LedgerService, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, TIMESTAMP_UNAVAILABLE,
};
pub use store::StoreService;

pub use fog_router::{StoresConfig, STORE_SESSION_LIMITS};
