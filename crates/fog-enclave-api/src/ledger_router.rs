//! The ledger_router enclave's calls: its request and response messages, and the host's typed
//! handle on it.
//!
//! Trust side: both.
