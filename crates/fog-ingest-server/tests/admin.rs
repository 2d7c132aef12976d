//! The admin gRPC API and the metrics endpoint, over loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use fog_api::fog_ingest::{
    ingest_admin_client::IngestAdminClient, GetStatusRequest, RotateEgressKeyRequest,
    SetRetiredRequest,
};
use fog_ingest_server::{admin, IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::MemoryRecoveryDb;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Mutex,
};

#[tokio::test]
async fn status_rotation_retirement_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let config = IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(10),
        ..IngestConfig::default()
    };
    let server = IngestServer::open(
        ledger,
        MemoryRecoveryDb::new(),
        StateDir::new(dir.path().join("state")).unwrap(),
        config,
        Box::new(NoEvidence),
    )
    .await
    .unwrap();
    let shared = Arc::new(Mutex::new(server));
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let service = admin::AdminService::new(shared.clone()).into_server();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc)),
    );
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    tokio::spawn(admin::serve_metrics(metrics, shared.clone()));

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
    assert!(text.contains("fog_ingest_map_load "), "{text}");
    let mut stream = TcpStream::connect(metrics_addr).await.unwrap();
    stream
        .write_all(b"GET /other HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}
