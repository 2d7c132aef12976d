//! The operations endpoint, gRPC health and the request limits, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use fog_api::fog_node::{
    ledger_node_client::LedgerNodeClient,
    ledger_node_server::{LedgerNode, LedgerNodeServer},
    GetBlocksRequest, GetBlocksResponse, GetLedgerInfoRequest, LedgerInfo, SubmitTxRequest,
    SubmitTxResponse,
};
use fog_host::{BoxFuture, Limits, Observation, Observe, Readiness, Serve, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Notify,
};
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

#[derive(Default)]
struct Toy {
    ready: AtomicBool,
    requests: AtomicU64,
}

impl Observe for Toy {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move {
            let mut o = Observation::new(if self.ready.load(Ordering::SeqCst) {
                Readiness::ready("caught up")
            } else {
                Readiness::not_ready("loading: 3 blocks behind")
            });
            o.counter(
                "requests",
                "Requests.",
                self.requests.load(Ordering::SeqCst),
            )
            .gauge("blocks", "Blocks.", 12)
            .gauge_f("load", "Load.", 0.25)
            .push(
                "errors",
                "Errors by code.",
                Value::Counters("code", vec![("internal", 2), ("unavailable", 0)]),
            )
            .push(
                "sizes",
                "Sizes.",
                Value::Histogram {
                    buckets: vec![(1.0, 1), (10.0, 2), (100.0, 0)],
                    sum: 15.0,
                    count: 3,
                },
            );
            o
        })
    }
}

async fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test]
async fn the_operations_endpoint_answers_metrics_readiness_and_liveness() {
    let toy = Arc::new(Toy::default());
    toy.requests.store(3, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(fog_host::serve_ops(
        listener,
        "toy",
        toy.clone(),
        std::future::pending(),
    ));

    let metrics = get(addr, "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(metrics.contains("text/plain; version=0.0.4"), "{metrics}");
    for line in [
        "# TYPE toy_requests_total counter\n",
        "toy_requests_total 3\n",
        "toy_blocks 12\n",
        "toy_load 0.25\n",
        "toy_errors_total{code=\"internal\"} 2\n",
        "toy_errors_total{code=\"unavailable\"} 0\n",
        "# TYPE toy_sizes histogram\n",
        "toy_sizes_sum 15.0\n",
        "toy_sizes_count 3\n",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from {metrics}");
    }
    // Buckets are cumulative on the wire.
    assert!(
        metrics.contains("toy_sizes_bucket{le=\"10\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("toy_sizes_bucket{le=\"+Inf\"} 3\n"),
        "{metrics}"
    );

    let ready = get(addr, "GET /ready HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready.ends_with("not ready: loading: 3 blocks behind\n"),
        "{ready}"
    );
    toy.ready.store(true, Ordering::SeqCst);
    let ready = get(addr, "GET /ready HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.ends_with("ready: caught up\n"), "{ready}");
    let live = get(addr, "GET /live HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    let other = get(addr, "GET /other HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let post = get(
        addr,
        "POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let garbage = get(addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage:?}"
    );

    // A client that sends nothing is cut off (after HEADER_TIMEOUT, not held forever).
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(fog_host::HEADER_TIMEOUT * 4, idle.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "an idle connection stays open");
}

/// A `LedgerNode` whose `GetBlocks` waits for a permit, and whose `GetLedgerInfo` never
/// answers.
struct Slow {
    go: Arc<Notify>,
    entered: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl LedgerNode for Slow {
    async fn submit_tx(
        &self,
        _: tonic::Request<SubmitTxRequest>,
    ) -> Result<tonic::Response<SubmitTxResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }
    async fn get_ledger_info(
        &self,
        _: tonic::Request<GetLedgerInfoRequest>,
    ) -> Result<tonic::Response<LedgerInfo>, tonic::Status> {
        std::future::pending().await
    }
    async fn get_blocks(
        &self,
        _: tonic::Request<GetBlocksRequest>,
    ) -> Result<tonic::Response<GetBlocksResponse>, tonic::Status> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.go.notified().await;
        Ok(tonic::Response::new(GetBlocksResponse::default()))
    }
}

#[tokio::test]
async fn grpc_health_follows_readiness_and_the_limits_hold() {
    let toy = Arc::new(Toy::default());
    let go = Arc::new(Notify::new());
    let entered = Arc::new(AtomicU64::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut spec = Serve::new("toy", listener);
    spec.health_names = vec!["fog_node.LedgerNode"];
    spec.health_interval = Duration::from_millis(20);
    spec.limits = Limits {
        request_timeout: Duration::from_millis(500),
        max_concurrent_requests: 1,
        ..Limits::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fog_host::serve(
        spec,
        fog_host::Routes::new(LedgerNodeServer::new(Slow {
            go: go.clone(),
            entered: entered.clone(),
        })),
        toy.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = |name: &str| {
        let mut health = health.clone();
        let name = name.to_string();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest { service: name })
                .await
                .unwrap()
                .into_inner()
                .status()
        }
    };
    assert_eq!(status("").await, ServingStatus::NotServing);
    toy.ready.store(true, Ordering::SeqCst);
    for name in ["", "fog_node.LedgerNode"] {
        let mut tries = 0;
        while status(name).await != ServingStatus::Serving {
            tries += 1;
            assert!(tries < 500, "health never turned SERVING for {name:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.Such".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // A call that takes too long is given up.
    let mut client = LedgerNodeClient::connect(url.clone()).await.unwrap();
    let err = client
        .get_ledger_info(GetLedgerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Cancelled, "{err}");

    // One call at a time: the second waits for the first.
    let first = tokio::spawn({
        let mut c = client.clone();
        async move { c.get_blocks(GetBlocksRequest::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn({
        let mut c = client.clone();
        async move { c.get_blocks(GetBlocksRequest::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        entered.load(Ordering::SeqCst),
        1,
        "the second call ran beside the first"
    );
    go.notify_one();
    first.await.unwrap().unwrap();
    while entered.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    go.notify_one();
    second.await.unwrap().unwrap();

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
