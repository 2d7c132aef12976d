//! The follower's counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

    /// The counters in Prometheus' text format, each name prefixed with `prefix` (for example
    /// `fog_ingest_follower`).
    pub fn render(&self, prefix: &str) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 8] = [
            (
                "blocks_appended_total",
                "counter",
                "Blocks verified and appended.",
                load(&self.blocks_appended),
            ),
            (
                "tx_outs_appended_total",
                "counter",
                "TxOuts in the appended blocks.",
                load(&self.tx_outs_appended),
            ),
            (
                "batches_total",
                "counter",
                "Batches committed.",
                load(&self.batches),
            ),
            (
                "contradictions_total",
                "counter",
                "Answers refused: a fork or a block failing verification.",
                load(&self.contradictions),
            ),
            (
                "node_errors_total",
                "counter",
                "Calls to a ledger node that failed.",
                load(&self.node_errors),
            ),
            (
                "local_blocks",
                "gauge",
                "Blocks in the local ledger.",
                load(&self.local_blocks),
            ),
            (
                "node_blocks",
                "gauge",
                "The highest block count a node reported.",
                load(&self.node_blocks),
            ),
            (
                "caught_up",
                "gauge",
                "1 when the local ledger holds every block a node had.",
                u64::from(self.is_caught_up()),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}\n{prefix}_{name} {value}\n"
            ));
        }
        out
    }
}
