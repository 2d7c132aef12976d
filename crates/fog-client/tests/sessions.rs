//! Session reuse by the gRPC transport, through whole balance checks against a real view
//! server: consecutive checks of one client share one attested session; a session the server
//! let expire is reopened without the check failing; transports that share connections still
//! authenticate each on its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use fog_account::AccountKey;
use fog_attest::{FogEnclave, IdentityRule, Policy, SessionLimits, SimProvider, Verifier};
use fog_client::{AccountState, ClientConfig, FogClient, GrpcConfig, GrpcTransport};
use fog_recovery_db::MemoryRecoveryDb;
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

/// A view server over an empty recovery DB whose enclave keeps sessions under `limits`.
async fn view(p: &SimProvider, limits: SessionLimits) -> String {
    let config = ViewConfig {
        partitions: 1,
        capacity_per_partition: 1 << 8,
        session_capacity: 16,
        poll_interval: Duration::from_millis(20),
        ..ViewConfig::default()
    };
    let mut enclave_config = config.enclave();
    enclave_config.session_limits = limits;
    let enclave =
        fog_enclave::boundary::view::ViewBoundary::simulated(&enclave_config, None).unwrap();
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

/// A client of a fresh account without fog (its checks ask view only: nothing to find, no
/// key image to check).
fn client(transport: GrpcTransport, verifier: &Verifier, seed: u64) -> FogClient<GrpcTransport> {
    let account = AccountKey::random(&mut ChaCha20Rng::seed_from_u64(seed));
    FogClient::new(
        transport,
        account,
        AccountState::new(),
        ClientConfig::new(verifier.clone()),
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_checks_open_one_session() {
    let (p, verifier) = provider(41);
    let uri = view(&p, SessionLimits::default()).await;
    let mut c = client(transport(&uri, &verifier), &verifier, 1);
    c.check_balance().await.unwrap();
    let first = c.transport().stats();
    assert_eq!(first.sessions_opened, 1);
    assert!(first.round_trips >= 2, "a handshake and a query");
    for _ in 0..3 {
        c.check_balance().await.unwrap();
    }
    let after = c.transport().stats();
    assert_eq!(after.sessions_opened, 1, "the session is reused");
    assert!(after.round_trips >= first.round_trips + 3);

    // Another client over the same connections has a session of its own.
    let mut other = client(c.transport().share_connections(), &verifier, 2);
    assert_eq!(other.transport().stats().sessions_opened, 0);
    other.check_balance().await.unwrap();
    other.check_balance().await.unwrap();
    assert_eq!(other.transport().stats().sessions_opened, 1);
    c.check_balance().await.unwrap();
    assert_eq!(c.transport().stats().sessions_opened, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_let_expire_is_reopened_transparently() {
    let (p, verifier) = provider(42);
    // The enclave refuses a session idle for more than a second.
    let uri = view(
        &p,
        SessionLimits {
            max_age_secs: 3600,
            idle_secs: 1,
        },
    )
    .await;
    let mut c = client(transport(&uri, &verifier), &verifier, 3);
    c.check_balance().await.unwrap();
    c.check_balance().await.unwrap();
    assert_eq!(c.transport().stats().sessions_opened, 1);
    let before = c.transport().stats().round_trips;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // The check succeeds: the refused query, a new handshake, the query again.
    c.check_balance().await.unwrap();
    let stats = c.transport().stats();
    assert_eq!(stats.sessions_opened, 2);
    assert!(stats.round_trips >= before + 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_expired_on_the_client_side_is_reopened_before_sending() {
    let (p, verifier) = provider(43);
    let uri = view(&p, SessionLimits::default()).await;
    let mut config = GrpcConfig::new(
        uri,
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        verifier.clone(),
        verifier.clone(),
    );
    config.session_limits = SessionLimits {
        max_age_secs: 3600,
        idle_secs: 1,
    };
    let mut c = client(GrpcTransport::new(config), &verifier, 4);
    c.check_balance().await.unwrap();
    let first = c.transport().stats();
    assert_eq!(first.sessions_opened, 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    c.check_balance().await.unwrap();
    let stats = c.transport().stats();
    assert_eq!(stats.sessions_opened, 2);
    // No frame was sent on the expired session: a handshake and the check's requests only.
    assert_eq!(
        stats.round_trips - first.round_trips,
        first.round_trips,
        "{stats:?}"
    );
}
