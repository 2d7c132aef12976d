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
    Enclave, LedgerServer, LedgerServerConfig, LedgerServerError, LedgerStatus, ALL_BLOCKS,
    MAX_BLOCKS_PER_CALL, MAX_TX_OUT_LOOKUPS,
};
pub use service::{
    run, run_with, LedgerService, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, TIMESTAMP_UNAVAILABLE,
};
pub use store::StoreService;

pub use fog_enclave::peers::PeerChannels;
pub use fog_router::{StoresConfig, STORE_SESSION_LIMITS};

/// The attested channels between a ledger router and its key-image stores
/// ([`fog_enclave::ledger::KEY_IMAGE_STORE_CHANNEL`]), for either end: this enclave's
/// `responder` (a fresh channel key, fog ledger evidence) and peers accepted when `verifier`
/// accepts their evidence (the fog ledger enclave's identity under the deployment's trust
/// anchor). A store takes it with [`LedgerServer::set_router_link`], a router with
/// [`LedgerServer::new_router`].
pub fn key_image_store_link(
    responder: fog_attest::EnclaveResponder,
    verifier: fog_attest::Verifier,
) -> PeerChannels {
    PeerChannels::new(
        fog_enclave::ledger::KEY_IMAGE_STORE_CHANNEL,
        responder,
        verifier,
        STORE_SESSION_LIMITS,
    )
}
