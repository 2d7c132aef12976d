#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod amount;
pub mod block;
mod block_version;
pub mod builder;
mod error;
pub mod fog_hint;
pub mod input_rules;
mod key_image;
pub mod membership;
pub mod memo;
pub mod onetime_keys;
pub mod range_proof;
pub mod record;
pub mod ring_signature;
pub mod sci;
pub mod tx;
mod tx_out;
pub mod validation;
pub mod wire;

pub use amount::{Amount, MaskedAmount, TokenId};
pub use block_version::BlockVersion;
pub use error::{AmountError, MemoError, TxOutError};
pub use fog_hint::{EncryptedFogHint, FogHint};
pub use key_image::KeyImage;
pub use memo::{EncryptedMemo, MemoPayload};
pub use record::{FogTxOut, TxOutRecord};
pub use tx_out::{MemoContext, TxOut};
