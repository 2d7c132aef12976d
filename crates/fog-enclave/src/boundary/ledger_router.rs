//! The ledger_router enclave behind the byte boundary.
