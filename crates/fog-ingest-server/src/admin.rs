//! The admin gRPC API (`fog_ingest.IngestAdmin`) and the Prometheus metrics endpoint.

use std::sync::Arc;

use fog_api::fog_ingest::{
    ingest_admin_server::{IngestAdmin, IngestAdminServer},
    GetStatusRequest, IngestStatus as WireStatus, ReportLostIngressKeyRequest,
    ReportLostIngressKeyResponse, RotateEgressKeyRequest, SetRetiredRequest,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_recovery_db::{RecoveryDb, RecoveryDbError};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::Mutex,
};
use tonic::{Request, Response, Status};

use crate::{IngestError, IngestServer};

/// The one place an ingest error becomes a gRPC status: the detail is logged, the client gets
/// a fixed message.
fn to_status(e: &IngestError) -> Status {
    tracing::warn!("admin request failed: {e}");
    match e {
        IngestError::RecoveryDb(db) if db.should_retry() => {
            Status::unavailable("recovery DB unavailable")
        }
        IngestError::RecoveryDb(RecoveryDbError::UnknownIngressKey) => {
            Status::not_found("the recovery DB does not know this ingress key")
        }
        IngestError::KeyInUse => Status::failed_precondition(
            "this server still scans with this ingress key: retire it and let it pass its \
             expiry, or report it from another ingest server once this one is gone",
        ),
        IngestError::Busy => Status::unavailable("a block is being written; retry"),
        _ => Status::internal("internal error"),
    }
}

/// The admin service over a shared server.
pub struct AdminService<D: RecoveryDb> {
    server: Arc<Mutex<IngestServer<D>>>,
}

impl<D: RecoveryDb> AdminService<D> {
    /// Serves admin requests for `server`.
    pub fn new(server: Arc<Mutex<IngestServer<D>>>) -> Self {
        Self { server }
    }

    /// The tonic service.
    pub fn into_server(self) -> IngestAdminServer<Self> {
        IngestAdminServer::new(self)
    }

    async fn status(&self) -> Result<WireStatus, IngestError> {
        let server = self.server.lock().await;
        let s = server.status();
        let key = server.key_status().await?;
        Ok(WireStatus {
            next_block: s.next_block,
            ingress_public_key: s.ingress_public_key.to_vec(),
            egress_public_key: s.egress.public_key.clone(),
            ingest_invocation_id: s.invocation,
            map_len: s.map_load.0,
            map_capacity: s.map_load.1,
            retired: key.retired,
            pubkey_expiry: key.pubkey_expiry.0,
            ledger_block_count: server.ledger_block_count()?,
        })
    }
}

#[tonic::async_trait]
impl<D: RecoveryDb> IngestAdmin for AdminService<D> {
    async fn get_status(
        &self,
        _: Request<GetStatusRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        self.status()
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn rotate_egress_key(
        &self,
        _: Request<RotateEgressKeyRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        self.server
            .lock()
            .await
            .rotate_egress_key()
            .await
            .map_err(|e| to_status(&e))?;
        self.status()
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn set_retired(
        &self,
        request: Request<SetRetiredRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let retired = request.into_inner().retired;
        self.server
            .lock()
            .await
            .set_retired(retired)
            .await
            .map_err(|e| to_status(&e))?;
        self.status()
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }

    async fn report_lost_ingress_key(
        &self,
        request: Request<ReportLostIngressKeyRequest>,
    ) -> Result<Response<ReportLostIngressKeyResponse>, Status> {
        let bytes = request.into_inner().key;
        let key = CompressedRistrettoPublic::from_bytes(&bytes).map_err(|_| {
            Status::invalid_argument(format!(
                "an ingress key is 32 bytes, this one is {}",
                bytes.len()
            ))
        })?;
        self.server
            .lock()
            .await
            .report_lost_ingress_key(&key)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ReportLostIngressKeyResponse {}))
    }
}

/// The metrics in Prometheus' text format.
pub async fn metrics_text<D: RecoveryDb>(server: &Mutex<IngestServer<D>>) -> String {
    let server = server.lock().await;
    let s = server.status();
    let (blocks, txouts) = server.processed();
    let ledger = server.ledger_block_count().unwrap_or(0);
    let lag = ledger.saturating_sub(s.next_block);
    let load = if s.map_load.1 == 0 {
        0.0
    } else {
        s.map_load.0 as f64 / s.map_load.1 as f64
    };
    format!(
        "# HELP fog_ingest_blocks_total Blocks ingested since start.\n\\
         # TYPE fog_ingest_blocks_total counter\n\\
         fog_ingest_blocks_total {blocks}\n\\
         # HELP fog_ingest_txouts_total TxOuts ingested since start.\n\\
         # TYPE fog_ingest_txouts_total counter\n\\
         fog_ingest_txouts_total {txouts}\n\\
         # HELP fog_ingest_next_block The next block to ingest.\n\\
         # TYPE fog_ingest_next_block gauge\n\\
         fog_ingest_next_block {}\n\\
         # HELP fog_ingest_lag_blocks Ledger blocks not yet ingested.\n\\
         # TYPE fog_ingest_lag_blocks gauge\n\\
         fog_ingest_lag_blocks {lag}\n\\
         # HELP fog_ingest_map_load RNG store entries over capacity.\n\\
         # TYPE fog_ingest_map_load gauge\n\\
         fog_ingest_map_load {load:.6}\n",
        s.next_block
    )
}

/// Serves `GET /metrics` over plain HTTP/1.1 on `listener` until the task is dropped. Any
/// other request gets 404; requests larger than 8 KiB are cut off.
pub async fn serve_metrics<D: RecoveryDb>(
    listener: TcpListener,
    server: Arc<Mutex<IngestServer<D>>>,
) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let server = server.clone();
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
            let request = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                ("200 OK", metrics_text(&server).await)
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
