//! The view_router enclave behind the byte boundary.
