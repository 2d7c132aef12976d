#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod history;
pub mod rng;
pub mod scan;
pub mod send;
pub mod session;
pub mod state;
pub mod stored;
pub mod swap;
pub mod sync;
pub mod transport;

pub use client::{ClientConfig, FogClient, SendReceipt};
pub use error::{ClientError, Result, Service};
#[cfg(feature = "grpc")]
pub use grpc::{GrpcConfig, GrpcTransport, TransportStats};
pub use history::{Destination, EntryKind, HistoryEntry, Sender};
pub use send::SignedPayment;
pub use state::{AccountState, Balance, OwnedTxOut, SpentStatus};
pub use sync::{Request, Response, Step, Sync, SyncLimits, SyncProgress};
pub use transport::Transport;
