//! A router's host side, shared by the view router and the ledger router: the stores it asks,
//! a pool of attested channels to each, one query fanned out to all of them with a retry,
//! per-store metrics and the admin API (`fog_router.RouterAdminAPI`).
//!
//! The router's enclave makes and uses the channels ([`StoreChannels`]); this crate only
//! carries their handshakes and frames over `fog_router.StoreAPI`. A channel carries one
//! exchange at a time (its frames are numbered), so a query takes an idle channel of each
//! store, or makes one, and gives it back once the enclave accepted the answer. A channel whose
//! exchange failed is closed: its numbering may be out of step.
//!
//! What a store covers (its range and processed blocks) is public, as the enclave reports it
//! per answer ([`Coverage`]); the router is ready once some store that answers starts at block
//! 0 (clients would otherwise be told nothing is processed).
//!
//! Untrusted side.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use fog_api::attest::{AuthMessage, NonceMessage};
use fog_api::fog_router::{
    router_admin_api_server::{RouterAdminApi, RouterAdminApiServer},
    store_api_client::StoreApiClient,
    AddStoreRequest, GetStoresRequest, RemoveStoreRequest, StoreStatus, StoresResponse,
};
use fog_host::admin::AdminAccess;
use fog_host::{BoxFuture, Observation, Readiness, Value};
use prost::Message as _;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// Sessions between routers and stores: an hour at most, ten minutes idle (a router keeps a
/// pool of them per store and makes new ones when one expires).
pub const STORE_SESSION_LIMITS: fog_attest::SessionLimits = fog_attest::SessionLimits {
    max_age_secs: 3600,
    idle_secs: 600,
};

/// The router enclave's side of its store channels.
pub trait StoreChannels: Send + Sync + 'static {
    /// Starts a channel: a token for [`StoreChannels::finish`] and the hello to send.
    fn initiate(&self) -> Result<(u64, Vec<u8>), String>;
    /// Finishes a channel with the store's reply (the enclave checks its evidence); the id.
    fn finish(&self, token: u64, reply: &[u8]) -> Result<Vec<u8>, String>;
    /// Forgets a channel.
    fn close(&self, channel: &[u8]);
}

/// What a store's answer said of its blocks (public).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Its first block.
    pub range_start: u64,
    /// One past its last block (`u64::MAX`: open-ended).
    pub range_end: u64,
    /// The end of the run of blocks it processed from `range_start`.
    pub processed: u64,
}

/// How the router talks to its stores.
#[derive(Clone, Copy, Debug)]
pub struct StoresConfig {
    /// The longest a handshake or query may take.
    pub timeout: Duration,
    /// Further attempts after a failed exchange (each on a new channel).
    pub retries: u32,
    /// Idle channels kept per store.
    pub max_idle: usize,
}

impl Default for StoresConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retries: 1,
            max_idle: 16,
        }
    }
}

/// Errors of the admin side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// The store address does not parse as an `http://` URI.
    #[error("bad store address {0:?}: expected http://host:port")]
    BadUri(String),
    /// The store is already in the list.
    #[error("store {0} is already added")]
    Duplicate(String),
}

#[derive(Debug, Default)]
struct Stats {
    up: bool,
    coverage: Option<Coverage>,
    queries: u64,
    errors: u64,
    latency_total: Duration,
    answered: u64,
    last_error: String,
}

/// One store the router asks.
#[derive(Debug)]
pub struct Store {
    uri: String,
    client: StoreApiClient<Channel>,
    idle: Mutex<Vec<Vec<u8>>>,
    stats: Mutex<Stats>,
}

impl Store {
    /// Its address.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

/// One store's part of a query: the channel used and its answer, or why there is none.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The channel and the encoded answer frame.
    pub exchange: Option<(Vec<u8>, Vec<u8>)>,
    /// The last failure (transport or channel).
    pub error: Option<String>,
    /// How long the answer took (the successful attempt).
    pub latency: Duration,
}

/// What a router's own work cost so far (public sizes and times).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterCosts {
    /// Queries and probes routed.
    pub routed: u64,
    /// Time in the enclave's merge (opening the stores' answers, merging, sealing), in ns.
    pub merge_ns: u64,
    /// Bytes of the requests sealed for stores.
    pub request_bytes: u64,
    /// Bytes of the stores' answers.
    pub answer_bytes: u64,
}

/// The stores of a router.
pub struct Stores<L> {
    link: Arc<L>,
    config: StoresConfig,
    list: RwLock<Vec<Arc<Store>>>,
    cover: AtomicU64,
    costs: Mutex<RouterCosts>,
}

impl<L> core::fmt::Debug for Stores<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stores")
            .field("stores", &self.current().len())
            .finish_non_exhaustive()
    }
}

impl<L> Stores<L> {
    /// The stores, in the order they were added.
    pub fn current(&self) -> Vec<Arc<Store>> {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What routing cost so far.
    pub fn costs(&self) -> RouterCosts {
        *lock(&self.costs)
    }

    /// The blocks the last answer vouched for.
    pub fn cover(&self) -> u64 {
        self.cover.load(Ordering::Relaxed)
    }

    /// Whether some store that answered last starts at block 0.
    pub fn has_origin(&self) -> bool {
        self.current().iter().any(|s| {
            let st = lock(&s.stats);
            st.up && st.coverage.is_some_and(|c| c.range_start == 0)
        })
    }

    /// Every store's status, and the cover.
    pub fn statuses(&self) -> StoresResponse {
        let stores = self
            .current()
            .iter()
            .map(|s| {
                let st = lock(&s.stats);
                let c = st.coverage.unwrap_or_default();
                StoreStatus {
                    uri: s.uri.clone(),
                    up: st.up,
                    range_start: c.range_start,
                    range_end: c.range_end,
                    processed: c.processed,
                    queries: st.queries,
                    errors: st.errors,
                    mean_latency_ms: mean_ms(&st),
                    last_error: st.last_error.clone(),
                }
            })
            .collect();
        StoresResponse {
            stores,
            cover: self.cover(),
        }
    }

    /// The router's readiness and per-store metrics (names without the service prefix).
    pub fn observation(&self) -> Observation {
        let stores = self.current();
        let readiness = if self.has_origin() {
            Readiness::ready(format!(
                "{} store(s), {} blocks covered",
                stores.len(),
                self.cover()
            ))
        } else {
            Readiness::not_ready(format!(
                "no store from block 0 answers ({} store(s))",
                stores.len()
            ))
        };
        let mut o = Observation::new(readiness);
        let per = |f: &dyn Fn(&Stats) -> f64| -> Vec<(String, f64)> {
            stores
                .iter()
                .map(|s| (s.uri.clone(), f(&lock(&s.stats))))
                .collect()
        };
        let count = |f: &dyn Fn(&Stats) -> u64| -> Vec<(String, u64)> {
            stores
                .iter()
                .map(|s| (s.uri.clone(), f(&lock(&s.stats))))
                .collect()
        };
        let costs = self.costs();
        o.counter(
            "routed",
            "Queries and probes routed to the stores.",
            costs.routed,
        )
        .gauge_f(
            "merge_seconds",
            "Time the router enclave spent opening, merging and sealing answers.",
            costs.merge_ns as f64 / 1e9,
        )
        .counter(
            "store_request_bytes",
            "Bytes of the requests sent to stores.",
            costs.request_bytes,
        )
        .counter(
            "store_answer_bytes",
            "Bytes of the stores' answers.",
            costs.answer_bytes,
        );
        o.gauge("stores", "Stores the router asks.", stores.len() as u64)
            .gauge(
                "cover_blocks",
                "Blocks the stores cover contiguously from block 0 (what answers vouch for).",
                self.cover(),
            )
            .push(
                "store_queries",
                "Queries sent to each store.",
                Value::CountersBy("store", count(&|s| s.queries)),
            )
            .push(
                "store_errors",
                "Failed exchanges with each store.",
                Value::CountersBy("store", count(&|s| s.errors)),
            )
            .push(
                "store_up",
                "Whether each store's last exchange succeeded.",
                Value::GaugesBy("store", per(&|s| f64::from(u8::from(s.up)))),
            )
            .push(
                "store_latency_ms",
                "Mean time of each store's answers, in milliseconds.",
                Value::GaugesBy("store", per(&mean_ms)),
            )
            .push(
                "store_processed_blocks",
                "The end of the run of blocks each store processed from its range's start.",
                Value::GaugesBy(
                    "store",
                    per(&|s| s.coverage.map_or(0.0, |c| c.processed as f64)),
                ),
            );
        o
    }
}

fn mean_ms(st: &Stats) -> f64 {
    if st.answered == 0 {
        0.0
    } else {
        st.latency_total.as_secs_f64() * 1e3 / st.answered as f64
    }
}

impl<L: StoreChannels> Stores<L> {
    /// No stores yet; `link` is the router enclave's side of the channels.
    pub fn new(link: Arc<L>, config: StoresConfig) -> Self {
        Self {
            link,
            config,
            list: RwLock::new(Vec::new()),
            cover: AtomicU64::new(0),
            costs: Mutex::new(RouterCosts::default()),
        }
    }

    /// Adds a store by its `StoreAPI` address. The connection is made at its first use.
    pub fn add(&self, uri: &str) -> Result<(), RouterError> {
        let uri = uri.trim().trim_end_matches('/').to_string();
        if !uri.starts_with("http://") {
            return Err(RouterError::BadUri(uri));
        }
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|_| RouterError::BadUri(uri.clone()))?
            .connect_timeout(self.config.timeout)
            .tcp_nodelay(true);
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        if list.iter().any(|s| s.uri == uri) {
            return Err(RouterError::Duplicate(uri));
        }
        let client = StoreApiClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        tracing::info!(store = %uri, "store added");
        list.push(Arc::new(Store {
            uri,
            client,
            idle: Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
        }));
        Ok(())
    }

    /// Stops asking a store; true if it was there.
    pub fn remove(&self, uri: &str) -> bool {
        let uri = uri.trim().trim_end_matches('/');
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = list.iter().position(|s| s.uri == uri) else {
            return false;
        };
        let store = list.remove(at);
        drop(list);
        for channel in lock(&store.idle).drain(..) {
            self.link.close(&channel);
        }
        tracing::info!(store = %uri, "store removed");
        true
    }

    /// Sends one sealed request to each of `stores` at once and collects the answers. `seal`
    /// seals the request on a channel id (the enclave's [`StoreChannels`] made it). A failed
    /// exchange is retried on a new channel up to `retries` times.
    pub async fn ask(
        &self,
        stores: &[Arc<Store>],
        seal: impl Fn(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = stores.iter().map(|_| Outcome::default()).collect();
        let mut pending: Vec<usize> = (0..stores.len()).collect();
        for attempt in 0..=self.config.retries {
            if pending.is_empty() {
                break;
            }
            // Channels: an idle one, or a new handshake (all at once).
            let mut handshakes = JoinSet::new();
            let mut channels: Vec<(usize, Vec<u8>)> = Vec::new();
            for &i in &pending {
                let idle = if attempt == 0 {
                    lock(&stores[i].idle).pop()
                } else {
                    None
                };
                match idle {
                    Some(c) => channels.push((i, c)),
                    None => {
                        let (link, store, timeout) = (
                            Arc::clone(&self.link),
                            Arc::clone(&stores[i]),
                            self.config.timeout,
                        );
                        handshakes
                            .spawn(async move { (i, handshake(&*link, &store, timeout).await) });
                    }
                }
            }
            while let Some(done) = handshakes.join_next().await {
                match done {
                    Ok((i, Ok(c))) => channels.push((i, c)),
                    Ok((i, Err(e))) => outcomes[i].error = Some(e),
                    Err(e) => tracing::error!("handshake task failed: {e}"),
                }
            }
            // Seal on each channel, then send all at once.
            let mut calls = JoinSet::new();
            for (i, channel) in channels {
                let frame = match seal(&channel).and_then(|f| {
                    NonceMessage::decode(f.as_slice()).map_err(|e| format!("sealed frame: {e}"))
                }) {
                    Ok(f) => f,
                    Err(e) => {
                        self.link.close(&channel);
                        outcomes[i].error = Some(e);
                        continue;
                    }
                };
                let mut client = stores[i].client.clone();
                let timeout = self.config.timeout;
                calls.spawn(async move {
                    let started = Instant::now();
                    let r = tokio::time::timeout(timeout, client.query(frame)).await;
                    let r = match r {
                        Ok(Ok(answer)) => Ok(answer.into_inner().encode_to_vec()),
                        Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
                        Err(_) => Err("timed out".to_string()),
                    };
                    (i, channel, r, started.elapsed())
                });
            }
            while let Some(done) = calls.join_next().await {
                match done {
                    Ok((i, channel, Ok(answer), latency)) => {
                        outcomes[i].exchange = Some((channel, answer));
                        outcomes[i].error = None;
                        outcomes[i].latency = latency;
                    }
                    Ok((i, channel, Err(e), _)) => {
                        self.link.close(&channel);
                        tracing::debug!(store = %stores[i].uri, attempt, "store query failed: {e}");
                        outcomes[i].error = Some(e);
                    }
                    Err(e) => tracing::error!("store query task failed: {e}"),
                }
            }
            pending.retain(|&i| outcomes[i].exchange.is_none());
        }
        outcomes
    }

    /// Records how a query went: `coverage[i]` is what the enclave made of store `i`'s answer
    /// (`None`: missing or refused). Channels of accepted answers go back to the pool, the
    /// others are closed. `cover` is what the merged answer vouched for.
    pub fn settle(
        &self,
        stores: &[Arc<Store>],
        outcomes: Vec<Outcome>,
        coverage: &[Option<Coverage>],
        cover: u64,
    ) {
        for ((store, outcome), coverage) in stores.iter().zip(outcomes).zip(coverage) {
            let mut st = lock(&store.stats);
            st.queries += 1;
            match (outcome.exchange, coverage) {
                (Some((channel, _)), Some(c)) => {
                    st.up = true;
                    st.coverage = Some(*c);
                    st.answered += 1;
                    st.latency_total += outcome.latency;
                    let mut idle = lock(&store.idle);
                    if idle.len() < self.config.max_idle {
                        idle.push(channel);
                    } else {
                        self.link.close(&channel);
                    }
                }
                (exchange, _) => {
                    if let Some((channel, _)) = exchange {
                        self.link.close(&channel);
                        st.last_error = "the answer was refused by the router enclave".into();
                    } else {
                        st.last_error = outcome.error.unwrap_or_else(|| "no answer".into());
                    }
                    if st.up {
                        tracing::warn!(store = %store.uri, error = %st.last_error, "store down");
                    }
                    st.up = false;
                    st.errors += 1;
                }
            }
        }
        self.cover.store(cover, Ordering::Relaxed);
    }
}

/// What the router enclave made of the stores' answers to one query.
#[derive(Debug)]
pub struct Merged<R> {
    /// The merged answer (the client's sealed frame, or nothing for a probe).
    pub answer: R,
    /// Per store asked, in order: what its answer covered, or `None` when it was missing or
    /// the enclave refused it.
    pub coverage: Vec<Option<Coverage>>,
    /// The blocks the merged answer vouches for.
    pub cover: u64,
}

impl<L: StoreChannels> Stores<L> {
    /// Routes one query: asks every current store ([`Stores::ask`], `seal` sealing `query` on
    /// a channel), hands their answers (`(channel, frame)`, or `None`) and `query` to `merge`
    /// on the blocking pool (an enclave's merge is CPU work), and records what it made of them
    /// ([`Stores::settle`]). When `merge` fails every store counts as unanswered and the cover
    /// stays; `Err` when the merge task itself failed.
    pub async fn route<Q, R, E>(
        &self,
        query: Q,
        seal: impl Fn(&Q, &[u8]) -> Result<Vec<u8>, String>,
        merge: impl FnOnce(Q, &[Option<(&[u8], &[u8])>]) -> Result<Merged<R>, E> + Send + 'static,
    ) -> Result<Result<R, E>, tokio::task::JoinError>
    where
        Q: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let stores = self.current();
        let request_bytes = AtomicU64::new(0);
        let outcomes = self
            .ask(&stores, |channel| {
                let frame = seal(&query, channel)?;
                request_bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
                Ok(frame)
            })
            .await;
        let answer_bytes: u64 = outcomes
            .iter()
            .filter_map(|o| o.exchange.as_ref().map(|(_, f)| f.len() as u64))
            .sum();
        let (outcomes, (merged, took)) = tokio::task::spawn_blocking(move || {
            let answers: Vec<Option<(&[u8], &[u8])>> = outcomes
                .iter()
                .map(|o| {
                    o.exchange
                        .as_ref()
                        .map(|(c, f)| (c.as_slice(), f.as_slice()))
                })
                .collect();
            let started = Instant::now();
            let merged = merge(query, &answers);
            let took = started.elapsed();
            drop(answers);
            (outcomes, (merged, took))
        })
        .await?;
        {
            let mut c = lock(&self.costs);
            c.routed += 1;
            c.merge_ns += u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            c.request_bytes += request_bytes.into_inner();
            c.answer_bytes += answer_bytes;
        }
        Ok(match merged {
            Ok(m) => {
                self.settle(&stores, outcomes, &m.coverage, m.cover);
                Ok(m.answer)
            }
            Err(e) => {
                let none: Vec<Option<Coverage>> = vec![None; stores.len()];
                self.settle(&stores, outcomes, &none, self.cover());
                Err(e)
            }
        })
    }
}

/// A router whose stores can be probed.
pub trait Probe: Send + Sync + 'static {
    /// Asks every store what it covers (a query with no keys); failures are only logged.
    fn probe(&self) -> BoxFuture<'_, ()>;
}

/// What [`RouterAdmin`] runs after a store is added or removed: one probe, as a task.
pub type ProbeHook = Arc<dyn Fn() -> tokio::task::JoinHandle<()> + Send + Sync>;

/// Probes `router`'s stores every `every` until the task is dropped or aborted, so its
/// readiness and per-store metrics follow the stores when no client asks.
pub fn spawn_probes<P: Probe>(router: &Arc<P>, every: Duration) -> tokio::task::JoinHandle<()> {
    let router = Arc::clone(router);
    tokio::spawn(async move {
        loop {
            router.probe().await;
            tokio::time::sleep(every).await;
        }
    })
}

/// The admin API's probe hook for `router`: one probe, as a task.
pub fn probe_hook<P: Probe>(router: &Arc<P>) -> ProbeHook {
    let router = Arc::clone(router);
    Arc::new(move || {
        let router = Arc::clone(&router);
        tokio::spawn(async move { router.probe().await })
    })
}

async fn handshake<L: StoreChannels>(
    link: &L,
    store: &Store,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let (token, hello) = link.initiate()?;
    let mut client = store.client.clone();
    let reply = tokio::time::timeout(timeout, client.auth(AuthMessage { data: hello }))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|s| format!("handshake: {}: {}", s.code(), s.message()))?
        .into_inner();
    link.finish(token, &reply.data)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `fog_router.RouterAdminAPI` over a router's [`Stores`].
pub struct RouterAdmin<L> {
    stores: Arc<Stores<L>>,
    probe: ProbeHook,
}

impl<L: StoreChannels> RouterAdmin<L> {
    /// The admin API of `stores`; `probe` starts a probe of every store (run after a store is
    /// added, so its coverage shows at once).
    pub fn new(stores: Arc<Stores<L>>, probe: ProbeHook) -> Self {
        Self { stores, probe }
    }

    /// The tonic service behind `access`.
    pub fn into_server(
        self,
        access: AdminAccess,
    ) -> tonic::service::interceptor::InterceptedService<RouterAdminApiServer<Self>, AdminAccess>
    {
        RouterAdminApiServer::with_interceptor(self, access)
    }
}

#[tonic::async_trait]
impl<L: StoreChannels> RouterAdminApi for RouterAdmin<L> {
    async fn add_store(
        &self,
        request: Request<AddStoreRequest>,
    ) -> Result<Response<StoresResponse>, Status> {
        let uri = request.into_inner().uri;
        self.stores.add(&uri).map_err(|e| match e {
            RouterError::Duplicate(_) => Status::already_exists(e.to_string()),
            _ => Status::invalid_argument(e.to_string()),
        })?;
        let _ = (self.probe)().await;
        Ok(Response::new(self.stores.statuses()))
    }

    async fn remove_store(
        &self,
        request: Request<RemoveStoreRequest>,
    ) -> Result<Response<StoresResponse>, Status> {
        let uri = request.into_inner().uri;
        if !self.stores.remove(&uri) {
            return Err(Status::not_found(format!("no store {uri}")));
        }
        let _ = (self.probe)().await;
        Ok(Response::new(self.stores.statuses()))
    }

    async fn get_stores(
        &self,
        _request: Request<GetStoresRequest>,
    ) -> Result<Response<StoresResponse>, Status> {
        Ok(Response::new(self.stores.statuses()))
    }
}
