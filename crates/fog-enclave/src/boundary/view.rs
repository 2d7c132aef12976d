//! The view enclave behind the byte boundary.
