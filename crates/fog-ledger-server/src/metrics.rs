//! Prometheus metrics and readiness, served by `fog_host` (`/metrics`, `/ready`, gRPC health).
//!
//! Ready means the key-image store is at most `max_blocks_behind` blocks behind the ledger;
//! the detail says how far behind either way. A ledger router is ready when its own enclave's
//! chain is, and some key-image store from block 0 answers (`fog_router::Stores`); its
//! metrics add those of its stores. No metric carries user data: only counts.

use std::sync::atomic::{AtomicU64, Ordering};

use fog_host::{BoxFuture, Observation, Observe, Readiness, Value};

use crate::LedgerServer;

/// Upper bounds of the key-images-per-request histogram.
pub const KEY_IMAGE_BUCKETS: [u64; 6] = [1, 10, 100, 500, 1000, 4096];

/// Request counters, updated by the services.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `CheckKeyImages` calls answered.
    pub key_image_requests: AtomicU64,
    /// Key images in those calls.
    pub key_images: AtomicU64,
    /// Calls with at most `KEY_IMAGE_BUCKETS[i]` key images (not cumulative here).
    key_image_hist: [AtomicU64; KEY_IMAGE_BUCKETS.len()],
    /// `GetOutputs` calls answered.
    pub get_outputs: AtomicU64,
    /// Indices in those calls.
    pub outputs_requested: AtomicU64,
    /// `GetBlocks` calls answered.
    pub get_blocks: AtomicU64,
    /// `GetBlockIds` calls answered.
    pub get_block_ids: AtomicU64,
    /// `GetTxOuts` calls answered.
    pub get_tx_outs: AtomicU64,
    /// `Auth` handshakes completed.
    pub auths: AtomicU64,
    /// Calls refused with INVALID_ARGUMENT.
    pub invalid: AtomicU64,
    /// Calls refused with UNAUTHENTICATED.
    pub unauthenticated: AtomicU64,
    /// Calls refused with UNAVAILABLE.
    pub unavailable: AtomicU64,
    /// Calls failed with INTERNAL.
    pub internal: AtomicU64,
    /// Blocks whose key images the follower stored.
    pub blocks_added: AtomicU64,
    /// Follower turns that failed.
    pub follow_errors: AtomicU64,
    /// Key-image checks answered to ledger routers (their probes included).
    pub router_checks: AtomicU64,
}

impl Metrics {
    /// Counts one answered `CheckKeyImages` call of `n` key images.
    pub fn record_key_images(&self, n: usize) {
        self.key_image_requests.fetch_add(1, Ordering::Relaxed);
        self.key_images.fetch_add(n as u64, Ordering::Relaxed);
        let slot = KEY_IMAGE_BUCKETS
            .iter()
            .position(|&b| n as u64 <= b)
            .unwrap_or(KEY_IMAGE_BUCKETS.len() - 1);
        self.key_image_hist[slot].fetch_add(1, Ordering::Relaxed);
    }
}

/// The metrics and readiness of `server` (names without the `fog_ledger` prefix).
pub fn observation(server: &LedgerServer) -> Observation {
    let m = server.metrics();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (ready, detail) = readiness(server);
    let mut o = Observation::new(Readiness {
        ready,
        detail: detail.trim_end().to_string(),
    });
    o.counter(
        "key_image_requests",
        "CheckKeyImages calls answered.",
        get(&m.key_image_requests),
    )
    .counter(
        "key_images_checked",
        "Key images checked.",
        get(&m.key_images),
    )
    .push(
        "key_images_per_request",
        "Key images per CheckKeyImages call.",
        Value::Histogram {
            buckets: KEY_IMAGE_BUCKETS
                .iter()
                .zip(&m.key_image_hist)
                .map(|(bound, n)| (*bound as f64, get(n)))
                .collect(),
            sum: get(&m.key_images) as f64,
            count: get(&m.key_image_requests),
        },
    )
    .counter(
        "get_outputs_requests",
        "GetOutputs calls answered.",
        get(&m.get_outputs),
    )
    .counter(
        "outputs_requested",
        "Global indices asked for in GetOutputs calls.",
        get(&m.outputs_requested),
    )
    .counter(
        "get_blocks_requests",
        "GetBlocks calls answered.",
        get(&m.get_blocks),
    )
    .counter(
        "get_block_ids_requests",
        "GetBlockIds calls answered (attested block ids).",
        get(&m.get_block_ids),
    )
    .counter(
        "get_tx_outs_requests",
        "GetTxOuts calls answered.",
        get(&m.get_tx_outs),
    )
    .counter("auths", "Attested handshakes completed.", get(&m.auths))
    .push(
        "request_errors",
        "Calls refused or failed, by gRPC status.",
        Value::Counters(
            "code",
            vec![
                ("invalid_argument", get(&m.invalid)),
                ("unauthenticated", get(&m.unauthenticated)),
                ("unavailable", get(&m.unavailable)),
                ("internal", get(&m.internal)),
            ],
        ),
    )
    .counter(
        "blocks_added",
        "Blocks whose key images were stored since start.",
        get(&m.blocks_added),
    )
    .counter(
        "follow_errors",
        "Failed attempts to store the next block's key images.",
        get(&m.follow_errors),
    )
    .counter(
        "router_checks",
        "Key-image checks answered to ledger routers (probes included).",
        get(&m.router_checks),
    );
    if let Ok(blocks) = server.key_image_blocks() {
        o.gauge(
            "key_image_range_start_block",
            "The first block whose key images the store keeps.",
            blocks.start_block,
        )
        .gauge(
            "key_image_range_end_block",
            "One past the last block whose key images the store keeps (the largest gauge \
             value: open-ended).",
            blocks.end_block,
        );
    }
    match server.status() {
        Ok(s) => {
            let load = if s.capacity == 0 {
                0.0
            } else {
                s.key_images as f64 / s.capacity as f64
            };
            o.gauge(
                "store_blocks",
                "Blocks whose key images are in the store.",
                s.store.num_blocks,
            )
            .gauge("ledger_blocks", "Blocks in the ledger DB.", s.ledger_blocks)
            .gauge(
                "blocks_behind",
                "Ledger blocks the key-image store lacks.",
                s.blocks_behind(),
            )
            .gauge("store_key_images", "Key images in the store.", s.key_images)
            .gauge(
                "store_capacity",
                "Key images the store has room for.",
                s.capacity,
            )
            .gauge_f(
                "store_load",
                "Key images in the store over its capacity.",
                load,
            )
            .gauge(
                "sessions",
                "Live attested client sessions.",
                s.sessions as u64,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: no status");
        }
    }
    if let Some(router) = server.router() {
        o.merge(router.observation());
    }
    o
}

/// The metrics in Prometheus' text format, names prefixed `fog_ledger_`.
pub fn metrics_text(server: &LedgerServer) -> String {
    fog_host::encode(PREFIX, &observation(server).metrics)
}

/// The prefix of this service's metric names.
pub const PREFIX: &str = "fog_ledger";

impl Observe for LedgerServer {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move { observation(self) })
    }
}

/// The readiness answer: (ready, body).
pub fn readiness(server: &LedgerServer) -> (bool, String) {
    match server.status() {
        Ok(s) => {
            let behind = s.blocks_behind();
            let max = server.config().max_blocks_behind;
            if behind <= max {
                (
                    true,
                    format!(
                        "ready: the key-image store holds {} of {} blocks ({behind} behind)\n",
                        s.store.num_blocks, s.ledger_blocks
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "not ready: the key-image store is {behind} blocks behind the ledger \
                         ({} of {}; at most {max} allowed)\n",
                        s.store.num_blocks, s.ledger_blocks
                    ),
                )
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: no status");
            (false, "not ready: status unavailable\n".into())
        }
    }
}
