//! `fog_view.FogViewAPI` over tonic.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use fog_api::fog_view::fog_view_api_server::{FogViewApi, FogViewApiServer};
use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    UnixSeconds,
};
use fog_enclave_api::errors::{SessionError, ViewEnclaveError};
use fog_enclave_api::view::HostCounters;
use fog_recovery_db::RecoveryDb;
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
}

/// The counters the host adds to an answer (the enclave vouches for everything else).
pub(crate) fn host_counters<D>(server: &ViewServer<D>) -> HostCounters {
    let status = server.status();
    HostCounters {
        last_known_block_count: status.last_known_block_count,
        last_known_block_cumulative_txo_count: status.last_known_cumulative_txo_count,
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
        // A router: no store answered, its table of held queries is full, or the query was
        // dropped.
        ViewEnclaveError::Unavailable => {
            Status::unavailable("no view store answered or the router is busy; try again")
        }
        ViewEnclaveError::RangeStore => Status::failed_precondition(e.to_string()),
        other => {
            tracing::error!("query failed: {other}");
            Status::internal("internal error")
        }
    }
}

#[tonic::async_trait]
impl<D: RecoveryDb> FogViewApi for ViewService<D> {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        // The client's IP address bounds how many sessions it can hold.
        let peer = request.remote_addr().map(|a| a.ip());
        let hello = request.into_inner().data;
        let data = self
            .server
            .enclave
            .auth(&hello, peer, UnixSeconds::now())
            .map_err(to_status)?;
        Ok(Response::new(AuthMessage { data }))
    }

    async fn query(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        // No recovery-DB work here: the enclave authenticates the frame (and its aad) first
        // and answers the events from its own copy, a bounded page at a time.
        let frame = request.into_inner();
        let host = host_counters(&self.server);
        let enclave = self.server.enclave.clone();
        let answer =
            tokio::task::spawn_blocking(move || enclave.query(frame, host, UnixSeconds::now()))
                .await
                .map_err(|_| Status::internal("internal error"))?
                .map_err(to_status)?;
        self.server.queries.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(answer))
    }
}
