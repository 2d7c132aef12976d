//! The admin gRPC API and the metrics endpoint, over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{sync::Arc, time::Duration};

use fog_api::fog_ingest::{
    ingest_admin_client::IngestAdminClient, GetStatusRequest, ReportLostIngressKeyRequest,
    RotateEgressKeyRequest, SetRetiredRequest,
};
use fog_crypto::{kex_rng::KexRngPubkey, CompressedRistrettoPublic, RistrettoPrivate};
use fog_ingest_server::{admin, IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{
    BlockIndex, BlockRange, FogUserEvent, MemoryRecoveryDb, RecoveryDb, ReportData, ReportDb,
    UserEventId,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Mutex,
};
use tonic::Code;

#[tokio::test]
async fn status_rotation_retirement_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let config = IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(10),
        // Two threads lent to the enclave, whatever this machine's cores.
        worker_threads: 2,
        ..IngestConfig::default()
    };
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger,
        MemoryRecoveryDb::new(),
        state,
        config,
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let shared = Arc::new(Mutex::new(server));
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let access = admin::AdminAccess::for_address(grpc_addr, None).unwrap();
    let service = admin::AdminService::new(shared.clone()).into_server(access);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(fog_host::incoming(grpc)),
    );
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    tokio::spawn(fog_host::serve_ops(
        metrics,
        admin::PREFIX,
        Arc::new(admin::IngestObserver(shared.clone())),
        std::future::pending(),
    ));

    let mut client = IngestAdminClient::connect(format!("http://{grpc_addr}"))
        .await
        .unwrap();
    let before = client
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.next_block, 0);
    assert_eq!(before.ingress_public_key.len(), 32);
    assert!(!before.retired);
    let rotated = client
        .rotate_egress_key(RotateEgressKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.egress_public_key, before.egress_public_key);
    assert!(rotated.ingest_invocation_id > before.ingest_invocation_id);
    let retired = client
        .set_retired(SetRetiredRequest { retired: true })
        .await
        .unwrap()
        .into_inner();
    assert!(retired.retired);
    let back = client
        .set_retired(SetRetiredRequest { retired: false })
        .await
        .unwrap()
        .into_inner();
    assert!(!back.retired);

    let mut stream = TcpStream::connect(metrics_addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("fog_ingest_next_block 0"), "{text}");
    assert!(text.contains("fog_ingest_map_load_percent 0"), "{text}");
    assert!(text.contains("fog_ingest_worker_threads 2"), "{text}");
    let mut stream = TcpStream::connect(metrics_addr).await.unwrap();
    stream
        .write_all(b"GET /other HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

/// The missed-block ranges among all user events.
async fn missing_ranges(db: &MemoryRecoveryDb) -> Vec<BlockRange> {
    let (events, _) = db.search_user_events(UserEventId::START).await.unwrap();
    events
        .into_iter()
        .filter_map(|e| match e {
            FogUserEvent::MissingBlocks(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn report_lost_ingress_key_becomes_a_missed_range() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let db = MemoryRecoveryDb::new();
    // Another ingest's key: it scanned blocks 0..=2 and published reports up to block 20,
    // then died with its private key.
    let lost = CompressedRistrettoPublic::from(&RistrettoPrivate::random(&mut rng).public_key());
    db.new_ingress_key(&lost, BlockIndex(0)).await.unwrap();
    let egress = KexRngPubkey {
        public_key: RistrettoPrivate::random(&mut rng)
            .public_key()
            .to_bytes()
            .to_vec(),
        version: 0,
    };
    let inv = db
        .new_ingest_invocation(None, &lost, &egress, BlockIndex(0))
        .await
        .unwrap();
    let report = ReportData {
        ingest_invocation_id: Some(inv),
        evidence: vec![1],
        pubkey_expiry: BlockIndex(20),
    };
    db.set_report(&lost, "lost", &report).await.unwrap();
    for block in 0..3u64 {
        db.add_block_data(inv, BlockIndex(block), block + 1, 0, &[])
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let config = IngestConfig {
        user_capacity: 1 << 10,
        ..IngestConfig::default()
    };
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open(
        ledger,
        db.clone(),
        state,
        config,
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    // This server's key takes over after the highest known block and publishes a report
    // (expiry 3 + 10).
    server.publish_report().await.unwrap();
    let own = server.ingress_public_key().to_bytes();
    let shared = Arc::new(Mutex::new(server));
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                admin::AdminService::new(shared.clone())
                    .into_server(admin::AdminAccess::for_address(grpc_addr, None).unwrap()),
            )
            .serve_with_incoming(fog_host::incoming(grpc)),
    );
    let mut client = IngestAdminClient::connect(format!("http://{grpc_addr}"))
        .await
        .unwrap();
    let status = client
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.next_block, 3);
    assert_eq!(status.pubkey_expiry, 13);
    let events_before = db.search_user_events(UserEventId::START).await.unwrap();

    let call = |key: Vec<u8>| ReportLostIngressKeyRequest { key };
    // Wrong length.
    let err = client
        .report_lost_ingress_key(call(lost.0[..31].to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("31"), "{err:?}");
    let err = client
        .report_lost_ingress_key(call(Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // A key the recovery DB does not know.
    let err = client
        .report_lost_ingress_key(call(vec![5; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // This server's own key, active, then retired but not past its expiry (block 13).
    let err = client
        .report_lost_ingress_key(call(own.to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    client
        .set_retired(SetRetiredRequest { retired: true })
        .await
        .unwrap();
    let err = client
        .report_lost_ingress_key(call(own.to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    client
        .set_retired(SetRetiredRequest { retired: false })
        .await
        .unwrap();
    // The refusals changed nothing.
    assert_eq!(
        db.search_user_events(UserEventId::START).await.unwrap(),
        events_before
    );
    let own_status = db
        .get_ingress_key_status(&CompressedRistrettoPublic(own))
        .await
        .unwrap()
        .unwrap();
    assert!(!own_status.lost && !own_status.retired);
    assert!(
        !db.get_ingress_key_status(&lost)
            .await
            .unwrap()
            .unwrap()
            .lost
    );

    // The lost key: blocks 3..20 were promised and never scanned.
    client
        .report_lost_ingress_key(call(lost.0.to_vec()))
        .await
        .unwrap();
    assert!(
        db.get_ingress_key_status(&lost)
            .await
            .unwrap()
            .unwrap()
            .lost
    );
    let expected = vec![BlockRange::new(BlockIndex(3), BlockIndex(20)).unwrap()];
    assert_eq!(missing_ranges(&db).await, expected);
    let (after, _) = db.search_user_events(events_before.1).await.unwrap();
    assert_eq!(after, vec![FogUserEvent::MissingBlocks(expected[0])]);
    // Reporting it again adds nothing.
    client
        .report_lost_ingress_key(call(lost.0.to_vec()))
        .await
        .unwrap();
    assert_eq!(missing_ranges(&db).await, expected);
    // This server still scans; its key is untouched.
    assert!(
        !db.get_ingress_key_status(&CompressedRistrettoPublic(own))
            .await
            .unwrap()
            .unwrap()
            .lost
    );
}

#[tokio::test]
async fn admin_api_off_loopback_needs_a_token_and_refuses_a_wrong_one() {
    // Not loopback, no token: no access policy, so no server.
    let open: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(
        admin::AdminAccess::for_address(open, None),
        Err(admin::AdminError::TokenRequired(_))
    ));
    assert!(admin::AdminToken::new("short").is_err());
    let token = admin::AdminToken::new("correct-horse-battery-staple\n").unwrap();
    assert_eq!(format!("{token:?}"), "AdminToken(..)");
    let access = admin::AdminAccess::for_address(open, Some(token)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger,
        MemoryRecoveryDb::new(),
        state,
        IngestConfig::default(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let shared = Arc::new(Mutex::new(server));
    // Bound to loopback for the test; the policy is the one for an open address.
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(admin::AdminService::new(shared.clone()).into_server(access))
            .serve_with_incoming(fog_host::incoming(grpc)),
    );
    let mut client = IngestAdminClient::connect(format!("http://{grpc_addr}"))
        .await
        .unwrap();
    let with = |value: Option<&str>| {
        let mut r = tonic::Request::new(SetRetiredRequest { retired: true });
        if let Some(v) = value {
            r.metadata_mut().insert("authorization", v.parse().unwrap());
        }
        r
    };
    for bad in [
        None,
        Some("Bearer correct-horse-battery-stapl"),
        Some("Bearer correct-horse-battery-staple-and-more"),
        Some("correct-horse-battery-staple"),
        Some("Basic correct-horse-battery-staple"),
    ] {
        let err = client.set_retired(with(bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{bad:?}: {err:?}");
        assert!(!err.message().contains("staple"), "{err:?}");
    }
    assert!(
        !shared
            .lock()
            .await
            .key_status()
            .await
            .unwrap()
            .unwrap()
            .retired,
        "a refused call changed nothing"
    );
    let ok = client
        .set_retired(with(Some("Bearer correct-horse-battery-staple")))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.retired);
}
