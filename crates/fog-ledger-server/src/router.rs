//! The ledger router's host (`fogd ledger-router`): clients talk to it as to a fog ledger
//! (the same four services), and it asks every key-image store (`fog_router.StoreAPI`, a fog
//! ledger of a block range, [`crate::StoreService`]) for each `CheckKeyImages`, through its
//! enclave (the ledger router enclave, reached through its byte boundary:
//! [`LedgerRouterClient`]), which merges their answers. The client's check stays inside the
//! enclave while the stores answer: the host holds a handle ([`PendingCheck`]).
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fog_attest::{wire::NonceMessage, BoundEvidence, UnixSeconds};
use fog_enclave_api::ledger_router::{LedgerRouterClient, PendingCheck};
use fog_host::{BoxFuture, Observation};
use fog_router::{Coverage, Merged, Probe, StoreChannels, Stores, StoresConfig};

use crate::LedgerServerError;

/// The metric prefix of the ledger router.
pub const PREFIX: &str = "fog_ledger_router";

/// The router enclave's store channels, as `fog_router` drives them: each step one call
/// into the enclave, which makes the channels and checks the stores' evidence.
#[derive(Debug)]
pub struct Link(LedgerRouterClient);

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
            tracing::debug!(error = %e, "store channel close failed");
        }
    }
}

/// A ledger router's enclave and its key-image stores. A [`crate::LedgerServer`] made by
/// `new_router` holds it.
pub struct LedgerRouterServer {
    enclave: LedgerRouterClient,
    stores: Arc<Stores<Link>>,
    /// The enclave's check count when it last answered (what the metrics show while it does
    /// not: a counter never goes back).
    checks: AtomicU64,
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
    pub(crate) fn new(enclave: LedgerRouterClient, config: StoresConfig) -> Self {
        let stores = Arc::new(Stores::new(Arc::new(Link(enclave.clone())), config));
        Self {
            enclave,
            stores,
            checks: AtomicU64::new(0),
        }
    }

    /// The router enclave.
    pub fn enclave(&self) -> &LedgerRouterClient {
        &self.enclave
    }

    /// The stores (add and remove them here or through the admin API).
    pub fn stores(&self) -> &Arc<Stores<Link>> {
        &self.stores
    }

    /// The public half of the key the enclave made for its store channels (what their
    /// evidence binds).
    pub fn store_channel_key(&self) -> Result<[u8; 32], LedgerServerError> {
        Ok(self.enclave.store_channel_key()?)
    }

    /// Replaces the evidence the store channels present (it must bind
    /// [`LedgerRouterServer::store_channel_key`]).
    pub fn set_store_evidence(&self, evidence: BoundEvidence) -> Result<(), LedgerServerError> {
        Ok(self.enclave.set_store_evidence(&evidence)?)
    }

    /// Asks every store the key images of `check` and merges their answers: the answer
    /// sealed to the client (`None` for a probe). A check dropped unfinished (the client went
    /// away) is forgotten inside ([`PendingCheck`]'s drop).
    pub(crate) async fn route(
        &self,
        check: PendingCheck,
    ) -> Result<Option<NonceMessage>, LedgerServerError> {
        let enclave = self.enclave.clone();
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
                                    range_start: s.start_block,
                                    range_end: s.end_block,
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
        let routed = match self.enclave.probe() {
            Ok(check) => self.route(check).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = routed {
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
        let checks = match self.enclave.checks() {
            Ok(checks) => {
                self.checks.store(checks, Ordering::Relaxed);
                checks
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the router counters as last read");
                self.checks.load(Ordering::Relaxed)
            }
        };
        o.counter(
            "routed_checks",
            "Client key-image checks merged from the stores' answers.",
            checks,
        );
        o
    }
}

impl Probe for LedgerRouterServer {
    fn probe(&self) -> BoxFuture<'_, ()> {
        Box::pin(LedgerRouterServer::probe(self))
    }
}
