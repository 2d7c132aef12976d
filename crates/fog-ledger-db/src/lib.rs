#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod db;
mod error;
mod tables;

pub use db::{verify_membership_proof, Durability, LedgerDb, LedgerSnapshot};
pub use error::LedgerError;
pub use fog_transaction::membership::{
    MembershipProofError, TxOutMembershipElement, TxOutMembershipProof,
};
