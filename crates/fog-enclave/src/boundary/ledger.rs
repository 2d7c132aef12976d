//! The ledger enclave behind the byte boundary.
