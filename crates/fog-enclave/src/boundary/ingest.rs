//! The ingest enclave behind the byte boundary.
