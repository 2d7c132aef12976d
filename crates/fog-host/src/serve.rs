//! One way to serve a gRPC service: limits, health, the operations endpoint, shutdown.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::{incoming, observe::Observe, ops::serve_ops};

/// How much one service takes on at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A call that takes longer is given up (the client gets CANCELLED, "Timeout
    /// expired"). Default 60 s.
    pub request_timeout: Duration,
    /// Calls in progress across all connections; more wait their turn. Default 256.
    pub max_concurrent_requests: usize,
    /// Calls in progress on one connection. Default 32.
    pub max_concurrent_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            max_concurrent_requests: 256,
            max_concurrent_per_connection: 32,
        }
    }
}

/// What [`serve`] serves.
pub struct Serve {
    /// The metric name prefix, e.g. `fog_view`.
    pub prefix: &'static str,
    /// The gRPC listener.
    pub grpc: TcpListener,
    /// The operations endpoint's listener (`/metrics`, `/ready`, `/live`), if any.
    pub ops: Option<TcpListener>,
    /// The request limits.
    pub limits: Limits,
    /// The gRPC service names whose health follows readiness (the empty name, the server
    /// as a whole, always does).
    pub health_names: Vec<&'static str>,
    /// How often readiness is checked for gRPC health. Default 1 s.
    pub health_interval: Duration,
    /// The browser origins (`http(s)://host[:port]`) whose pages may call the service over
    /// grpc-web (CORS). Default: the process-wide list ([`crate::allow_web_origin`]).
    pub web_origins: Vec<String>,
}

impl Serve {
    /// `grpc` with default limits, no operations endpoint, health for the server as a whole.
    pub fn new(prefix: &'static str, grpc: TcpListener) -> Self {
        Self {
            prefix,
            grpc,
            ops: None,
            limits: Limits::default(),
            health_names: Vec::new(),
            health_interval: Duration::from_secs(1),
            web_origins: crate::process_web_origins(),
        }
    }
}

/// Serves `routes` on `spec.grpc` with the request limits (a timeout and concurrency limits as
/// tower layers) and `grpc.health.v1.Health` beside them, whose status is SERVING while
/// `observer` says ready (checked every `health_interval`); serves the operations endpoint on
/// `spec.ops`; all until `shutdown` completes, then stops taking calls and lets those in
/// flight finish. Every service answers grpc-web too (HTTP/1.1 is accepted beside HTTP/2),
/// with CORS for `spec.web_origins` (the `web` module).
pub async fn serve(
    spec: Serve,
    routes: Routes,
    observer: Arc<dyn Observe>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (reporter, health) = tonic_health::server::health_reporter();
    let names: Vec<String> = std::iter::once(String::new())
        .chain(spec.health_names.iter().map(|s| s.to_string()))
        .collect();
    for name in &names {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    let health_task = {
        let observer = Arc::clone(&observer);
        let mut stop = stop_rx.clone();
        let every = spec.health_interval;
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let ready = observer.observe().await.readiness;
                if last != Some(ready.ready) {
                    let status = if ready.ready {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    tracing::info!(ready = ready.ready, detail = %ready.detail, "readiness");
                    for name in &names {
                        reporter.set_service_status(name, status).await;
                    }
                    last = Some(ready.ready);
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    };
    let ops_task = spec.ops.map(|listener| {
        tokio::spawn(serve_ops(
            listener,
            spec.prefix,
            Arc::clone(&observer),
            stopped(stop_rx.clone()),
        ))
    });
    let limits = spec.limits;
    let served = tonic::transport::Server::builder()
        .accept_http1(true)
        .timeout(limits.request_timeout)
        .concurrency_limit_per_connection(limits.max_concurrent_per_connection)
        // Outermost first: a browser's request from an origin not allowed is refused, CORS
        // answers preflights, then grpc-web becomes gRPC.
        .layer(crate::origin_guard_layer(&spec.web_origins))
        .layer(crate::cors_layer(&spec.web_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ))
        .add_routes(routes)
        .add_service(health)
        .serve_with_incoming_shutdown(incoming(spec.grpc), shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = health_task.await;
    if let Some(t) = ops_task {
        let _ = t.await;
    }
    served
}

/// Runs `refresh` every `every` until the task is dropped or aborted, logging failures (the
/// attestation evidence of an enclave: verifiers refuse evidence older than their limit).
pub fn spawn_refresh(
    every: Duration,
    what: &'static str,
    refresh: impl Fn() -> Result<(), String> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match refresh() {
                Ok(()) => tracing::debug!(what, "refreshed"),
                Err(e) => tracing::warn!(what, error = %e, "refresh failed"),
            }
        }
    })
}
