//! Ingest servers share their ingress key enclave to enclave, through each enclave's byte
//! boundary: the host binds evidence to the channel key its enclave made, carries the
//! handshake and one frame, and stores the key sealed; a restart restores the shared key. A
//! server without peer evidence has no peer channel; one whose peer evidence fails or is
//! refused does not open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use fog_attest::{fog_identity, FogEnclave, SimProvider};
use fog_crypto::RistrettoPublic;
use fog_enclave_api::errors::PeerError;
use fog_enclave_api::SharedEnclave;
use fog_ingest_server::{
    EvidenceSource, IngestConfig, IngestError, IngestServer, NoEvidence, ProviderEvidence, StateDir,
};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::MemoryRecoveryDb;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

async fn server(
    ledger: &LedgerDb,
    dir: &std::path::Path,
    name: &str,
    provider: &Arc<SimProvider>,
) -> IngestServer<MemoryRecoveryDb> {
    let state = StateDir::new(dir.join(name)).unwrap();
    let enclave = common::enclave_with(&state, Some(ProviderEvidence::sim_peer_verifier(provider)));
    open_idle(
        ledger,
        state,
        Box::new(ProviderEvidence::new(provider.clone())),
        enclave,
    )
    .await
    .unwrap()
}

async fn open_idle(
    ledger: &LedgerDb,
    state: StateDir,
    evidence: Box<dyn EvidenceSource>,
    enclave: SharedEnclave,
) -> Result<IngestServer<MemoryRecoveryDb>, IngestError> {
    IngestServer::open_idle(
        ledger.clone(),
        MemoryRecoveryDb::new(),
        state,
        IngestConfig {
            user_capacity: 1 << 10,
            ..IngestConfig::default()
        },
        evidence,
        enclave,
    )
    .await
}

/// `from` gives its key to `to`: `from` starts the channel, `to` answers, one frame.
async fn push(from: &mut IngestServer<MemoryRecoveryDb>, to: &mut IngestServer<MemoryRecoveryDb>) {
    let (token, hello) = from.peer_initiate().unwrap();
    let (id, reply) = to.peer_accept(&hello).unwrap();
    assert_eq!(from.peer_finish(token, &reply).unwrap(), id);
    let frame = from.send_ingress_key(&id).unwrap();
    to.receive_ingress_key(&id, &frame).await.unwrap();
}

#[tokio::test]
async fn the_ingress_key_moves_enclave_to_enclave_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let provider = Arc::new(SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(3),
        fog_identity(FogEnclave::Ingest),
    ));
    let mut a = server(&ledger, dir.path(), "a", &provider).await;
    let mut b = server(&ledger, dir.path(), "b", &provider).await;
    assert!(a.has_peer_link() && b.has_peer_link());
    let key = a.ingress_public_key();
    assert_ne!(b.ingress_public_key(), key);

    push(&mut a, &mut b).await;
    assert_eq!(b.ingress_public_key(), key);
    assert_eq!(b.status().ingress_public_key, key.to_bytes());
    assert_eq!(a.counters().keys_sent, 1);
    assert_eq!(b.counters().keys_received, 1);

    // b stored the key sealed: restarted, it has it again.
    drop(b);
    let b = server(&ledger, dir.path(), "b", &provider).await;
    assert_eq!(b.ingress_public_key(), key);

    // An enclave of another identity is no peer.
    let stranger = Arc::new(SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(4),
        fog_identity(FogEnclave::View),
    ));
    let mut c = server(&ledger, dir.path(), "c", &stranger).await;
    let (_, hello) = c.peer_initiate().unwrap();
    assert!(
        matches!(
            a.peer_accept(&hello),
            Err(IngestError::Peer(PeerError::Handshake))
        ),
        "the stranger's evidence is refused in the handshake"
    );
}

#[tokio::test]
async fn without_peer_evidence_there_is_no_peer_channel() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open_idle(
        LedgerDb::create(dir.path().join("ledger.redb")).unwrap(),
        MemoryRecoveryDb::new(),
        state,
        IngestConfig {
            user_capacity: 1 << 10,
            ..IngestConfig::default()
        },
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    assert!(!server.has_peer_link());
    assert!(matches!(
        server.peer_initiate(),
        Err(IngestError::NoPeerLink)
    ));
    assert!(matches!(
        server.send_ingress_key(&[0; 64]),
        Err(IngestError::NoPeerLink)
    ));
}

/// A provider that cannot make evidence (a confidential VM whose configfs-tsm fails).
struct BrokenProvider;

impl fog_attest::Provider for BrokenProvider {
    fn evidence(&self, _: &fog_attest::ReportData) -> fog_attest::Result<fog_attest::Evidence> {
        Err(fog_attest::Error::KeyGeneration)
    }
}

/// Peer evidence that binds another channel key than the enclave's.
struct ForeignEvidence(Arc<SimProvider>);

impl EvidenceSource for ForeignEvidence {
    fn evidence(&self, _: &[u8; 32], _: &RistrettoPublic) -> Vec<u8> {
        Vec::new()
    }

    fn peer_evidence(
        &self,
        _: &[u8; 32],
    ) -> Result<Option<fog_attest::BoundEvidence>, fog_attest::Error> {
        fog_attest::BoundEvidence::bind(&self.0, &[7; 32], None).map(Some)
    }
}

/// Peer evidence that fails, or that the enclave refuses, stops the server at start (as a
/// failed peer responder stopped `fogd ingest` before the boundary), rather than leaving it
/// to run without key sharing for good. An enclave loaded without peers opens without them.
#[tokio::test]
async fn peer_evidence_that_fails_or_is_refused_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let provider = Arc::new(SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(5),
        fog_identity(FogEnclave::Ingest),
    ));
    let verifier = || Some(ProviderEvidence::sim_peer_verifier(&provider));

    let state = StateDir::new(dir.path().join("broken")).unwrap();
    let enclave = common::enclave_with(&state, verifier());
    let opened = open_idle(
        &ledger,
        state,
        Box::new(ProviderEvidence::new(Arc::new(BrokenProvider))),
        enclave,
    )
    .await;
    assert!(
        matches!(
            opened,
            Err(IngestError::PeerEvidence(fog_attest::Error::KeyGeneration))
        ),
        "{:?}",
        opened.err()
    );

    let state = StateDir::new(dir.path().join("foreign")).unwrap();
    let enclave = common::enclave_with(&state, verifier());
    let opened = open_idle(
        &ledger,
        state,
        Box::new(ForeignEvidence(provider.clone())),
        enclave,
    )
    .await;
    assert!(
        matches!(opened, Err(IngestError::Peer(PeerError::Handshake))),
        "{:?}",
        opened.err()
    );

    // The state directory of a failed start opens again once the evidence is right.
    let state = StateDir::new(dir.path().join("foreign")).unwrap();
    let enclave = common::enclave_with(&state, verifier());
    let server = open_idle(
        &ledger,
        state,
        Box::new(ProviderEvidence::new(provider.clone())),
        enclave,
    )
    .await
    .unwrap();
    assert!(server.has_peer_link());

    // Evidence for an enclave that takes no peers: it opens, with no peer channel.
    let state = StateDir::new(dir.path().join("lone")).unwrap();
    let enclave = common::enclave(&state);
    let mut lone = open_idle(
        &ledger,
        state,
        Box::new(ProviderEvidence::new(provider.clone())),
        enclave,
    )
    .await
    .unwrap();
    assert!(!lone.has_peer_link());
    assert!(matches!(lone.peer_initiate(), Err(IngestError::NoPeerLink)));
}
