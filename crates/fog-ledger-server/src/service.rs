//! The four gRPC services over a [`LedgerServer`] (and the store API for ledger routers), the
//! one error-to-status function, and the server loop.

use std::{future::Future, sync::Arc};

use fog_api::fog_ledger::{
    fog_block_api_server::{FogBlockApi, FogBlockApiServer},
    fog_key_image_api_server::{FogKeyImageApi, FogKeyImageApiServer},
    fog_merkle_proof_api_server::{FogMerkleProofApi, FogMerkleProofApiServer},
    fog_untrusted_tx_out_api_server::{FogUntrustedTxOutApi, FogUntrustedTxOutApiServer},
    BlockRequest, BlockResponse, TxOutRequest, TxOutResponse,
};
use fog_attest::wire::{AuthMessage, NonceMessage};
use fog_enclave_api::errors::{LedgerEnclaveError, PeerError, SessionError};
use std::sync::atomic::Ordering;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::{metrics::Metrics, LedgerServer, LedgerServerError};

/// Largest request the services decode: 2 MiB (the enclave opens frames up to 1 MiB; 4096
/// key images are about 160 KiB).
pub const MAX_REQUEST_BYTES: usize = 2 << 20;
/// Largest response the services encode: 16 MiB (2000 outputs with proofs are about 4 MiB;
/// clients raise their decoding limit to match).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// MobileCoin's `TimestampResultCode::Unavailable`: the ledger has no timestamp for a block.
pub const TIMESTAMP_UNAVAILABLE: u32 = 3;

/// The one place an error becomes a gRPC status: the detail is logged (never user data), the
/// client gets a fixed message.
pub(crate) fn to_status(e: &LedgerServerError, metrics: &Metrics) -> Status {
    use LedgerEnclaveError as E;
    let (status, counter) = match e {
        LedgerServerError::Enclave(E::Session(SessionError::UnknownSession)) => (
            Status::unauthenticated("unknown or expired session; authenticate again"),
            &metrics.unauthenticated,
        ),
        LedgerServerError::Enclave(E::Session(SessionError::Handshake)) => (
            Status::invalid_argument("handshake failed"),
            &metrics.invalid,
        ),
        LedgerServerError::Enclave(E::Session(SessionError::BadFrame)) => (
            Status::invalid_argument("frame rejected (tampered, replayed or out of order)"),
            &metrics.invalid,
        ),
        LedgerServerError::Enclave(E::Session(SessionError::TooLarge)) => (
            Status::invalid_argument("request too large"),
            &metrics.invalid,
        ),
        LedgerServerError::Enclave(E::MalformedRequest) => (
            Status::invalid_argument("malformed request"),
            &metrics.invalid,
        ),
        LedgerServerError::Enclave(E::TooManyItems) => (
            Status::invalid_argument(
                "too many items in one request (at most 4096 key images, 2000 outputs or 1000 block ids)",
            ),
            &metrics.invalid,
        ),
        LedgerServerError::InvalidRequest(why) => {
            (Status::invalid_argument(*why), &metrics.invalid)
        }
        LedgerServerError::Enclave(E::StoreBehind { behind }) => (
            Status::unavailable(format!(
                "the key-image store is {behind} blocks behind the ledger; retry later"
            )),
            &metrics.unavailable,
        ),
        // A ledger router's refusals of a routed check: its table of open checks is full (no
        // block is ever added through a client call, so no other `Full` reaches here), or it
        // no longer holds the check the host names (the only channel a client's call names
        // to a router: a store's channel refusals stay on its store API).
        LedgerServerError::Enclave(E::Full | E::Peer(PeerError::UnknownChannel)) => (
            Status::unavailable("the ledger router is busy; retry"),
            &metrics.unavailable,
        ),
        _ => (Status::internal("internal error"), &metrics.internal),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if status.code() == tonic::Code::Internal {
        tracing::error!(error = %e, "request failed");
    } else {
        tracing::debug!(error = %e, code = ?status.code(), "request refused");
    }
    status
}

/// The services of one [`LedgerServer`]: `FogKeyImageAPI` (key images and block ids) and
/// `FogMerkleProofAPI` (attested, one session serves both), `FogBlockAPI` and
/// `FogUntrustedTxOutApi` (plain). A ledger router ([`LedgerServer::router`]) answers the same
/// calls, its key-image checks by its stores.
#[derive(Clone, Debug)]
pub struct LedgerService {
    server: Arc<LedgerServer>,
}

impl LedgerService {
    /// The services of `server`.
    pub fn new(server: Arc<LedgerServer>) -> Self {
        Self { server }
    }

    /// Runs `f` on the blocking pool and maps its error.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LedgerServer) -> Result<T, LedgerServerError> + Send + 'static,
    ) -> Result<T, Status> {
        let server = Arc::clone(&self.server);
        tokio::task::spawn_blocking(move || f(&server))
            .await
            .map_err(|_| LedgerServerError::Task)
            .and_then(|r| r)
            .map_err(|e| to_status(&e, self.server.metrics()))
    }

    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        // The client's IP address bounds how many sessions it can hold (`PeerKey`); a
        // transport without one (in-process tests) shares one budget.
        let peer = request.remote_addr().map(|a| a.ip());
        let hello = request.into_inner().data;
        let data = self.blocking(move |s| s.auth(&hello, peer)).await?;
        self.server.metrics().auths.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(AuthMessage { data }))
    }

    /// The four services, with their size limits, and for a store (not a router) the store
    /// API for ledger routers (`fog_router.StoreAPI`, refused while the enclave has no router
    /// link).
    pub fn routes(self) -> fog_host::Routes {
        let store = self
            .server
            .router()
            .is_none()
            .then(|| crate::StoreService::new(Arc::clone(&self.server)).into_server());
        let routes = fog_host::Routes::new(
            FogKeyImageApiServer::new(self.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_RESPONSE_BYTES),
        )
        .add_service(
            FogMerkleProofApiServer::new(self.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_RESPONSE_BYTES),
        )
        .add_service(
            FogBlockApiServer::new(self.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_RESPONSE_BYTES),
        )
        .add_service(
            FogUntrustedTxOutApiServer::new(self)
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_RESPONSE_BYTES),
        );
        match store {
            Some(store) => routes.add_service(store),
            None => routes,
        }
    }

    /// The gRPC service names, for health.
    pub const SERVICE_NAMES: [&'static str; 4] = [
        "fog_ledger.FogKeyImageAPI",
        "fog_ledger.FogMerkleProofAPI",
        "fog_ledger.FogBlockAPI",
        "fog_ledger.FogUntrustedTxOutApi",
    ];
}

#[tonic::async_trait]
impl FogKeyImageApi for LedgerService {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        LedgerService::auth(self, request).await
    }

    async fn check_key_images(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        let Some(router) = self.server.router().cloned() else {
            return self
                .blocking(move |s| s.check_key_images(frame))
                .await
                .map(Response::new);
        };
        // A router: its enclave opens the check, its stores answer it, its enclave merges.
        let check = self.blocking(move |s| s.open_routed_check(frame)).await?;
        let key_images = check.key_count();
        let answer = router
            .route(check)
            .await
            .map_err(|e| to_status(&e, self.server.metrics()))?
            .ok_or_else(|| to_status(&LedgerServerError::Task, self.server.metrics()))?;
        self.server.metrics().record_key_images(key_images);
        Ok(Response::new(answer))
    }

    async fn get_block_ids(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        self.blocking(move |s| s.block_ids(frame))
            .await
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl FogMerkleProofApi for LedgerService {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
        LedgerService::auth(self, request).await
    }

    async fn get_outputs(
        &self,
        request: Request<NonceMessage>,
    ) -> Result<Response<NonceMessage>, Status> {
        let frame = request.into_inner();
        self.blocking(move |s| s.get_outputs(frame))
            .await
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl FogBlockApi for LedgerService {
    async fn get_blocks(
        &self,
        request: Request<BlockRequest>,
    ) -> Result<Response<BlockResponse>, Status> {
        let ranges = request.into_inner().ranges;
        self.blocking(move |s| s.get_blocks(&ranges))
            .await
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl FogUntrustedTxOutApi for LedgerService {
    async fn get_tx_outs(
        &self,
        request: Request<TxOutRequest>,
    ) -> Result<Response<TxOutResponse>, Status> {
        let request = request.into_inner();
        self.blocking(move |s| s.get_tx_outs(&request))
            .await
            .map(Response::new)
    }
}

/// Follows the ledger and serves the four services on `listener` (default limits, gRPC
/// health, no operations endpoint) until `shutdown` resolves.
pub async fn run(
    server: Arc<LedgerServer>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LedgerServerError> {
    run_with(
        server,
        fog_host::Serve::new(crate::metrics::PREFIX, listener),
        Vec::new(),
        shutdown,
    )
    .await
}

/// [`run`] as `spec` says (limits, health names, an operations endpoint), with `extra`
/// observers beside the server's own (a ledger follower: ready only when all are).
pub async fn run_with(
    server: Arc<LedgerServer>,
    mut spec: fog_host::Serve,
    extra: Vec<Arc<dyn fog_host::Observe>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LedgerServerError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = {
        let mut rx = stop_rx.clone();
        tokio::spawn(Arc::clone(&server).follow(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }))
    };
    if spec.health_names.is_empty() {
        spec.health_names = LedgerService::SERVICE_NAMES.to_vec();
    }
    let mut observers: Vec<Arc<dyn fog_host::Observe>> = vec![server.clone()];
    observers.extend(extra);
    let observer: Arc<dyn fog_host::Observe> = Arc::new(fog_host::All(observers));
    let served = fog_host::serve(
        spec,
        LedgerService::new(server).routes(),
        observer,
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
    )
    .await;
    drop(stop_rx);
    let _ = follower.await;
    Ok(served?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_refusing_a_check_it_cannot_hold_is_unavailable() {
        let metrics = Metrics::default();
        for refusal in [
            LedgerEnclaveError::Full,
            LedgerEnclaveError::Peer(PeerError::UnknownChannel),
        ] {
            let status = to_status(&LedgerServerError::Enclave(refusal), &metrics);
            assert_eq!(status.code(), tonic::Code::Unavailable, "{refusal:?}");
            assert_eq!(status.message(), "the ledger router is busy; retry");
        }
        assert_eq!(metrics.unavailable.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.internal.load(Ordering::Relaxed), 0);
        // A store's failure stays internal.
        let status = to_status(
            &LedgerServerError::Enclave(LedgerEnclaveError::Storage),
            &metrics,
        );
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
