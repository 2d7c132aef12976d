//! `fog_view.FogViewAPI` over tonic.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use fog_api::fog_view::fog_view_api_server::{FogViewApi, FogViewApiServer};
use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    PeerKey, UnixSeconds,
};
use fog_enclave::{sessions::SessionError, view_enclave::ViewEnclaveError};
use fog_recovery_db::{FogUserEvent, RecoveryDb, UserEventId};
use fog_types::common::BlockRange;
use fog_types::view::{DecommissionedIngestInvocation, QueryRequestAad, QueryResponse, RngRecord};
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::ViewServer;

/// The gRPC service over a shared [`ViewServer`].
pub struct ViewService<D> {
    server: Arc<ViewServer<D>>,
}

impl<D: RecoveryDb> ViewService<D> {
    /// Serves queries for `server`.
    pub fn new(server: Arc<ViewServer<D>>) -> Self {
        Self { server }
    }

    /// The tonic service (request size capped at 4 MiB, as tonic's default).
    pub fn into_server(self) -> FogViewApiServer<Self> {
        FogViewApiServer::new(self)
    }

    /// The public part of an answer: counters and the user events after `since`.
    async fn base_response(&self, since: i64) -> Result<QueryResponse, Status> {
        // The processed count is read before the events: every block below it was written by
        // an invocation whose RNG record (an earlier event) the events read next will carry,
        // so an answer never counts blocks whose RNG it leaves out.
        let status = self.server.status();
        let (events, next) = self
            .server
            .db
            .search_user_events(UserEventId(since))
            .await
            .map_err(|e| {
                tracing::warn!("user events: {e}");
                if e.should_retry() {
                    Status::unavailable("recovery DB unavailable")
                } else {
                    Status::internal("internal error")
                }
            })?;
        let mut r = QueryResponse {
            highest_processed_block_count: status.highest_processed_block_count,
            highest_processed_block_signature_timestamp: status.highest_processed_block_timestamp,
            next_start_from_user_event_id: next.0,
            last_known_block_count: status.last_known_block_count,
            last_known_block_cumulative_txo_count: status.last_known_cumulative_txo_count,
            ..QueryResponse::default()
        };
        for e in events {
            match e {
                FogUserEvent::NewRngRecord(rec) => r.rngs.push(RngRecord {
                    ingest_invocation_id: rec.ingest_invocation_id.0,
                    pubkey: Some(rec.pubkey),
                    start_block: rec.start_block.0,
                }),
                FogUserEvent::DecommissionIngestInvocation {
                    id,
                    last_ingested_block,
                } => r
                    .decommissioned_ingest_invocations
                    .push(DecommissionedIngestInvocation {
                        ingest_invocation_id: id.0,
                        last_ingested_block: last_ingested_block.0,
                    }),
                FogUserEvent::MissingBlocks(range) => r
                    .missed_block_ranges
                    .push(BlockRange::new(range.start().0, range.end().0)),
            }
        }
        Ok(r)
    }
}

/// The one place an enclave error becomes a status: fixed, payload-free messages.
pub(crate) fn to_status(e: ViewEnclaveError) -> Status {
    match e {
        ViewEnclaveError::Session(SessionError::UnknownSession) => {
            Status::unauthenticated("unknown or expired session; authenticate again")
        }
        ViewEnclaveError::Session(SessionError::Handshake) => {
            Status::invalid_argument("handshake failed")
        }
        ViewEnclaveError::Session(SessionError::BadFrame) => {
            Status::invalid_argument("frame rejected (tampered, replayed or out of order)")
        }
        ViewEnclaveError::Session(SessionError::TooLarge) => {
            Status::invalid_argument("request too large")
        }
        ViewEnclaveError::Malformed => Status::invalid_argument("malformed query"),
        ViewEnclaveError::TooManyKeys => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!("query failed: {other}");
            Status::internal("internal error")
        }
    }
}

/// The client's IP address, which bounds how many sessions it can hold (`PeerKey`); a
/// transport without one (in-process tests) shares one budget.
fn peer_key<T>(request: &Request<T>) -> PeerKey {
    request
        .remote_addr()
        .map_or(PeerKey::UNKNOWN, |a| PeerKey::from_ip(a.ip()))
}

#[tonic::async_trait]
impl<D: RecoveryDb> FogViewApi for ViewService<D> {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        let peer = peer_key(&request);
        let hello = request.into_inner().data;
        let enclave = self.server.enclave.clone();
        let data = enclave
            .auth(&hello, peer, UnixSeconds::now())
            .map_err(to_status)?;
        Ok(Response::new(AuthMessage { data }))
    }

    async fn query(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        let aad = QueryRequestAad::decode(frame.aad.as_slice())
            .map_err(|_| Status::invalid_argument("malformed QueryRequestAAD"))?;
        let base = self.base_response(aad.start_from_user_event_id).await?;
        let enclave = self.server.enclave.clone();
        let answer =
            tokio::task::spawn_blocking(move || enclave.query(&frame, base, UnixSeconds::now()))
                .await
                .map_err(|_| Status::internal("internal error"))?
                .map_err(to_status)?;
        self.server.queries.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(answer))
    }
}
