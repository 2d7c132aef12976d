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

/// The decoders every SQL backend reads its rows with (records blobs, user events, key and
/// status columns, integers and times), with the encoders they invert, for the fuzz targets
/// in `fuzz/`. Not part of the API: hidden, and free to change.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::codec::{
        check_records, decode_records, encode_records, millis_to_time, time_to_millis, to_i64,
        to_u64,
    };
    pub use crate::sql::{
        key_from, status_from, EventRow, EVENT_DECOMMISSION, EVENT_MISSING_BLOCKS,
        EVENT_NEW_INVOCATION,
    };
}
