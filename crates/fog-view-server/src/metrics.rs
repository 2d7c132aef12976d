//! Metrics and readiness, served by `fog_host` (`/metrics`, `/ready`, gRPC health). Ready
//! means the store has caught up with the recovery DB as of the last poll.

use fog_host::{BoxFuture, Observation, Observe, Readiness};
use fog_recovery_db::RecoveryDb;

use crate::ViewServer;

/// The prefix of this service's metric names.
pub const PREFIX: &str = "fog_view";

/// The metrics and readiness of `server` (names without the prefix).
pub fn observation<D: RecoveryDb>(server: &ViewServer<D>) -> Observation {
    let s = server.status();
    let (queries, keys) = server.counters();
    let capacity = server.capacity().max(1);
    let load = s.records as f64 / capacity as f64;
    let blocks = server.blocks();
    let lag = s
        .last_known_block_count
        .min(blocks.end_block)
        .saturating_sub(s.highest_processed_block_count);
    let readiness = if s.caught_up {
        Readiness::ready(format!(
            "{} blocks processed",
            s.highest_processed_block_count
        ))
    } else {
        Readiness::not_ready(format!("loading: {lag} blocks behind"))
    };
    let mut o = Observation::new(readiness);
    o.counter("queries", "Queries answered.", queries)
        .counter("search_keys", "Search keys looked up.", keys)
        .gauge("records", "Records in the store.", s.records)
        .gauge_f("store_load", "Records over store capacity.", load)
        .gauge(
            "processed_block_count",
            "Blocks fully loaded.",
            s.highest_processed_block_count,
        )
        .gauge(
            "lag_blocks",
            "Blocks of the store's range the recovery DB has that the store does not.",
            lag,
        )
        .gauge(
            "range_start_block",
            "The first block of the store's range.",
            blocks.start_block,
        )
        .gauge(
            "range_end_block",
            "One past the last block of the store's range (the largest gauge value: open-ended).",
            blocks.end_block,
        );
    o
}

/// The metrics text of `server`, names prefixed `fog_view_`.
pub fn metrics_text<D: RecoveryDb>(server: &ViewServer<D>) -> String {
    fog_host::encode(PREFIX, &observation(server).metrics)
}

impl<D: RecoveryDb> Observe for ViewServer<D> {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move { observation(self) })
    }
}
