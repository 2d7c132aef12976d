//! The ledger router's host (`fogd ledger-router`): clients talk to it as to a fog ledger
//! (the same four services), and it asks every key-image store (`fog_router.StoreAPI`, a fog
//! ledger of a block range, [`crate::StoreService`]) for each `CheckKeyImages`, through its
//! enclave (`fog_enclave::ledger_router`), which merges their answers.
//!
//! A router is a [`LedgerServer`] made by [`LedgerServer::new_router`]: it follows its own
//! ledger DB into its own enclave (which verifies the chain and keeps no key image) and
//! answers `GetOutputs`, `GetBlocks`, `GetTxOuts` and `GetBlockIds` exactly as a fog ledger
//! does; only its key-image checks go to the stores, through the [`LedgerRouterServer`] it
//! holds ([`LedgerServer::router`]).
//!
//! The stores come from the command line and from the admin API (`fog_router.RouterAdminAPI`,
//! `fog_router::RouterAdmin`). Every probe interval the router probes every store (a check of
//! no key images), so its readiness and per-store metrics follow the stores when no client
//! asks. Ready means some store that answers starts at block 0, and the router's own chain is
//! caught up with its ledger.
//!
//! [`LedgerServer`]: crate::LedgerServer
//! [`LedgerServer::new_router`]: crate::LedgerServer::new_router
//! [`LedgerServer::router`]: crate::LedgerServer::router

use std::sync::Arc;
use std::time::Duration;

use fog_attest::{wire::NonceMessage, BoundEvidence, UnixSeconds};
use fog_enclave::ledger_router::{LedgerRouter, PendingCheck};
use fog_host::{BoxFuture, Observation};
use fog_oram::HeapFactory;
use fog_router::{Coverage, Merged, Probe, Stores, StoresConfig};
use rand_chacha::ChaCha20Rng;

use crate::LedgerServerError;

/// The metric prefix of the ledger router.
pub const PREFIX: &str = "fog_ledger_router";

/// The ledger router enclave the server runs.
pub type Router = LedgerRouter<HeapFactory, ChaCha20Rng>;

/// The router enclave's store channels, as `fog_router` drives them.
pub type Link = fog_router::Link<Router>;

/// A ledger router's enclave and its key-image stores. A [`crate::LedgerServer`] made by
/// `new_router` holds it.
pub struct LedgerRouterServer {
    enclave: Arc<Router>,
    stores: Arc<Stores<Link>>,
}

impl core::fmt::Debug for LedgerRouterServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerRouterServer")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl LedgerRouterServer {
    /// A router over `enclave`, with no stores yet.
    pub(crate) fn new(enclave: Router, config: StoresConfig) -> Self {
        let enclave = Arc::new(enclave);
        let stores = Arc::new(Stores::new(
            Arc::new(fog_router::Link(Arc::clone(&enclave))),
            config,
        ));
        Self { enclave, stores }
    }

    /// The router enclave.
    pub fn enclave(&self) -> &Arc<Router> {
        &self.enclave
    }

    /// The stores (add and remove them here or through the admin API).
    pub fn stores(&self) -> &Arc<Stores<Link>> {
        &self.stores
    }

    /// Replaces the evidence the store channels present (it must bind the link's channel
    /// key).
    pub fn set_store_evidence(&self, evidence: BoundEvidence) -> Result<(), LedgerServerError> {
        self.enclave
            .store_links()
            .set_evidence(evidence)
            .map_err(|e| LedgerServerError::Enclave(e.into()))
    }

    /// Asks every store the key images of `check` and merges their answers: the answer
    /// sealed to the client (`None` for a probe).
    pub(crate) async fn route(
        &self,
        check: PendingCheck,
    ) -> Result<Option<NonceMessage>, LedgerServerError> {
        let enclave = Arc::clone(&self.enclave);
        let now = UnixSeconds::now();
        self.stores
            .route(
                check,
                |check, channel| {
                    self.enclave
                        .store_request(check, channel, now)
                        .map_err(|e| e.to_string())
                },
                // The merge reads every store's result for every key image: blocking pool.
                move |check, answers| {
                    let routed = enclave.finish(check, answers, UnixSeconds::now())?;
                    Ok::<_, LedgerServerError>(Merged {
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
                        cover: routed.num_blocks,
                        answer: routed.frame,
                    })
                },
            )
            .await
            .map_err(|_| LedgerServerError::Task)??
            .map_err(LedgerServerError::from)
    }

    /// Asks every store what it covers (a check of no key images).
    pub async fn probe(&self) {
        if let Err(e) = self.route(Router::probe()).await {
            tracing::debug!(error = %e, "probe failed");
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

    /// Readiness (some store from block 0 answers) and per-store metrics, with the checks
    /// merged.
    pub fn observation(&self) -> Observation {
        let mut o = self.stores.observation();
        o.counter(
            "routed_checks",
            "Client key-image checks merged from the stores' answers.",
            self.enclave.checks(),
        );
        o
    }
}

impl Probe for LedgerRouterServer {
    fn probe(&self) -> BoxFuture<'_, ()> {
        Box::pin(LedgerRouterServer::probe(self))
    }
}
