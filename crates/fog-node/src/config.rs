//! The node's settings.

use std::{collections::BTreeMap, time::Duration};

use fog_transaction::{
    validation::{default_fee_map, RING_SIZE},
    BlockVersion,
};

/// MobileCoin's limit on transactions per block (`MAX_TRANSACTIONS_PER_BLOCK`).
const MAX_TXS_PER_BLOCK: usize = 5000;

/// How the node validates and cuts blocks. [`NodeConfig::default`] gives the values below.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The version of the blocks the node cuts, and the rules transactions are validated
    /// under. Default [`BlockVersion::THREE`]: the version Fog's builder makes transactions
    /// for and the lowest that [`fog_transaction::validation::validate`] accepts (masked
    /// amounts V2, mixed transactions, sorted outputs). It must not be below the ledger's
    /// last block version ([`crate::Node::new`] refuses such a config).
    pub block_version: BlockVersion,
    /// Minimum fee per token id; tokens absent here are refused. Default: MOB only, at
    /// MobileCoin's 0.0004 MOB.
    pub fee_map: BTreeMap<u64, u64>,
    /// Members per ring. Default 11, MobileCoin's `RING_SIZE`.
    pub ring_size: usize,
    /// At most this many transactions wait for a block; more are answered `Busy`.
    /// Default 10,000.
    pub max_pending: usize,
    /// A block is cut this often when transactions are pending. Default one second.
    pub block_interval: Duration,
    /// A block holds at most this many transactions, and a full batch is cut at once
    /// without waiting for the interval. Default 5,000 (MobileCoin's limit).
    pub max_txs_per_block: usize,
    /// Whether the node takes whole blocks from outside ([`crate::Node::append_test_block`],
    /// the `LedgerNodeTestBlocks` gRPC service): for tests and acceptance runs only. Default
    /// off; `fogd node --allow-test-blocks` turns it on.
    pub allow_test_blocks: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            block_version: BlockVersion::THREE,
            fee_map: default_fee_map(),
            ring_size: RING_SIZE,
            max_pending: 10_000,
            block_interval: Duration::from_secs(1),
            max_txs_per_block: MAX_TXS_PER_BLOCK,
            allow_test_blocks: false,
        }
    }
}

impl NodeConfig {
    /// The default config with another block interval.
    pub fn with_block_interval(mut self, interval: Duration) -> Self {
        self.block_interval = interval;
        self
    }

    /// This config, taking scripted blocks from outside or not.
    pub fn with_test_blocks(mut self, allow: bool) -> Self {
        self.allow_test_blocks = allow;
        self
    }

    /// The default config with other pending and batch limits (each at least 1).
    pub fn with_limits(mut self, max_pending: usize, max_txs_per_block: usize) -> Self {
        self.max_pending = max_pending.max(1);
        self.max_txs_per_block = max_txs_per_block.max(1);
        self
    }
}
