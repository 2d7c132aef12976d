#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod config;
mod error;
mod memory;
mod postgres;
mod sql;
mod sqlite;
mod traits;
mod types;

pub mod conformance;

pub use config::{open, AnyRecoveryDb, RecoveryDbConfig};
pub use error::RecoveryDbError;
pub use memory::MemoryRecoveryDb;
pub use postgres::PostgresRecoveryDb;
pub use sqlite::SqliteRecoveryDb;
pub use traits::{RecoveryDb, ReportDb, Result};
pub use types::*;
