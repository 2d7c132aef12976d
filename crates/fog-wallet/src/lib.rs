#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod amount;
pub mod error;
pub mod network;
pub mod saved_tx;
pub mod session;
pub mod spki;
pub mod wallet;

pub use error::WalletError;
pub use network::{NetworkOverrides, NetworkSettings};
pub use session::Session;
pub use wallet::{FogSettings, WalletFile};
