//! The follower's counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fog_host::{BoxFuture, Observation, Observe, Readiness};

/// What the follower did, for metrics and readiness. Counters only grow; the gauges say
/// where the ledger stands.
#[derive(Debug, Default)]
pub struct FollowerStats {
    /// Blocks verified and appended.
    pub blocks_appended: AtomicU64,
    /// TxOuts in those blocks.
    pub tx_outs_appended: AtomicU64,
    /// Batches committed (one write transaction each).
    pub batches: AtomicU64,
    /// Answers refused because the node contradicted the chain held (a fork) or sent a block
    /// that fails verification.
    pub contradictions: AtomicU64,
    /// Calls to a node that failed (unreachable, timed out, an error status).
    pub node_errors: AtomicU64,
    /// Gauge: blocks in the local ledger.
    pub local_blocks: AtomicU64,
    /// Gauge: the highest block count a node has reported.
    pub node_blocks: AtomicU64,
    caught_up: AtomicBool,
}

impl FollowerStats {
    /// Whether the last round ended with the local ledger holding every block a node had.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Blocks the nodes have reported that the local ledger does not hold yet.
    pub fn blocks_behind(&self) -> u64 {
        self.node_blocks
            .load(Ordering::Relaxed)
            .saturating_sub(self.local_blocks.load(Ordering::Relaxed))
    }

    pub(crate) fn set_caught_up(&self, caught_up: bool) {
        self.caught_up.store(caught_up, Ordering::Relaxed);
    }

    pub(crate) fn record_batch(&self, blocks: u64, tx_outs: u64, local: u64) {
        self.blocks_appended.fetch_add(blocks, Ordering::Relaxed);
        self.tx_outs_appended.fetch_add(tx_outs, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.local_blocks.store(local, Ordering::Relaxed);
    }

    /// The counters as metrics (names start with `follower_`), ready when caught up.
    pub fn observation(&self) -> Observation {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (local, nodes) = (load(&self.local_blocks), load(&self.node_blocks));
        let readiness = if self.is_caught_up() {
            Readiness::ready(format!("the ledger copy holds {local} blocks"))
        } else {
            Readiness::not_ready(format!(
                "the ledger copy holds {local} blocks; the nodes have {nodes}"
            ))
        };
        let mut o = Observation::new(readiness);
        o.counter(
            "follower_blocks_appended",
            "Blocks verified and appended to the ledger copy.",
            load(&self.blocks_appended),
        )
        .counter(
            "follower_tx_outs_appended",
            "TxOuts in the appended blocks.",
            load(&self.tx_outs_appended),
        )
        .counter(
            "follower_batches",
            "Batches committed.",
            load(&self.batches),
        )
        .counter(
            "follower_contradictions",
            "Node answers refused: a fork, or a block failing verification.",
            load(&self.contradictions),
        )
        .counter(
            "follower_node_errors",
            "Calls to a ledger node that failed.",
            load(&self.node_errors),
        )
        .gauge("follower_local_blocks", "Blocks in the ledger copy.", local)
        .gauge(
            "follower_node_blocks",
            "The highest block count a node reported.",
            nodes,
        )
        .gauge(
            "follower_caught_up",
            "1 when the copy holds every block a node had.",
            u64::from(self.is_caught_up()),
        );
        o
    }
}

impl Observe for FollowerStats {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move { self.observation() })
    }
}
