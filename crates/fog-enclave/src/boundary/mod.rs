//! Each enclave behind the byte boundary of `fog-enclave-api`: an implementation of
//! [`fog_enclave_api::Enclave`] per enclave kind, which decodes the host's request (untrusted
//! bytes), calls the trusted logic of this crate and encodes the answer. The host (the servers)
//! holds only a [`fog_enclave_api::SharedEnclave`]; `fogd` loads these implementations
//! in-process ("simulation mode") and injects them.
//!
//! Each implementation holds its secrets (channel keys, the ingress key, the sealing key,
//! clients' pending queries) inside; nothing it returns is a secret, and a request that does
//! not decode answers [`fog_enclave_api::EnclaveError::Malformed`] and changes nothing.

pub mod ingest;
pub mod ledger;
pub mod ledger_router;
pub mod view;
pub mod view_router;
