#![doc = include_str!("../README.md")]
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod ct;
pub mod osort;
pub mod storage;

mod circuit;
mod map;
mod oram;
mod wide;

#[cfg(test)]
mod tests;

pub use map::{
    ObliviousMap, GROUP_BUCKETS, MAX_ITEM_BYTES, SLOTS_PER_BUCKET, STASH_ENTRIES, TABLES,
};
pub use oram::{Oram, OramParams, MAX_CAPACITY, MAX_VALUE_BYTES};
pub use storage::{
    BucketStore, EncryptedFactory, EncryptedStore, HeapFactory, HeapStore, MemoryUse, StoreFactory,
    TraceEvent, TraceLog, TraceOp, TracingFactory, TracingStore,
};
pub use subtle::Choice;
pub use wide::{use_wide_moves, wide_moves};

/// Everything that can go wrong in this crate. Payload-free: no variant carries a value that
/// could depend on a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OramError {
    /// Caller misuse: a size, capacity or parameter outside the supported range.
    #[error("invalid configuration")]
    InvalidConfig,
    /// Caller misuse: a block index at or beyond the capacity (checked before any access).
    #[error("index out of range")]
    IndexOutOfRange,
    /// Caller misuse: a buffer, key or value of the wrong length.
    #[error("length mismatch")]
    LengthMismatch,
    /// The memory for the tree could not be reserved.
    #[error("out of memory")]
    OutOfMemory,
    /// Untrusted input: a bucket read from untrusted memory failed authentication (tampered,
    /// moved or replayed). The ORAM is poisoned.
    #[error("untrusted bucket failed authentication")]
    IntegrityFailure,
    /// The stash overflowed (probability documented in the README). The ORAM is poisoned.
    #[error("stash overflow")]
    StashOverflow,
    /// An earlier integrity failure or stash overflow left the ORAM unusable.
    #[error("ORAM poisoned by an earlier failure")]
    Poisoned,
    /// The key is absent and all of its buckets are full; the map is unchanged.
    #[error("map full")]
    MapFull,
}
