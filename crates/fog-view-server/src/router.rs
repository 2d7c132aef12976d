//! The view router's host (`fogd view-router`): clients talk to it as to a view
//! (`fog_view.FogViewAPI`), and it asks every view store (`fog_router.StoreAPI`) for each
//! query, through its enclave (`fog_enclave_api::view_router`), which merges the answers: the
//! host holds each client query only as a handle, and carries sealed frames.
//!
//! The stores come from the command line and from the admin API (`fog_router.RouterAdminAPI`,
//! `fog_router::RouterAdmin`). Every `probe_interval` the router probes every store (a query
//! with no keys), so its readiness and per-store metrics follow the stores when no client
//! asks. Ready means some store that answers starts at block 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fog_api::fog_view::fog_view_api_server::{FogViewApi, FogViewApiServer};
use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    UnixSeconds,
};
use fog_enclave_api::view_router::{PendingQuery, ViewRouterClient, ViewRouterConfig};
use fog_enclave_api::SharedEnclave;
use fog_host::{BoxFuture, Observation, Observe};
use fog_router::{Coverage, Merged, Probe, StoreChannels, Stores, StoresConfig};
use tonic::{Request, Response, Status};

use crate::service::to_status;

/// The metric prefix of the view router.
pub const PREFIX: &str = "fog_view_router";

/// What the view router enclave is loaded with: the default client sessions, store channels
/// that live as long as `fog_router` expects ([`fog_router::STORE_SESSION_LIMITS`]), and the
/// default table of held queries
/// ([`fog_enclave_api::view_router::DEFAULT_MAX_PENDING_QUERIES`]; a host serving more
/// requests at once raises it to match).
pub fn enclave_config() -> ViewRouterConfig {
    ViewRouterConfig {
        session_capacity: fog_enclave_api::view::DEFAULT_SESSION_CAPACITY,
        session_limits: fog_attest::SessionLimits::default(),
        store_session_limits: fog_router::STORE_SESSION_LIMITS,
        max_pending_queries: fog_enclave_api::view_router::DEFAULT_MAX_PENDING_QUERIES,
    }
}

/// The router enclave's store channels, as `fog_router` drives them: each call goes through
/// the enclave boundary.
#[derive(Clone, Debug)]
pub struct Link(ViewRouterClient);

impl StoreChannels for Link {
    fn initiate(&self) -> Result<(u64, Vec<u8>), String> {
        self.0.store_initiate().map_err(|e| e.to_string())
    }

    fn finish(&self, token: u64, reply: &[u8]) -> Result<Vec<u8>, String> {
        self.0
            .store_finish(token, reply, UnixSeconds::now())
            .map_err(|e| e.to_string())
    }

    fn close(&self, channel: &[u8]) {
        if let Err(e) = self.0.store_close(channel) {
            tracing::debug!("closing a store channel: {e}");
        }
    }
}

/// The view router: its enclave and its stores. Share it in an `Arc`.
pub struct ViewRouterServer {
    enclave: ViewRouterClient,
    stores: Arc<Stores<Link>>,
    /// The enclave's query count when it last answered (what the metrics show while it does
    /// not: a counter never goes back).
    queries: AtomicU64,
}

impl core::fmt::Debug for ViewRouterServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewRouterServer")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl ViewRouterServer {
    /// A router over `enclave` (a view router enclave; install its evidence with
    /// `ViewRouterClient::attest` on [`ViewRouterServer::enclave`] before serving), with no
    /// stores yet.
    pub fn new(enclave: SharedEnclave, config: StoresConfig) -> Self {
        let enclave = ViewRouterClient::new(enclave);
        let stores = Arc::new(Stores::new(Arc::new(Link(enclave.clone())), config));
        Self {
            enclave,
            stores,
            queries: AtomicU64::new(0),
        }
    }

    /// The enclave.
    pub fn enclave(&self) -> &ViewRouterClient {
        &self.enclave
    }

    /// The stores.
    pub fn stores(&self) -> &Arc<Stores<Link>> {
        &self.stores
    }

    /// Client queries the enclave merged: its count, or while it does not answer, the last
    /// one it gave.
    pub fn queries(&self) -> u64 {
        match self.enclave.queries() {
            Ok(n) => {
                self.queries.store(n, Ordering::Relaxed);
                n
            }
            Err(e) => {
                tracing::debug!("view router enclave status: {e}");
                self.queries.load(Ordering::Relaxed)
            }
        }
    }

    /// Asks every store `query` and merges their answers: the sealed answer for the client
    /// (`None` for a probe). A query dropped unfinished (the client went away) is forgotten
    /// inside ([`PendingQuery`]'s drop).
    async fn route(&self, query: PendingQuery) -> Result<Option<NonceMessage>, Status> {
        let enclave = self.enclave.clone();
        let now = UnixSeconds::now();
        self.stores
            .route(
                query,
                |query, channel| {
                    self.enclave
                        .store_request(query, channel, now)
                        .map_err(|e| e.to_string())
                },
                // The merge is CPU work (two sorting networks): on the blocking pool.
                move |query, answers| {
                    let routed = enclave.finish(query, answers, UnixSeconds::now())?;
                    Ok(Merged {
                        coverage: routed
                            .shards
                            .iter()
                            .map(|s| {
                                s.map(|s| Coverage {
                                    range_start: s.blocks.start_block,
                                    range_end: s.blocks.end_block,
                                    processed: s.processed,
                                })
                            })
                            .collect(),
                        cover: routed.processed,
                        answer: routed.frame,
                    })
                },
            )
            .await
            .map_err(|_| Status::internal("internal error"))?
            .map_err(to_status)?
            .map_err(to_status)
    }

    /// Asks every store what it covers (a query with no keys).
    pub async fn probe(&self) {
        let routed = match self.enclave.probe() {
            Ok(query) => self.route(query).await,
            Err(e) => Err(to_status(e)),
        };
        if let Err(e) = routed {
            tracing::debug!("probe: {}", e.message());
        }
    }

    /// Probes every `every` until the task is dropped or aborted.
    pub fn spawn_probes(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        fog_router::spawn_probes(self, every)
    }

    /// The admin API's probe hook: one probe, as a task.
    pub fn probe_hook(self: &Arc<Self>) -> fog_router::ProbeHook {
        fog_router::probe_hook(self)
    }
}

impl Probe for ViewRouterServer {
    fn probe(&self) -> BoxFuture<'_, ()> {
        Box::pin(ViewRouterServer::probe(self))
    }
}

impl Observe for ViewRouterServer {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move {
            let mut o = self.stores.observation();
            o.counter("queries", "Client queries answered.", self.queries());
            o
        })
    }
}

/// `fog_view.FogViewAPI` over a [`ViewRouterServer`]: the same calls as a view's.
pub struct ViewRouterService {
    server: Arc<ViewRouterServer>,
}

impl ViewRouterService {
    /// Serves clients for `server`.
    pub fn new(server: Arc<ViewRouterServer>) -> Self {
        Self { server }
    }

    /// The tonic service.
    pub fn into_server(self) -> FogViewApiServer<Self> {
        FogViewApiServer::new(self)
    }
}

#[tonic::async_trait]
impl FogViewApi for ViewRouterService {
    async fn auth(&self, request: Request<AuthMessage>) -> Result<Response<AuthMessage>, Status> {
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
        let frame = request.into_inner();
        let query = self
            .server
            .enclave
            .open_query(frame, UnixSeconds::now())
            .map_err(to_status)?;
        match self.server.route(query).await? {
            Some(answer) => Ok(Response::new(answer)),
            None => Err(Status::internal("internal error")),
        }
    }
}
