//! The gRPC transport's sessions against a real view server: a session the server dropped
//! is re-authenticated and the call retried once; a call cancelled after sealing its request
//! does not break the next one; a stranger enclave is refused before any request; a closed
//! port is reported as that service being unavailable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{future::Future, sync::Arc, task::Poll, time::Duration};

use fog_attest::{FogEnclave, IdentityRule, Policy, SimProvider, Verifier, VerifyError};
use fog_client::{ClientError, GrpcConfig, GrpcTransport, Service, Transport};
use fog_recovery_db::MemoryRecoveryDb;
use fog_types::view::{QueryRequest, QueryRequestAad};
use fog_view_server::{ViewConfig, ViewServer, ViewService};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn provider(seed: u64) -> (SimProvider, Verifier) {
    let identity = fog_attest::fog_identity(FogEnclave::View);
    let p = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let v = Verifier::new(
        p.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (p, v)
}

/// A view server over an empty recovery DB that keeps one client session at a time.
async fn one_session_view(p: &SimProvider) -> String {
    let config = ViewConfig {
        partitions: 1,
        capacity_per_partition: 1 << 8,
        session_capacity: 1,
        poll_interval: Duration::from_millis(20),
        ..ViewConfig::default()
    };
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&config.enclave(), None).unwrap();
    fog_enclave_api::view::ViewClient::new(enclave.clone())
        .attest(p)
        .unwrap();
    let view = Arc::new(ViewServer::new(
        Arc::new(MemoryRecoveryDb::new()),
        enclave,
        config,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ViewService::new(view).into_server())
            .serve_with_incoming(fog_host::incoming(listener)),
    );
    format!("http://{addr}")
}

fn transport(view_uri: &str, verifier: &Verifier) -> GrpcTransport {
    GrpcTransport::new(GrpcConfig::new(
        view_uri,
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        verifier.clone(),
        verifier.clone(),
    ))
}

async fn query(t: &mut GrpcTransport) -> Result<u64, ClientError> {
    t.view_query(
        QueryRequestAad {
            start_from_user_event_id: 0,
            start_from_block_index: 0,
        },
        QueryRequest::default(),
    )
    .await
    .map(|r| r.highest_processed_block_count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_is_renewed_and_the_call_retried_once() {
    let (p, verifier) = provider(31);
    let uri = one_session_view(&p).await;
    let mut a = transport(&uri, &verifier);
    let mut b = transport(&uri, &verifier);
    assert_eq!(query(&mut a).await.unwrap(), 0);
    assert_eq!(a.stats().round_trips, 2, "handshake and query");
    // B's handshake evicts A's session on the server.
    query(&mut b).await.unwrap();
    query(&mut a).await.unwrap();
    assert_eq!(
        a.stats().round_trips,
        2 + 3,
        "refused query, new handshake, retried query"
    );
    assert_eq!(a.stats().sessions_opened, 2);
    // Nothing changes while the session lives.
    query(&mut a).await.unwrap();
    assert_eq!(a.stats().round_trips, 6);
}

/// A call cancelled once its request is sealed (the session's counter moved, the answer was
/// never read) leaves the session's counters out of step with the server's, whether or not
/// the request reached it. The next call must not fail for that: it opens a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_after_sealing_does_not_break_the_next() {
    let (p, verifier) = provider(34);
    let uri = one_session_view(&p).await;
    let mut a = transport(&uri, &verifier);
    assert_eq!(query(&mut a).await.unwrap(), 0);
    assert_eq!(a.stats().sessions_opened, 1);
    // A call polled once (its request sealed and on its way, the answer awaited), then
    // dropped.
    {
        let mut cancelled = std::pin::pin!(query(&mut a));
        let first = std::future::poll_fn(|cx| Poll::Ready(cancelled.as_mut().poll(cx))).await;
        assert!(
            first.is_pending(),
            "the call did not wait for the network: {first:?}"
        );
    }
    assert_eq!(query(&mut a).await.unwrap(), 0);
    assert_eq!(
        a.stats().sessions_opened,
        2,
        "a new session after the cancelled call"
    );
    // And that session serves the next call.
    query(&mut a).await.unwrap();
    assert_eq!(a.stats().sessions_opened, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_service() {
    let (p, _) = provider(32);
    let uri = one_session_view(&p).await;
    // A client that trusts another quoting key.
    let (_, stranger) = provider(33);
    let mut t = transport(&uri, &stranger);
    let e = query(&mut t).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Attestation {
                service: Service::View,
                source: fog_attest::Error::Evidence(VerifyError::BadSignature),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("fog view"), "{e}");
    assert_eq!(
        t.stats().round_trips,
        1,
        "no request after a refused handshake"
    );

    // Every other service of this transport is on a closed port.
    let e = t.get_blocks(Default::default()).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Unavailable { service: Service::Blocks, uri, .. } if uri == "http://127.0.0.1:1"),
        "{e}"
    );
    let e = t.ledger_info().await.unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Unavailable {
                service: Service::Node,
                ..
            }
        ),
        "{e}"
    );
    let e = t.get_reports("fog://").await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidRequest(_)), "{e}");
}
