//! `fog_router.StoreAPI`: what a fog ledger answers ledger routers, beside its four services,
//! as a key-image store (usually of a block range, `LedgerServerConfig::key_image_blocks`).
//!
//! The router's handshake and check frames go into the enclave as they come; the enclave
//! checks the router's evidence (a fog ledger enclave under the deployment's trust anchor) and
//! answers with the store's key-image range, the blocks it verified and every key image's
//! result, sealed to the router. The host adds only the ledger's block count, as for clients:
//! a store too far behind it refuses (UNAVAILABLE), and the router counts it as down.

use std::sync::Arc;

use fog_api::fog_router::store_api_server::{StoreApi, StoreApiServer};
use fog_attest::wire::{AuthMessage, NonceMessage};
use fog_enclave_api::errors::{LedgerEnclaveError, PeerError};
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::{LedgerServer, LedgerServerError, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};

/// The store API over a shared [`LedgerServer`] whose enclave has router evidence
/// ([`LedgerServer::set_router_evidence`]); every call is refused until it has some.
#[derive(Clone, Debug)]
pub struct StoreService {
    server: Arc<LedgerServer>,
}

impl StoreService {
    /// Serves ledger routers for `server`.
    pub fn new(server: Arc<LedgerServer>) -> Self {
        Self { server }
    }

    /// The tonic service, with the client services' size limits.
    pub fn into_server(self) -> StoreApiServer<Self> {
        StoreApiServer::new(self)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// Router-facing errors: fixed messages, nothing secret.
    fn to_status(&self, e: &LedgerServerError) -> Status {
        match e {
            LedgerServerError::Enclave(LedgerEnclaveError::Peer(PeerError::Handshake)) => {
                tracing::debug!(error = %e, "router refused");
                Status::permission_denied("router handshake failed or its evidence was refused")
            }
            LedgerServerError::Enclave(LedgerEnclaveError::Peer(_)) => {
                tracing::debug!(error = %e, "router frame refused");
                Status::unauthenticated("unknown channel or frame refused; authenticate again")
            }
            other => crate::service::to_status(other, self.server.metrics()),
        }
    }
}

#[tonic::async_trait]
impl StoreApi for StoreService {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        let hello = request.into_inner().data;
        let server = Arc::clone(&self.server);
        let (_, reply) = tokio::task::spawn_blocking(move || server.router_accept(&hello))
            .await
            .map_err(|_| LedgerServerError::Task)
            .and_then(|r| r)
            .map_err(|e| self.to_status(&e))?;
        Ok(Response::new(AuthMessage { data: reply }))
    }

    async fn query(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        let server = Arc::clone(&self.server);
        let answer = tokio::task::spawn_blocking(move || {
            server.router_check(&frame.channel_id, frame.encode_to_vec())
        })
        .await
        .map_err(|_| LedgerServerError::Task)
        .and_then(|r| r)
        .map_err(|e| self.to_status(&e))?;
        let answer = NonceMessage::decode(answer.as_slice())
            .map_err(|_| self.to_status(&LedgerServerError::Task))?;
        Ok(Response::new(answer))
    }
}
