//! Ingest follows the ledger and writes one record per TxOut; killed mid-stream and restarted,
//! it resumes where it stopped, and every fog TxOut is found exactly once by its recipient
//! through the RNG records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashMap, path::Path, process::Command, time::Duration};

use fog_account::AccountKey;
use fog_crypto::{kex_rng::KexRng, CompressedRistrettoPublic};
use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
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
    let server = IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        config(),
        Box::new(NoEvidence),
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
    let server = IngestServer::open(ledger.clone(), db, state, config(), Box::new(NoEvidence))
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
    let mut server = IngestServer::open(ledger, db, state, config(), Box::new(NoEvidence))
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
        let mut server = IngestServer::open(
            ledger.clone(),
            db.clone(),
            state,
            config_with(16),
            Box::new(NoEvidence),
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
        let server = IngestServer::open(
            ledger.clone(),
            db.clone(),
            state,
            config_with(16),
            Box::new(NoEvidence),
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
