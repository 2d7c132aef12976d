#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod observe;
mod ops;
mod serve;
mod web;

use std::future::Future;

pub use observe::{encode, All, BoxFuture, Metric, Observation, Observe, Readiness, Value};
pub use ops::{serve_ops, CONNECTION_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use serve::{serve, spawn_refresh, Limits, Serve};
pub use tonic::service::Routes;
pub use web::{
    allow_web_origin, check_web_origin, cors_layer, origin_guard_layer, process_web_origins,
    OriginGuard,
};

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// The connections `listener` accepts, for `Server::serve_with_incoming*`, with
/// `TCP_NODELAY` on each (answers leave at once, not after the peer's delayed ACK).
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM: how every long-running service is
/// stopped. The handlers are installed by this call, not when the future is first polled, so
/// a process that calls it before it says it is listening cannot be killed by a signal sent
/// right after that line. Needs a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! {
                        _ = i.recv() => {}
                        _ = t.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs (`tracing`, INFO and above) to stderr without colours. A second call does nothing.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .try_init();
}
