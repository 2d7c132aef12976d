//! `fog_router.StoreAPI`: what a view server answers its routers, beside `FogViewAPI`.
//!
//! The router's handshake and query frames go into the enclave as they come; the enclave
//! checks the router's evidence (a view enclave under the deployment's trust anchor) and
//! answers with the store's range, processed count and every slot's result, sealed to the
//! router. The host adds only the last known block count, as for clients.

use std::sync::Arc;

use fog_api::fog_router::store_api_server::{StoreApi, StoreApiServer};
use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    UnixSeconds,
};
use fog_enclave_api::errors::{PeerError, ViewEnclaveError};
use fog_recovery_db::RecoveryDb;
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::service::host_counters;
use crate::ViewServer;

/// The store API over a shared [`ViewServer`] whose enclave takes routers (it was loaded with
/// a verifier of routers, and its router evidence is installed: `ViewClient::attest`).
pub struct StoreService<D> {
    server: Arc<ViewServer<D>>,
}

impl<D: RecoveryDb> StoreService<D> {
    /// Serves routers for `server`.
    pub fn new(server: Arc<ViewServer<D>>) -> Self {
        Self { server }
    }

    /// The tonic service (answers up to 64 MiB: 4096 keys over many partitions).
    pub fn into_server(self) -> StoreApiServer<Self> {
        StoreApiServer::new(self)
            .max_decoding_message_size(4 << 20)
            .max_encoding_message_size(64 << 20)
    }
}

/// Router-facing errors: fixed messages.
fn to_status(e: ViewEnclaveError) -> Status {
    match e {
        ViewEnclaveError::Peer(PeerError::Handshake) => {
            Status::permission_denied("router handshake failed or its evidence was refused")
        }
        ViewEnclaveError::Peer(_) => {
            Status::unauthenticated("unknown channel or frame refused; authenticate again")
        }
        other => crate::service::to_status(other),
    }
}

#[tonic::async_trait]
impl<D: RecoveryDb> StoreApi for StoreService<D> {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        let hello = request.into_inner().data;
        let (_, reply) = self
            .server
            .enclave
            .router_accept(&hello, UnixSeconds::now())
            .map_err(to_status)?;
        Ok(Response::new(AuthMessage { data: reply }))
    }

    async fn query(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        let host = host_counters(&self.server);
        let enclave = self.server.enclave.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let encoded = frame.encode_to_vec();
            enclave.router_query(&frame.channel_id, encoded, host, UnixSeconds::now())
        })
        .await
        .map_err(|_| Status::internal("internal error"))?
        .map_err(to_status)?;
        self.server
            .queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = NonceMessage::decode(answer.as_slice())
            .map_err(|_| Status::internal("internal error"))?;
        Ok(Response::new(answer))
    }
}
