#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod account_keys;
mod address;
mod b58;
mod error;
mod slip10;
pub mod wire;

pub use account_keys::{
    AccountKey, RootEntropy, ViewAccountKey, CHANGE_SUBADDRESS_INDEX, DEFAULT_SUBADDRESS_INDEX,
    GIFT_CODE_SUBADDRESS_INDEX, INVALID_SUBADDRESS_INDEX,
};
pub use address::{burn_address, PublicAddress, ShortAddressHash, FOG_AUTHORITY_CONTEXT};
pub use b58::{b58_decode, b58_decode_public_address, b58_encode, b58_encode_public_address};
pub use error::{AccountError, B58Error};
pub use slip10::Slip10Key;
