//! The Prometheus endpoint: `GET /metrics` in the text format.

use std::sync::Arc;

use fog_recovery_db::RecoveryDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::ViewServer;

/// The metrics text of `server`.
pub fn metrics_text<D: RecoveryDb>(server: &ViewServer<D>) -> String {
    let s = server.status();
    let (queries, keys) = server.counters();
    let capacity = server.enclave().capacity().max(1);
    let load = s.records as f64 / capacity as f64;
    let lag = s
        .last_known_block_count
        .saturating_sub(s.highest_processed_block_count);
    format!(
        "# HELP fog_view_queries_total Queries answered.\n\
         # TYPE fog_view_queries_total counter\n\
         fog_view_queries_total {queries}\n\
         # HELP fog_view_search_keys_total Search keys looked up.\n\
         # TYPE fog_view_search_keys_total counter\n\
         fog_view_search_keys_total {keys}\n\
         # HELP fog_view_records Records in the store.\n\
         # TYPE fog_view_records gauge\n\
         fog_view_records {}\n\
         # HELP fog_view_store_load Records over store capacity.\n\
         # TYPE fog_view_store_load gauge\n\
         fog_view_store_load {load:.6}\n\
         # HELP fog_view_processed_block_count Blocks fully loaded.\n\
         # TYPE fog_view_processed_block_count gauge\n\
         fog_view_processed_block_count {}\n\
         # HELP fog_view_lag_blocks Blocks the recovery DB has that the store does not.\n\
         # TYPE fog_view_lag_blocks gauge\n\
         fog_view_lag_blocks {lag}\n",
        s.records, s.highest_processed_block_count
    )
}

/// Serves `GET /metrics` (and `GET /ready`: 200 when caught up, 503 with the lag otherwise)
/// until the task is dropped.
pub async fn serve_metrics<D: RecoveryDb>(listener: TcpListener, server: Arc<ViewServer<D>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
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
            let request = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                ("200 OK", metrics_text(&server))
            } else if request.starts_with("GET /ready ") {
                let s = server.status();
                let lag = s
                    .last_known_block_count
                    .saturating_sub(s.highest_processed_block_count);
                if s.caught_up {
                    (
                        "200 OK",
                        format!(
                            "ready: {} blocks processed\n",
                            s.highest_processed_block_count
                        ),
                    )
                } else {
                    (
                        "503 Service Unavailable",
                        format!("loading: {lag} blocks behind\n"),
                    )
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
