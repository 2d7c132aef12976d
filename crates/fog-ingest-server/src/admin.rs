//! The admin gRPC API (`fog_ingest.IngestAdmin`), and ingest's metrics and readiness
//! (served by `fog_host`).
//!
//! Untrusted side. Access ([`AdminAccess`], from `fog_host::admin`): the API rotates keys,
//! retires the ingress key and reports keys lost, so it listens on loopback only unless a
//! bearer token guards it.
//!
//! Neither the status nor the metrics carry the RNG store's exact entry count: the enclave
//! gives the host only its load in steps of 10 %
//! ([`fog_enclave_api::ingest::coarse_load_percent`]).

use std::sync::Arc;

use fog_api::fog_ingest::{
    ingest_admin_server::{IngestAdmin, IngestAdminServer},
    ActivateRequest, BlockRange as WireRange, GetIngressKeyRecordsRequest,
    GetIngressKeyRecordsResponse, GetMissedBlockRangesRequest, GetMissedBlockRangesResponse,
    GetStatusRequest, IngestStatus as WireStatus, IngressKeyRecord as WireKeyRecord,
    NewKeysRequest, ReportLostIngressKeyRequest, ReportLostIngressKeyResponse,
    RotateEgressKeyRequest, SetPeersRequest, SetPubkeyExpiryWindowRequest, SetRetiredRequest,
    SyncKeysFromRemoteRequest,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave_api::errors::{IngestError as EnclaveError, PeerError};
use fog_host::{BoxFuture, Observation, Observe, Readiness};
use fog_recovery_db::{BlockIndex, IngressPublicKeyFilters, RecoveryDb, RecoveryDbError};
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

pub use fog_host::admin::{AdminAccess, AdminError, AdminToken};

use crate::server::Mode;
use crate::{IngestError, IngestServer};

/// The one place an ingest error becomes a gRPC status: the detail is logged, the client gets
/// a fixed message, or one that names only public things (a peer's URI, an ingress public
/// key, a block number).
fn to_status(e: &IngestError) -> Status {
    tracing::warn!("admin request failed: {e}");
    match e {
        // A call that did not go through the enclave boundary is this server's fault, and
        // its detail stays in the log.
        IngestError::Peer(PeerError::Boundary(_))
        | IngestError::Enclave(EnclaveError::Boundary(_))
        | IngestError::PeerEvidence(_) => Status::internal("internal error"),
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
        IngestError::Active
        | IngestError::Idle
        | IngestError::KeyRetired(_)
        | IngestError::KeyLost(_)
        | IngestError::PeerActive(_)
        | IngestError::RetireTookEffect(_)
        | IngestError::NoPeerLink => Status::failed_precondition(e.to_string()),
        IngestError::BadWindow | IngestError::BadPeerUri(_) => {
            Status::invalid_argument(e.to_string())
        }
        IngestError::PeerUnreachable { .. } | IngestError::Peer(_) => {
            Status::unavailable(e.to_string())
        }
        _ => Status::internal("internal error"),
    }
}

/// The key a `ReportLostIngressKey` call names: 32 bytes, else INVALID_ARGUMENT (which says
/// only the length). Public for the fuzz targets (`fuzz/`); not part of the API.
#[doc(hidden)]
pub fn lost_ingress_key(
    request: &ReportLostIngressKeyRequest,
) -> Result<CompressedRistrettoPublic, Status> {
    CompressedRistrettoPublic::from_bytes(&request.key).map_err(|_| {
        Status::invalid_argument(format!(
            "an ingress key is 32 bytes, this one is {}",
            request.key.len()
        ))
    })
}

/// The first block and the filters of a `GetIngressKeyRecords` call (every value is
/// accepted). Public for the fuzz targets (`fuzz/`); not part of the API.
#[doc(hidden)]
pub fn key_records_query(
    request: &GetIngressKeyRecordsRequest,
) -> (BlockIndex, IngressPublicKeyFilters) {
    (
        BlockIndex(request.start_block_at_least),
        IngressPublicKeyFilters {
            should_include_lost_keys: request.should_include_lost_keys,
            should_include_retired_keys: request.should_include_retired_keys,
            should_only_include_unexpired_keys: request.should_only_include_unexpired_keys,
        },
    )
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

    /// The tonic service, behind `access`.
    pub fn into_server(
        self,
        access: AdminAccess,
    ) -> tonic::service::interceptor::InterceptedService<IngestAdminServer<Self>, AdminAccess> {
        IngestAdminServer::with_interceptor(self, access)
    }

    async fn status(&self) -> Result<WireStatus, IngestError> {
        let server = self.server.lock().await;
        let s = server.status();
        let key = server.key_status().await?;
        let c = server.counters();
        Ok(WireStatus {
            next_block: s.next_block,
            ingress_public_key: s.ingress_public_key.to_vec(),
            egress_public_key: s.egress.public_key.clone(),
            ingest_invocation_id: s.invocation.unwrap_or(0),
            map_capacity: s.map_capacity,
            map_load_percent: u32::from(s.map_load_percent),
            retired: key.is_some_and(|k| k.retired),
            pubkey_expiry: key.map_or(0, |k| k.pubkey_expiry.0),
            ledger_block_count: server.ledger_block_count()?,
            mode: crate::cluster::wire_mode(s.mode),
            peers: server.peers().to_vec(),
            pubkey_expiry_window: server.config().pubkey_expiry_window,
            key_registered: key.is_some(),
            lost: key.is_some_and(|k| k.lost),
            takeovers: c.takeovers,
            fenced: c.fenced,
            keys_received: c.keys_received,
            keys_sent: c.keys_sent,
        })
    }

    async fn answer(&self, done: Result<(), IngestError>) -> Result<Response<WireStatus>, Status> {
        done.map_err(|e| to_status(&e))?;
        self.status()
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }
}

#[tonic::async_trait]
impl<D: RecoveryDb> IngestAdmin for AdminService<D> {
    async fn get_status(
        &self,
        _: Request<GetStatusRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        self.answer(Ok(())).await
    }

    async fn rotate_egress_key(
        &self,
        _: Request<RotateEgressKeyRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let done = self.server.lock().await.rotate_egress_key().await;
        self.answer(done).await
    }

    async fn set_retired(
        &self,
        request: Request<SetRetiredRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let retired = request.into_inner().retired;
        let done = self.server.lock().await.set_retired(retired).await;
        self.answer(done).await
    }

    async fn report_lost_ingress_key(
        &self,
        request: Request<ReportLostIngressKeyRequest>,
    ) -> Result<Response<ReportLostIngressKeyResponse>, Status> {
        let key = lost_ingress_key(&request.into_inner())?;
        self.server
            .lock()
            .await
            .report_lost_ingress_key(&key)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(ReportLostIngressKeyResponse {}))
    }

    async fn activate(&self, _: Request<ActivateRequest>) -> Result<Response<WireStatus>, Status> {
        let done = crate::cluster::activate(&self.server).await;
        self.answer(done).await
    }

    async fn new_keys(&self, _: Request<NewKeysRequest>) -> Result<Response<WireStatus>, Status> {
        let done = self.server.lock().await.new_keys();
        self.answer(done).await
    }

    async fn set_peers(
        &self,
        request: Request<SetPeersRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let peers = request.into_inner().peers;
        for p in &peers {
            crate::cluster::check_peer_uri(p).map_err(|e| to_status(&e))?;
        }
        self.server.lock().await.set_peers(peers);
        self.answer(Ok(())).await
    }

    async fn sync_keys_from_remote(
        &self,
        request: Request<SyncKeysFromRemoteRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let peer = request.into_inner().peer;
        let done = match crate::cluster::check_peer_uri(&peer) {
            Ok(()) => crate::cluster::pull_key(&self.server, &peer).await,
            Err(e) => Err(e),
        };
        self.answer(done).await
    }

    async fn set_pubkey_expiry_window(
        &self,
        request: Request<SetPubkeyExpiryWindowRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let window = request.into_inner().window;
        let done = self.server.lock().await.set_pubkey_expiry_window(window);
        self.answer(done).await
    }

    async fn get_missed_block_ranges(
        &self,
        _: Request<GetMissedBlockRangesRequest>,
    ) -> Result<Response<GetMissedBlockRangesResponse>, Status> {
        let ranges = {
            let server = self.server.lock().await;
            server.recovery_db().get_missed_block_ranges().await
        }
        .map_err(|e| to_status(&IngestError::RecoveryDb(e)))?;
        Ok(Response::new(GetMissedBlockRangesResponse {
            ranges: ranges
                .into_iter()
                .map(|r| WireRange {
                    start: r.start().0,
                    end: r.end().0,
                })
                .collect(),
        }))
    }

    async fn get_ingress_key_records(
        &self,
        request: Request<GetIngressKeyRecordsRequest>,
    ) -> Result<Response<GetIngressKeyRecordsResponse>, Status> {
        let (start, filters) = key_records_query(&request.into_inner());
        let records = {
            let server = self.server.lock().await;
            server
                .recovery_db()
                .get_ingress_key_records(start, &filters)
                .await
        }
        .map_err(|e| to_status(&IngestError::RecoveryDb(e)))?;
        Ok(Response::new(GetIngressKeyRecordsResponse {
            records: records
                .into_iter()
                .map(|k| WireKeyRecord {
                    key: k.key.0.to_vec(),
                    start_block: k.status.start_block.0,
                    pubkey_expiry: k.status.pubkey_expiry.0,
                    retired: k.status.retired,
                    lost: k.status.lost,
                    has_last_scanned_block: k.last_scanned_block.is_some(),
                    last_scanned_block: k.last_scanned_block.map_or(0, |b| b.0),
                })
                .collect(),
        }))
    }
}

/// The prefix of ingest's metric names.
pub const PREFIX: &str = "fog_ingest";

/// The metrics and readiness of `server` (names without the prefix). Ready means: active,
/// every block of the ledger ingested; idle, always (an idle peer can take over).
pub async fn observation<D: RecoveryDb>(server: &Mutex<IngestServer<D>>) -> Observation {
    let server = server.lock().await;
    let s = server.status();
    let (blocks, txouts) = server.processed();
    let ledger = server.ledger_block_count().unwrap_or(0);
    let c = server.counters();
    let workers = server.workers();
    drop(server);
    let lag = ledger.saturating_sub(s.next_block);
    // An idle peer is a healthy part of a cluster: it holds the key and can take over.
    let readiness = match s.mode {
        Mode::Idle => Readiness::ready("idle: holds the key, ready to take over"),
        Mode::Active if lag == 0 => {
            Readiness::ready(format!("ingested every block of the ledger ({ledger})"))
        }
        Mode::Active => Readiness::not_ready(format!("{lag} ledger blocks not yet ingested")),
    };
    let mut o = Observation::new(readiness);
    o.counter("blocks", "Blocks ingested since start.", blocks)
        .counter("txouts", "TxOuts ingested since start.", txouts)
        .counter(
            "takeovers",
            "Times this server took its key over from a silent active server.",
            c.takeovers,
        )
        .counter(
            "fenced",
            "Times another server took this server's key over and it went idle.",
            c.fenced,
        )
        .counter(
            "keys_received",
            "Ingress keys received from peer enclaves.",
            c.keys_received,
        )
        .counter(
            "keys_sent",
            "Ingress keys sent to peer enclaves.",
            c.keys_sent,
        )
        .gauge(
            "active",
            "1 while this server is active (scans and publishes), 0 while idle.",
            u64::from(s.mode == Mode::Active),
        )
        .gauge(
            "worker_threads",
            "Threads lent to the enclave for its per-TxOut public-key work.",
            workers.map_or(0, |w| u64::from(w.lent)),
        )
        .counter(
            "worker_tasks",
            "Tasks of public-key work the lent threads ran (the rest ran on the ingesting thread).",
            workers.map_or(0, |w| w.tasks),
        )
        .gauge("next_block", "The next block to ingest.", s.next_block)
        .gauge("lag_blocks", "Ledger blocks not yet ingested.", lag)
        .gauge("map_capacity", "RNG store capacity.", s.map_capacity)
        .gauge(
            "map_load_percent",
            "RNG store load in steps of 10 percent, rounded down.",
            u64::from(s.map_load_percent),
        );
    o
}

/// The metrics in Prometheus' text format, names prefixed `fog_ingest_`.
pub async fn metrics_text<D: RecoveryDb>(server: &Mutex<IngestServer<D>>) -> String {
    fog_host::encode(PREFIX, &observation(server).await.metrics)
}

/// Ingest as `fog_host` observes it.
pub struct IngestObserver<D: RecoveryDb>(pub Arc<Mutex<IngestServer<D>>>);

impl<D: RecoveryDb> Observe for IngestObserver<D> {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(observation(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fog_enclave_api::EnclaveError as Boundary;
    use tonic::Code;

    #[test]
    fn a_failed_enclave_call_is_internal_and_says_nothing_more() {
        for e in [
            IngestError::Peer(PeerError::Boundary(Boundary::Malformed)),
            IngestError::Peer(PeerError::Boundary(Boundary::Unsupported)),
            IngestError::Enclave(EnclaveError::Boundary(Boundary::Internal)),
            IngestError::Enclave(EnclaveError::Storage),
            IngestError::PeerEvidence(fog_attest::Error::KeyGeneration),
        ] {
            let status = to_status(&e);
            assert_eq!(status.code(), Code::Internal, "{e}");
            assert_eq!(status.message(), "internal error", "{e}");
        }
        // A peer's refusal or absence is still a peer's.
        let status = to_status(&IngestError::Peer(PeerError::Handshake));
        assert_eq!(status.code(), Code::Unavailable);
    }
}
