//! `fog_common`: block ranges.

use core::fmt;

/// `fog_common.BlockRange { uint64 start_block = 1; uint64 end_block = 2; }`: the blocks
/// `start_block..end_block` (end exclusive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct BlockRange {
    /// First block.
    #[prost(uint64, tag = "1")]
    pub start_block: u64,
    /// One past the last block.
    #[prost(uint64, tag = "2")]
    pub end_block: u64,
}

impl BlockRange {
    /// The range `start..end`.
    pub fn new(start_block: u64, end_block: u64) -> Self {
        Self {
            start_block,
            end_block,
        }
    }

    /// Whether `start < end`.
    pub fn is_valid(&self) -> bool {
        self.start_block < self.end_block
    }

    /// Whether `block` is in the range.
    pub fn contains(&self, block: u64) -> bool {
        self.start_block <= block && block < self.end_block
    }

    /// Blocks in the range (0 when invalid).
    pub fn len(&self) -> u64 {
        self.end_block.saturating_sub(self.start_block)
    }

    /// Whether the range holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for BlockRange {
    /// MobileCoin's text form `start-end`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start_block, self.end_block)
    }
}
