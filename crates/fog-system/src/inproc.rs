//! The services started in this process, each as tasks on the current Tokio runtime: how
//! `fogd local-network` runs them, and how the client's and the wallet's end-to-end tests
//! do. The caller builds each server with the configuration it wants; these functions serve
//! it the one way `fog_host` serves every service, and hand back a [`Running`] that stops it.

use std::{future::Future, sync::Arc, time::Duration};

use fog_ingest_server::{admin, IngestServer};
use fog_ledger_server::LedgerServer;
use fog_node::Node;
use fog_recovery_db::RecoveryDb;
use fog_report_server::{ReportSource, SigningConfig};
use fog_view_server::{ViewServer, ViewService};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// How long [`Running::stop`] waits for a service's tasks.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A service running as tasks. [`Running::stop`] shuts it down and waits for them; dropping
/// it also shuts it down, without waiting.
pub struct Running {
    name: &'static str,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<Result<(), String>>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A shutdown future and the sender that resolves it (as does dropping the sender).
fn signal() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

impl Running {
    fn one(
        name: &'static str,
        start: impl FnOnce(
            std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> JoinHandle<Result<(), String>>,
    ) -> Self {
        let (stop, shutdown) = signal();
        Self {
            name,
            stop: vec![stop],
            tasks: vec![start(Box::pin(shutdown))],
        }
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs until `shutdown` completes or a task ends by itself (a failure), then stops
    /// every task: what a `fogd` service command does until SIGTERM.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), String> {
        tokio::pin!(shutdown);
        let ended = loop {
            tokio::select! {
                () = &mut shutdown => break false,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if self.is_finished() {
                        break true;
                    }
                }
            }
        };
        let name = self.name;
        let stopped = self.stop().await;
        match (ended, stopped) {
            (_, Err(e)) => Err(e),
            (true, Ok(())) => Err(format!("{name} stopped by itself")),
            (false, Ok(())) => Ok(()),
        }
    }

    /// Whether a task ended (a service that stops by itself has failed).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().any(JoinHandle::is_finished)
    }

    /// Signals shutdown and waits (at most [`STOP_TIMEOUT`]) until every task has returned:
    /// the service's listener is closed when this returns. The first error, if any.
    pub async fn stop(self) -> Result<(), String> {
        for s in self.stop {
            let _ = s.send(());
        }
        let mut result = Ok(());
        for t in self.tasks {
            let outcome = match tokio::time::timeout(STOP_TIMEOUT, t).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(format!("a task failed: {e}")),
                Err(_) => Err(format!("did not stop within {} s", STOP_TIMEOUT.as_secs())),
            };
            if let Err(e) = outcome {
                result = result.and(Err(format!("{}: {e}", self.name)));
            }
        }
        result
    }
}

/// The ledger node: its block cutter and `fog_node.LedgerNode` on `listener`.
pub fn node(node: Arc<Node>, listener: TcpListener) -> Running {
    node_with(
        node,
        fog_host::Serve::new(fog_node::METRICS_PREFIX, listener),
    )
}

/// [`node`] as `spec` says (limits, an operations endpoint).
pub fn node_with(node: Arc<Node>, spec: fog_host::Serve) -> Running {
    Running::one("ledger node", |s| {
        tokio::spawn(async move {
            fog_node::run_spec(spec, node, s)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Ingest following its ledger, and, with `admin`, its admin API (`fog_ingest.IngestAdmin`,
/// loopback access only) on that listener.
pub fn ingest<D: RecoveryDb>(
    server: Arc<tokio::sync::Mutex<IngestServer<D>>>,
    admin: Option<TcpListener>,
) -> Result<Running, String> {
    let Some(listener) = admin else {
        return Ok(ingest_with(server, None));
    };
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let access = admin::AdminAccess::for_address(addr, None).map_err(|e| e.to_string())?;
    Ok(ingest_with(
        server,
        Some(Admin {
            spec: fog_host::Serve::new(admin::PREFIX, listener),
            access,
            observers: Vec::new(),
        }),
    ))
}

/// How ingest's admin API is served.
pub struct Admin {
    /// Its listener, limits and operations endpoint.
    pub spec: fog_host::Serve,
    /// Who may call it.
    pub access: admin::AdminAccess,
    /// Observed beside ingest (its ledger follower): ready when all are.
    pub observers: Vec<Arc<dyn fog_host::Observe>>,
}

/// [`ingest`] with the admin API as `admin` says.
pub fn ingest_with<D: RecoveryDb>(
    server: Arc<tokio::sync::Mutex<IngestServer<D>>>,
    admin: Option<Admin>,
) -> Running {
    let mut running = Running::one("ingest", |s| {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            IngestServer::run_shared(server, s)
                .await
                .map_err(|e| e.to_string())
        })
    });
    if let Some(Admin {
        mut spec,
        access,
        observers,
    }) = admin
    {
        let service = admin::AdminService::new(Arc::clone(&server)).into_server(access);
        // Peers reach the peer API without the admin token: it carries public status and
        // attested enclave messages only.
        let peer = fog_ingest_server::cluster::PeerService::new(Arc::clone(&server)).into_server();
        let mut all: Vec<Arc<dyn fog_host::Observe>> =
            vec![Arc::new(admin::IngestObserver(server))];
        all.extend(observers);
        if spec.health_names.is_empty() {
            spec.health_names = vec!["fog_ingest.IngestAdmin"];
        }
        let (stop, shutdown) = signal();
        running.stop.push(stop);
        running.tasks.push(tokio::spawn(async move {
            fog_host::serve(
                spec,
                fog_host::Routes::new(service).add_service(peer),
                Arc::new(fog_host::All(all)),
                shutdown,
            )
            .await
            .map_err(|e| e.to_string())
        }));
    }
    running
}

/// View: its loader following the recovery DB, and `fog_view.FogViewAPI` on `listener`.
pub fn view<D: RecoveryDb>(view: Arc<ViewServer<D>>, listener: TcpListener) -> Running {
    view_with(
        view,
        fog_host::Serve::new(fog_view_server::metrics::PREFIX, listener),
    )
}

/// [`view`] as `spec` says (limits, an operations endpoint).
pub fn view_with<D: RecoveryDb>(view: Arc<ViewServer<D>>, mut spec: fog_host::Serve) -> Running {
    if spec.health_names.is_empty() {
        spec.health_names = vec!["fog_view.FogViewAPI"];
    }
    let (stop_loading, loading) = signal();
    let (stop_serving, serving) = signal();
    let loader = tokio::spawn({
        let view = Arc::clone(&view);
        async move {
            view.run(loading).await;
            Ok(())
        }
    });
    let service = ViewService::new(Arc::clone(&view)).into_server();
    // Routers reach the store API beside the client API (refused while the enclave has no
    // router link).
    let store = fog_view_server::StoreService::new(Arc::clone(&view)).into_server();
    let server = tokio::spawn(async move {
        fog_host::serve(
            spec,
            fog_host::Routes::new(service).add_service(store),
            view,
            serving,
        )
        .await
        .map_err(|e| e.to_string())
    });
    Running {
        name: "view",
        stop: vec![stop_serving, stop_loading],
        tasks: vec![server, loader],
    }
}

/// Fog ledger: following its ledger DB into the key-image store, and its four services on
/// `listener` (with the store API for ledger routers; a ledger router's server serves the
/// four, its key-image checks answered by its stores).
pub fn fog_ledger(server: Arc<LedgerServer>, listener: TcpListener) -> Running {
    fog_ledger_with(
        server,
        fog_host::Serve::new(fog_ledger_server::metrics::PREFIX, listener),
        Vec::new(),
    )
}

/// [`fog_ledger`] as `spec` says, with `observers` beside the server (its ledger follower:
/// ready when all are).
pub fn fog_ledger_with(
    server: Arc<LedgerServer>,
    spec: fog_host::Serve,
    observers: Vec<Arc<dyn fog_host::Observe>>,
) -> Running {
    Running::one("fog ledger", |s| {
        tokio::spawn(async move {
            fog_ledger_server::run_with(server, spec, observers, s)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// The report service: `source`'s reports signed with `signing`, on `listener`.
pub fn report<S: ReportSource>(
    listener: TcpListener,
    source: Arc<S>,
    signing: SigningConfig,
) -> Running {
    report_with(
        fog_host::Serve::new(fog_report_server::METRICS_PREFIX, listener),
        source,
        signing,
    )
}

/// [`report`] as `spec` says (limits, an operations endpoint).
pub fn report_with<S: ReportSource>(
    spec: fog_host::Serve,
    source: Arc<S>,
    signing: SigningConfig,
) -> Running {
    Running::one("report", |s| {
        tokio::spawn(async move {
            fog_report_server::serve_spec(spec, source, signing, s)
                .await
                .map_err(|e| e.to_string())
        })
    })
}
