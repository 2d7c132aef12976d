#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod crypto_box;
pub mod digestible;
mod error;
pub mod hash;
pub mod kex_rng;
pub mod keys;

pub use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
pub use error::{KeyError, SignatureError};
pub use keys::{
    CompressedRistrettoPublic, RistrettoPrivate, RistrettoPublic, RistrettoSignature, SharedSecret,
};
