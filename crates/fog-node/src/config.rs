//! The node's settings.

use std::{collections::BTreeMap, time::Duration};

use fog_transaction::{
    validation::{default_fee_map, MOB_MINIMUM_FEE, RING_SIZE},
    BlockVersion,
};

use crate::NodeError;

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
    /// MobileCoin's 0.0004 MOB. [`crate::Node::new`] refuses a map that breaks
    /// MobileCoin's rules ([`check_fee_map`]); the node publishes it in `GetLedgerInfo`.
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

    /// This config, accepting `token` with a minimum fee of `fee` (in the token's smallest
    /// unit), or with MOB's minimum fee changed for token 0. [`crate::Node::new`] checks the
    /// map ([`check_fee_map`]).
    pub fn with_minimum_fee(mut self, token: u64, fee: u64) -> Self {
        self.fee_map.insert(token, fee);
        self
    }

    /// The default config with other pending and batch limits (each at least 1).
    pub fn with_limits(mut self, max_pending: usize, max_txs_per_block: usize) -> Self {
        self.max_pending = max_pending.max(1);
        self.max_txs_per_block = max_txs_per_block.max(1);
        self
    }
}

/// MobileCoin's smallest minimum fee, as a power of two: every minimum fee is a non-zero
/// multiple of 2^7 = 128 in the token's smallest unit (`SMALLEST_MINIMUM_FEE_LOG2`), since
/// priorities divide fees by the minimum fee over 128.
pub const SMALLEST_MINIMUM_FEE_LOG2: u32 = 7;

/// The minimum fees MobileCoin's consensus accepts for MOB without `allow_any_fee`: at
/// least 0.00000001 MOB, below 1 MOB (`ACCEPTABLE_MOB_FEE_VALUES`, picoMOB).
pub const ACCEPTABLE_MOB_FEES: core::ops::Range<u64> = 10_000..1_000_000_000_000;

/// Checks a minimum-fee map by MobileCoin's rules (`FeeMap::is_valid_map` and the consensus
/// service's token config): MOB (token 0) is present, within [`ACCEPTABLE_MOB_FEES`], and
/// every fee is a non-zero multiple of 128. The error names the token and the rule.
pub fn check_fee_map(map: &BTreeMap<u64, u64>) -> Result<(), NodeError> {
    let step = 1u64 << SMALLEST_MINIMUM_FEE_LOG2;
    let Some(mob) = map.get(&0) else {
        return Err(NodeError::BadFeeMap(
            "MOB (token 0) has no minimum fee: every node accepts MOB".into(),
        ));
    };
    if !ACCEPTABLE_MOB_FEES.contains(mob) {
        return Err(NodeError::BadFeeMap(format!(
            "MOB's minimum fee {mob} picoMOB is outside MobileCoin's acceptable range \
             ({} to {} picoMOB; the default is {MOB_MINIMUM_FEE})",
            ACCEPTABLE_MOB_FEES.start,
            ACCEPTABLE_MOB_FEES.end - 1
        )));
    }
    for (token, fee) in map {
        if *fee == 0 || fee % step != 0 {
            return Err(NodeError::BadFeeMap(format!(
                "token {token}'s minimum fee {fee} is not a non-zero multiple of {step} \
                 (MobileCoin's smallest minimum fee)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fee_map_is_valid() {
        check_fee_map(&NodeConfig::default().fee_map).unwrap();
        let config = NodeConfig::default().with_minimum_fee(1, 1024);
        check_fee_map(&config.fee_map).unwrap();
        assert_eq!(config.fee_map.get(&1), Some(&1024));
        assert_eq!(config.fee_map.get(&0), Some(&MOB_MINIMUM_FEE));
    }

    #[test]
    fn bad_fee_maps_are_refused_with_the_rule() {
        let bad = |map: BTreeMap<u64, u64>, words: &str| {
            let e = check_fee_map(&map).unwrap_err().to_string();
            assert!(e.contains(words), "{e:?} lacks {words:?}");
        };
        bad(BTreeMap::new(), "MOB (token 0) has no minimum fee");
        bad(
            BTreeMap::from([(1, 1024)]),
            "MOB (token 0) has no minimum fee",
        );
        bad(
            BTreeMap::from([(0, 9_984)]),
            "outside MobileCoin's acceptable range",
        );
        bad(
            BTreeMap::from([(0, 1_000_000_000_000)]),
            "outside MobileCoin's acceptable range",
        );
        bad(
            BTreeMap::from([(0, MOB_MINIMUM_FEE), (1, 0)]),
            "token 1's minimum fee 0 is not a non-zero multiple of 128",
        );
        bad(
            BTreeMap::from([(0, MOB_MINIMUM_FEE), (7, 1000)]),
            "token 7's minimum fee 1000",
        );
        bad(BTreeMap::from([(0, 10_001)]), "token 0's minimum fee 10001");
        // 79 × 128: the smallest MOB fee in range that is a multiple of 128.
        check_fee_map(&BTreeMap::from([(0, 10_112)])).unwrap();
    }
}
