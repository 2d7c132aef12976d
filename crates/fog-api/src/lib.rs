#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The ledger node's gRPC API (`fog_node.proto`): messages, client and server stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_node {
    tonic::include_proto!("fog_node");
}

pub use fog_transaction::wire as external;
