//! Prometheus metrics and the readiness endpoint, over a minimal HTTP/1.1 listener.
//!
//! `GET /metrics` answers the text format; `GET /ready` answers 200 when the key-image store
//! is at most `max_blocks_behind` blocks behind the ledger and 503 otherwise, with the number
//! of blocks behind in the body either way. No metric carries user data: only counts.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

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

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    ));
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    ));
}

/// The metrics in Prometheus' text format.
pub fn metrics_text(server: &LedgerServer) -> String {
    let m = server.metrics();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    counter(
        &mut out,
        "fog_ledger_key_image_requests_total",
        "CheckKeyImages calls answered.",
        get(&m.key_image_requests),
    );
    counter(
        &mut out,
        "fog_ledger_key_images_checked_total",
        "Key images checked.",
        get(&m.key_images),
    );
    let name = "fog_ledger_key_images_per_request";
    out.push_str(&format!(
        "# HELP {name} Key images per CheckKeyImages call.\n# TYPE {name} histogram\n"
    ));
    let mut cumulative = 0;
    for (bound, count) in KEY_IMAGE_BUCKETS.iter().zip(&m.key_image_hist) {
        cumulative += get(count);
        out.push_str(&format!("{name}_bucket{{le=\"{bound}\"}} {cumulative}\n"));
    }
    out.push_str(&format!(
        "{name}_bucket{{le=\"+Inf\"}} {cumulative}\n{name}_sum {}\n{name}_count {}\n",
        get(&m.key_images),
        get(&m.key_image_requests)
    ));
    counter(
        &mut out,
        "fog_ledger_get_outputs_requests_total",
        "GetOutputs calls answered.",
        get(&m.get_outputs),
    );
    counter(
        &mut out,
        "fog_ledger_outputs_requested_total",
        "Global indices asked for in GetOutputs calls.",
        get(&m.outputs_requested),
    );
    counter(
        &mut out,
        "fog_ledger_get_blocks_requests_total",
        "GetBlocks calls answered.",
        get(&m.get_blocks),
    );
    counter(
        &mut out,
        "fog_ledger_get_block_ids_requests_total",
        "GetBlockIds calls answered (attested block ids).",
        get(&m.get_block_ids),
    );
    counter(
        &mut out,
        "fog_ledger_get_tx_outs_requests_total",
        "GetTxOuts calls answered.",
        get(&m.get_tx_outs),
    );
    counter(
        &mut out,
        "fog_ledger_auths_total",
        "Attested handshakes completed.",
        get(&m.auths),
    );
    let name = "fog_ledger_request_errors_total";
    out.push_str(&format!(
        "# HELP {name} Calls refused or failed, by gRPC status.\n# TYPE {name} counter\n"
    ));
    for (code, a) in [
        ("invalid_argument", &m.invalid),
        ("unauthenticated", &m.unauthenticated),
        ("unavailable", &m.unavailable),
        ("internal", &m.internal),
    ] {
        out.push_str(&format!("{name}{{code=\"{code}\"}} {}\n", get(a)));
    }
    counter(
        &mut out,
        "fog_ledger_blocks_added_total",
        "Blocks whose key images were stored since start.",
        get(&m.blocks_added),
    );
    counter(
        &mut out,
        "fog_ledger_follow_errors_total",
        "Failed attempts to store the next block's key images.",
        get(&m.follow_errors),
    );
    match server.status() {
        Ok(s) => {
            let load = if s.capacity == 0 {
                0.0
            } else {
                s.key_images as f64 / s.capacity as f64
            };
            gauge(
                &mut out,
                "fog_ledger_store_blocks",
                "Blocks whose key images are in the store.",
                s.store.num_blocks,
            );
            gauge(
                &mut out,
                "fog_ledger_ledger_blocks",
                "Blocks in the ledger DB.",
                s.ledger_blocks,
            );
            gauge(
                &mut out,
                "fog_ledger_blocks_behind",
                "Ledger blocks the key-image store lacks.",
                s.blocks_behind(),
            );
            gauge(
                &mut out,
                "fog_ledger_store_key_images",
                "Key images in the store.",
                s.key_images,
            );
            gauge(
                &mut out,
                "fog_ledger_store_capacity",
                "Key images the store has room for.",
                s.capacity,
            );
            gauge(
                &mut out,
                "fog_ledger_store_load",
                "Key images in the store over its capacity.",
                format!("{load:.6}"),
            );
            gauge(
                &mut out,
                "fog_ledger_sessions",
                "Live attested client sessions.",
                s.sessions,
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: no status");
        }
    }
    out
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

/// Serves `GET /metrics` and `GET /ready` over plain HTTP/1.1 on `listener` until the task is
/// dropped. Any other request gets 404; requests larger than 8 KiB are cut off.
pub async fn serve_metrics(listener: TcpListener, server: Arc<LedgerServer>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            while len < buf.len() {
                match stream.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let request = String::from_utf8_lossy(&buf[..len]).into_owned();
            let (status, body) = if request.starts_with("GET /metrics ") {
                let s = Arc::clone(&server);
                match tokio::task::spawn_blocking(move || metrics_text(&s)).await {
                    Ok(body) => ("200 OK", body),
                    Err(_) => ("500 Internal Server Error", "internal error\n".into()),
                }
            } else if request.starts_with("GET /ready ") {
                let s = Arc::clone(&server);
                match tokio::task::spawn_blocking(move || readiness(&s)).await {
                    Ok((true, body)) => ("200 OK", body),
                    Ok((false, body)) => ("503 Service Unavailable", body),
                    Err(_) => ("500 Internal Server Error", "internal error\n".into()),
                }
            } else {
                ("404 Not Found", String::from("not found\n"))
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
