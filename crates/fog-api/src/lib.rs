#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The code generated from one protobuf package (`tonic::include_proto!` without tonic, so
/// that the messages build without the `grpc` feature).
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}

/// The ledger node's gRPC API (`fog_node.proto`): messages, client and server stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_node {
    include_proto!("fog_node");

    use fog_transaction::block::{Block, BlockContents};

    impl BlockData {
        /// The header and contents, decoded (each field checked); the timestamp is
        /// `self.timestamp`. The error says which part is missing or malformed.
        pub fn decode_block(&self) -> Result<(Block, BlockContents), String> {
            let block = self
                .block
                .as_ref()
                .ok_or_else(|| "no header".to_string())
                .and_then(|b| Block::try_from_wire(b).map_err(|e| format!("header: {e}")))?;
            let contents = self
                .contents
                .as_ref()
                .ok_or_else(|| "no contents".to_string())
                .and_then(|c| {
                    BlockContents::try_from_wire(c).map_err(|e| format!("contents: {e}"))
                })?;
            Ok((block, contents))
        }

        /// The wire form of a block, its contents and timestamp.
        pub fn encode_block(block: &Block, contents: &BlockContents, timestamp: u64) -> Self {
            Self {
                block: Some(block.to_wire()),
                contents: Some(contents.to_wire()),
                timestamp,
            }
        }
    }
}

/// The attested channel's gRPC API (`attest.proto`): the generic `AttestedApi` stubs; the
/// messages are `fog_attest::wire`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod attest {
    pub use fog_attest::wire::{AuthMessage, BoundEvidence, Evidence, Message, NonceMessage};
    // Only stubs: every message of this package is an extern type.
    #[cfg(feature = "grpc")]
    include_proto!("attest");
}

/// The report service's gRPC API (`report.proto`): `ReportAPI` stubs; the messages are
/// `fog_attest::wire`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod report {
    pub use fog_attest::wire::{Report, ReportRequest, ReportResponse};
    // Only stubs: every message of this package is an extern type.
    #[cfg(feature = "grpc")]
    include_proto!("report");
}

/// Routers and their stores (`router.proto`): `StoreAPI` (a store's API for its routers) and
/// `RouterAdminAPI`.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_router {
    include_proto!("fog_router");
}

/// The ingest server's admin API (`fog_ingest.proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_ingest {
    include_proto!("fog_ingest");
}

/// `fog_common.BlockRange`: the messages are `fog_types::common`'s.
pub use fog_types::common as fog_common;

/// The view service (`view.proto`, package `fog_view`): `FogViewAPI` stubs; the messages
/// are `fog_types::view`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_view {
    pub use fog_types::view::*;
    // Only stubs: every message of this package is an extern type.
    #[cfg(feature = "grpc")]
    include_proto!("fog_view");
}

/// The fog ledger services (`ledger.proto`, package `fog_ledger`): `FogKeyImageAPI`,
/// `FogMerkleProofAPI`, `FogBlockAPI`, `FogUntrustedTxOutApi` stubs; the messages are
/// `fog_types::ledger`'s.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod fog_ledger {
    pub use fog_types::ledger::*;
    // Only stubs: every message of this package is an extern type.
    #[cfg(feature = "grpc")]
    include_proto!("fog_ledger");
}

pub use fog_transaction::wire as external;
