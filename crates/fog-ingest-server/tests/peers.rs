//! Ingest servers share their ingress key enclave to enclave, through each enclave's byte
//! boundary: the host binds evidence to the channel key its enclave made, carries the
//! handshake and one frame, and stores the key sealed; a restart restores the shared key. A
//! server without peer evidence has no peer channel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use fog_attest::{fog_identity, FogEnclave, SimProvider};
use fog_ingest_server::{
    IngestConfig, IngestError, IngestServer, NoEvidence, ProviderEvidence, StateDir,
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
    IngestServer::open_idle(
        ledger.clone(),
        MemoryRecoveryDb::new(),
        state,
        IngestConfig {
            user_capacity: 1 << 10,
            ..IngestConfig::default()
        },
        Box::new(ProviderEvidence::new(provider.clone())),
        enclave,
    )
    .await
    .unwrap()
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
    assert!(matches!(a.peer_accept(&hello), Err(IngestError::Peer(_))));
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
