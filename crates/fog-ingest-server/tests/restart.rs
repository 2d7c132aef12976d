//! Ingest follows the ledger and writes one record per TxOut; killed mid-stream and restarted,
//! it resumes where it stopped, and every fog TxOut is found exactly once by its recipient
//! through the RNG records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashMap, path::Path, process::Command, time::Duration};

use fog_account::AccountKey;
use fog_crypto::{crypto_box, kex_rng::KexRng, CompressedRistrettoPublic, RistrettoPrivate};
use fog_enclave_api::errors::IngestError as EnclaveError;
use fog_ingest_server::{IngestConfig, IngestError, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{BlockIndex, FogUserEvent, RecoveryDb, SqliteRecoveryDb, UserEventId};
use fog_transaction::TxOutRecord;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use common::build_ledger;

const CHILD: &str = "FOG_INGEST_TEST_CHILD";

fn config() -> IngestConfig {
    config_with(1 << 10)
}

fn config_with(user_capacity: u64) -> IngestConfig {
    IngestConfig {
        user_capacity,
        poll_interval: Duration::from_millis(10),
        ..IngestConfig::default()
    }
}

/// What clients do, across every RNG record: walk the search keys over all records.
async fn found_by(
    db: &impl RecoveryDb,
    key: &CompressedRistrettoPublic,
    user: &AccountKey,
    blocks: u64,
) -> Vec<u64> {
    let mut records: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for b in 0..blocks {
        for r in db
            .get_tx_outs_by_block_and_key(key, BlockIndex(b))
            .await
            .unwrap()
            .unwrap()
        {
            records.insert(r.search_key, r.payload);
        }
    }
    let (events, _) = db.search_user_events(UserEventId(0)).await.unwrap();
    let c0 = user.default_subaddress_view_private();
    let mut found = Vec::new();
    for e in events {
        if let FogUserEvent::NewRngRecord(rec) = e {
            let mut rng = KexRng::from_kex_pubkey(&rec.pubkey, &c0).unwrap();
            while let Some(p) = records.get(rng.peek().as_slice()) {
                found.push(TxOutRecord::decrypt(&c0, p).unwrap().global_index);
                rng.advance();
            }
        }
    }
    found.sort_unstable();
    found
}

async fn check(dir: &Path, users: &[AccountKey], expected: &HashMap<usize, Vec<u64>>, blocks: u64) {
    let db = SqliteRecoveryDb::open(dir.join("recovery.db")).unwrap();
    let ledger = LedgerDb::open(dir.join("ledger.redb")).unwrap();
    let state = StateDir::new(dir.join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let key = CompressedRistrettoPublic::from(&server.ingress_public_key());
    let mut server = server;
    while server.process_next_block().await.unwrap() {}
    assert_eq!(server.status().next_block, blocks);
    // Exactly one record per TxOut, every block.
    for b in 0..blocks {
        let records = db
            .get_tx_outs_by_block_and_key(&key, BlockIndex(b))
            .await
            .unwrap()
            .expect("every block processed");
        let outputs = ledger.get_block_contents(b).unwrap().unwrap().outputs.len();
        assert_eq!(records.len(), outputs, "block {b}");
    }
    for (u, user) in users.iter().enumerate() {
        let mut want = expected.get(&u).cloned().unwrap_or_default();
        want.sort_unstable();
        assert_eq!(found_by(&db, &key, user, blocks).await, want, "user {u}");
    }
}

fn users() -> Vec<AccountKey> {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    (0..5)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect()
}

/// Opens the server once (creating its ingress key) and builds the ledger for that key.
async fn setup(dir: &Path, blocks: u64) -> HashMap<usize, Vec<u64>> {
    let db = SqliteRecoveryDb::open(dir.join("recovery.db")).unwrap();
    let ledger = LedgerDb::create(dir.join("ledger.redb")).unwrap();
    let state = StateDir::new(dir.join("state")).unwrap();
    let enclave = common::enclave(&state);
    let server = IngestServer::open(
        ledger.clone(),
        db,
        state,
        config(),
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    build_ledger(
        &ledger,
        &users(),
        &server.ingress_public_key(),
        blocks,
        12,
        3,
    )
}

#[tokio::test]
async fn ingest_follows_the_ledger_and_records_are_found_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let expected = setup(dir.path(), 12).await;
    check(dir.path(), &users(), &expected, 12).await;
}

/// Runs in the child: ingest slowly, one marker per block, until killed.
#[tokio::test]
async fn child_ingests_until_killed() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let dir = Path::new(&dir);
    let db = SqliteRecoveryDb::open(dir.join("recovery.db")).unwrap();
    let ledger = LedgerDb::open(dir.join("ledger.redb")).unwrap();
    let state = StateDir::new(dir.join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open(ledger, db, state, config(), Box::new(NoEvidence), enclave)
        .await
        .unwrap();
    while server.process_next_block().await.unwrap() {
        std::fs::write(dir.join("progress"), server.status().next_block.to_string()).unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    std::fs::write(dir.join("done"), b"").unwrap();
}

#[tokio::test]
async fn killed_mid_stream_it_resumes_without_loss_or_duplicates() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blocks = 40;
    let expected = setup(dir.path(), blocks).await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_ingests_until_killed", "--nocapture"])
        .env(CHILD, dir.path())
        .spawn()
        .unwrap();
    // Wait until it is part way through, then kill it without warning.
    let progress = dir.path().join("progress");
    let mut seen = 0;
    for _ in 0..600 {
        seen = std::fs::read_to_string(&progress)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0u64);
        if seen >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen >= 5, "the child made no progress");
    assert!(
        !dir.path().join("done").exists(),
        "the child finished before it was killed"
    );
    println!("killed after {seen} blocks");
    check(dir.path(), &users(), &expected, blocks).await;
}

#[tokio::test]
async fn rotations_and_restarts_retire_every_dead_rng() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let blocks = 12;
    let expected = setup(dir.path(), blocks).await;
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ledger = LedgerDb::open(dir.path().join("ledger.redb")).unwrap();
    // A tiny RNG store: the enclave rotates every block or two.
    for stop_at in [5, blocks] {
        let state = StateDir::new(dir.path().join("state")).unwrap();
        let enclave = common::enclave(&state);
        let mut server = IngestServer::open(
            ledger.clone(),
            db.clone(),
            state,
            config_with(16),
            Box::new(NoEvidence),
            enclave,
        )
        .await
        .unwrap();
        while server.status().next_block < stop_at && server.process_next_block().await.unwrap() {}
        if stop_at == 5 {
            server.rotate_egress_key().await.unwrap();
        }
    }
    let (events, _) = db.search_user_events(UserEventId(0)).await.unwrap();
    let rngs = events
        .iter()
        .filter(|e| matches!(e, FogUserEvent::NewRngRecord(_)))
        .count();
    let retired = events
        .iter()
        .filter(|e| matches!(e, FogUserEvent::DecommissionIngestInvocation { .. }))
        .count();
    assert!(rngs >= 6, "expected several RNG records, got {rngs}");
    assert_eq!(
        retired,
        rngs - 1,
        "every RNG but the live one is decommissioned"
    );
    let key = {
        let state = StateDir::new(dir.path().join("state")).unwrap();
        let enclave = common::enclave(&state);
        let server = IngestServer::open(
            ledger.clone(),
            db.clone(),
            state,
            config_with(16),
            Box::new(NoEvidence),
            enclave,
        )
        .await
        .unwrap();
        CompressedRistrettoPublic::from(&server.ingress_public_key())
    };
    for (u, user) in users().iter().enumerate() {
        let mut want = expected.get(&u).cloned().unwrap_or_default();
        want.sort_unstable();
        assert_eq!(found_by(&db, &key, user, blocks).await, want, "user {u}");
    }
}

/// Writes a state directory the way the first version did: the platform key's 32 bytes in
/// `platform.key`, and `ingress.sealed` the crypto box of the ingress key's 32 bytes to it.
fn old_state_dir(state: &Path, platform: &RistrettoPrivate, ingress: &RistrettoPrivate) {
    let mut rng = ChaCha20Rng::from_seed([41; 32]);
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(state.join("platform.key"), &platform.to_bytes()[..]).unwrap();
    let sealed = crypto_box::encrypt(&mut rng, &platform.public_key(), &ingress.to_bytes()[..]);
    std::fs::write(state.join("ingress.sealed"), sealed).unwrap();
}

fn state_files(state: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(state.join("platform.key")).unwrap(),
        std::fs::read(state.join("ingress.sealed")).unwrap(),
    )
}

#[tokio::test]
async fn a_state_dir_written_before_the_sealing_provider_restores_the_same_key() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::from_seed([40; 32]);
    let platform = RistrettoPrivate::random(&mut rng);
    let ingress = RistrettoPrivate::random(&mut rng);
    let state = dir.path().join("state");
    old_state_dir(&state, &platform, &ingress);
    let before = state_files(&state);
    // A ledger whose hints go to the old ingress key: the restored enclave must open them.
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let blocks = 6;
    let expected = build_ledger(&ledger, &users(), &ingress.public_key(), blocks, 12, 5);
    drop(ledger);
    {
        let state = StateDir::new(&state).unwrap();
        let enclave = common::enclave(&state);
        let server = IngestServer::open_idle(
            LedgerDb::open(dir.path().join("ledger.redb")).unwrap(),
            SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap(),
            state,
            config(),
            Box::new(NoEvidence),
            enclave,
        )
        .await
        .unwrap();
        assert_eq!(server.ingress_public_key(), ingress.public_key());
    }
    // Restoring rewrote neither file.
    assert_eq!(state_files(&state), before);
    check(dir.path(), &users(), &expected, blocks).await;
}

#[tokio::test]
async fn a_sealed_key_that_does_not_open_stops_the_server_and_is_kept() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let platform = RistrettoPrivate::random(&mut rng);
    let ingress = RistrettoPrivate::random(&mut rng);
    let other = RistrettoPrivate::random(&mut rng);
    for case in ["other platform", "tampered"] {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        match case {
            // Sealed to another platform's key than the one in `platform.key`.
            "other platform" => {
                old_state_dir(&state, &other, &ingress);
                std::fs::write(state.join("platform.key"), &platform.to_bytes()[..]).unwrap();
            }
            _ => {
                old_state_dir(&state, &platform, &ingress);
                let mut sealed = std::fs::read(state.join("ingress.sealed")).unwrap();
                sealed[3] ^= 0x20;
                std::fs::write(state.join("ingress.sealed"), sealed).unwrap();
            }
        }
        let before = state_files(&state);
        let state_dir = StateDir::new(&state).unwrap();
        let enclave = common::enclave(&state_dir);
        let opened = IngestServer::open_idle(
            LedgerDb::create(dir.path().join("ledger.redb")).unwrap(),
            SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap(),
            state_dir,
            config(),
            Box::new(NoEvidence),
            enclave,
        )
        .await;
        assert!(
            matches!(
                opened,
                Err(IngestError::Enclave(EnclaveError::BadSealedKey))
            ),
            "{case}: {:?}",
            opened.err()
        );
        // No new key was made in its place: both files are as they were.
        assert_eq!(state_files(&state), before, "{case}");
    }
}

/// In a confidential VM the state directory is on the host's disk: a memory-only state
/// directory writes no platform key and no sealed ingress key, ignores any it finds, and each
/// start has a key of its own.
#[tokio::test]
async fn a_memory_only_state_dir_never_writes_or_reads_the_ingress_key() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    drop(LedgerDb::create(dir.path().join("ledger.redb")).unwrap());
    let open = || async {
        let state = StateDir::memory_only(&state).unwrap();
        let enclave = common::enclave(&state);
        IngestServer::open_idle(
            LedgerDb::open(dir.path().join("ledger.redb")).unwrap(),
            SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap(),
            state,
            config(),
            Box::new(NoEvidence),
            enclave,
        )
        .await
        .unwrap()
    };
    let first = open().await.ingress_public_key();
    assert!(!state.join("platform.key").exists());
    assert!(!state.join("ingress.sealed").exists());
    let second = open().await.ingress_public_key();
    assert_ne!(
        first, second,
        "a memory-only key does not survive a restart"
    );

    // A key sealed there earlier (by a server that was not memory-only) is not used.
    let mut rng = ChaCha20Rng::from_seed([41; 32]);
    let platform = RistrettoPrivate::random(&mut rng);
    let ingress = RistrettoPrivate::random(&mut rng);
    old_state_dir(&state, &platform, &ingress);
    let before = state_files(&state);
    assert_ne!(open().await.ingress_public_key(), ingress.public_key());
    assert_eq!(state_files(&state), before);
    assert!(StateDir::memory_only(&state).unwrap().is_memory_only());
}
