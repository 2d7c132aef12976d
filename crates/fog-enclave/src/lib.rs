#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
// The attested enclaves (view, ledger) serve many host threads at once: std's Mutex (which
// an SGX SDK provides too) guards their session table and store partitions.
extern crate std;

pub mod boundary;
pub mod clock;
pub mod ingest;
pub mod ingest_peers;
pub mod ledger;
pub mod ledger_router;
pub mod peers;
pub mod sealing;
pub mod sessions;
pub mod view;
pub mod view_enclave;
pub mod view_log;
pub mod view_router;
pub mod workers;
