//! The report server end to end: a new authority on disk, a report in the in-memory source,
//! `GetReports` over gRPC on a port-0 listener, and the sender's validation of the answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_account::AccountKey;
use fog_api::report::report_api_client::ReportApiClient;
use fog_attest::wire::ReportRequest;
use fog_attest::*;
use fog_crypto::RistrettoPrivate;
use fog_report_server::authority::new_authority;
use fog_report_server::{serve, InMemoryReportSource, SigningConfig};
use rand::SeedableRng;
use std::sync::Arc;

#[tokio::test]
async fn a_sender_validates_what_the_server_serves() {
    let seed = 4242u64;
    println!("rng seed {seed}");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let files = new_authority(dir.path(), "Test fog", 30).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["leaf.key", "intermediate.key", "root.key"] {
            let mode = std::fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
    // Refuses to overwrite.
    assert!(new_authority(dir.path(), "Test fog", 30).is_err());
    let hex = std::fs::read_to_string(dir.path().join("root.spki.hex")).unwrap();
    assert_eq!(hex.trim().len(), 88);

    // An ingest enclave's report.
    let identity = EnclaveIdentity {
        measurement: Measurement([3; 32]),
        signer_id: SignerId([4; 32]),
        product_id: 1,
        security_version: 1,
        config_id: ConfigId([0; 64]),
    };
    let provider = SimProvider::generate(&mut rng, identity);
    let ingress = RistrettoPrivate::random(&mut rng);
    let channel = ChannelKeypair::generate().unwrap();
    let ingress_bytes = ingress.public_key().to_bytes();
    let rd = ReportData::bind(channel.public_key(), Some(&ingress_bytes));
    let report = Report {
        fog_report_id: "".into(),
        evidence: BoundEvidence {
            evidence: provider.evidence(&rd).unwrap(),
            channel_key: *channel.public_key(),
            custom_identity: Some(ingress_bytes),
        },
        pubkey_expiry: 500,
    };
    let source = Arc::new(InMemoryReportSource::new());
    source.set(report);

    let signing = SigningConfig::load(&files.chain_pem, &files.leaf_key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, source.clone(), signing, async {
        let _ = stopped.await;
    }));

    let mut client = ReportApiClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let response = client
        .get_reports(ReportRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.chain.len(), 3);

    let account =
        AccountKey::random(&mut rng).with_fog("fog://localhost", "", &files.root_spki_der);
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(Measurement([3; 32]))], 600),
    );
    let key = validate_report(
        &account.default_subaddress(),
        &response,
        &verifier,
        UnixSeconds::now(),
        10,
    )
    .unwrap();
    assert_eq!(key.ingress_pubkey, ingress.public_key());
    assert_eq!(key.pubkey_expiry, 500);

    // Another operator's address does not accept this server's chain.
    let other = tempfile::tempdir().unwrap();
    let other_files = new_authority(other.path(), "Other", 30).unwrap();
    let stranger =
        AccountKey::random(&mut rng).with_fog("fog://localhost", "", &other_files.root_spki_der);
    assert_eq!(
        validate_report(
            &stranger.default_subaddress(),
            &response,
            &verifier,
            UnixSeconds::now(),
            10
        ),
        Err(Error::Authority)
    );

    // A key that is not the chain's leaf is refused at load time.
    assert!(matches!(
        SigningConfig::load(&files.chain_pem, &other_files.leaf_key),
        Err(fog_report_server::Error::KeyMismatch)
    ));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
