//! The operations endpoint: `/metrics`, `/ready` and `/live` over HTTP/1.1 (hyper).

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};

use crate::observe::{encode, Observe};

/// The longest a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one connection may stay open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 32;

const TEXT: &str = "text/plain; charset=utf-8";
const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

fn answer(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

async fn handle(
    request: Request<Incoming>,
    prefix: Arc<str>,
    observer: Arc<dyn Observe>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET {
        return Ok(answer(405, TEXT, "only GET\n".into()));
    }
    Ok(match request.uri().path() {
        "/metrics" => {
            let o = observer.observe().await;
            answer(200, METRICS, encode(&prefix, &o.metrics))
        }
        "/ready" => {
            let r = observer.observe().await.readiness;
            let (status, word) = if r.ready {
                (200, "ready")
            } else {
                (503, "not ready")
            };
            answer(status, TEXT, format!("{word}: {}\n", r.detail))
        }
        "/live" => answer(200, TEXT, "live\n".into()),
        _ => answer(404, TEXT, "not found: /metrics, /ready, /live\n".into()),
    })
}

/// Serves `/metrics` (Prometheus text, names prefixed `prefix_`), `/ready` (200 or 503, with
/// the readiness detail) and `/live` (200 while the process runs) on `listener` until
/// `shutdown` completes. Slow or idle clients are cut off ([`HEADER_TIMEOUT`],
/// [`CONNECTION_TIMEOUT`]); at most [`MAX_CONNECTIONS`] are served at once.
pub async fn serve_ops(
    listener: TcpListener,
    prefix: &str,
    observer: Arc<dyn Observe>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let prefix: Arc<str> = Arc::from(prefix);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (prefix, observer) = (Arc::clone(&prefix), Arc::clone(&observer));
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                handle(request, Arc::clone(&prefix), Arc::clone(&observer))
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(permit);
        });
    }
}
