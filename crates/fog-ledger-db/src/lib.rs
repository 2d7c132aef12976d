#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod db;
mod error;
mod tables;

#[doc(hidden)]
pub use db::{
    fuzz_decode_stored_block, fuzz_decode_stored_key_images, fuzz_decode_stored_tx_out,
    fuzz_encode_stored_block, fuzz_encode_stored_key_images,
};
pub use db::{verify_membership_proof, Durability, LedgerDb, LedgerSnapshot};
pub use error::LedgerError;
pub use fog_transaction::membership::{
    MembershipProofError, TxOutMembershipElement, TxOutMembershipProof,
};
