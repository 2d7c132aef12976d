//! The promise a report makes matches what ingest scans. After every scanned block the
//! published `pubkey_expiry` is `next_block + window`, so a sender who reads the report at
//! any moment can still land a payment in a block ingest will scan (with a window of 1 too).
//! And when the key is then lost, every block a payment may have used it for (every block
//! below the highest expiry ever published) is scanned or in the missed range, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{BlockIndex, MemoryRecoveryDb, RecoveryDb, ReportDb};
use fog_test_support::chain::append_synthetic_block;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

async fn published_expiry(db: &MemoryRecoveryDb) -> u64 {
    let reports = db.get_all_reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    reports[0].1.pubkey_expiry.0
}

async fn promise_for_window(window: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(window);
    append_synthetic_block(&ledger, 2, 1, &mut rng).unwrap();
    let db = MemoryRecoveryDb::new();
    let state = StateDir::new(dir.path().join("state")).unwrap();
    let enclave = common::enclave(&state);
    let mut server = IngestServer::open(
        ledger.clone(),
        db.clone(),
        state,
        IngestConfig {
            user_capacity: 1 << 10,
            pubkey_expiry_window: window,
            poll_interval: Duration::from_millis(10),
            ..IngestConfig::default()
        },
        Box::new(NoEvidence),
        enclave,
    )
    .await
    .unwrap();
    let key = server.ingress_key();
    let mut highest = published_expiry(&db).await;
    for b in 0..25u64 {
        if b > 0 {
            append_synthetic_block(&ledger, 3, 1 + b, &mut rng).unwrap();
        }
        assert!(server.process_next_block().await.unwrap());
        let next = server.status().next_block;
        assert_eq!(next, b + 1);
        // What a sender reading the report now gets: blocks below it may carry payments
        // to this key, and the next block (the first not scanned) is one of them.
        let expiry = published_expiry(&db).await;
        assert_eq!(expiry, next + window, "window {window}, after block {b}");
        assert!(expiry > next, "a payment can still land in block {next}");
        let status = db.get_ingress_key_status(&key).await.unwrap().unwrap();
        assert_eq!(
            status.pubkey_expiry.0, expiry,
            "the DB's promise is the report's"
        );
        highest = highest.max(expiry);
    }
    // The server's host is lost: its key is reported lost (by another server, here the DB).
    drop(server);
    db.report_lost_ingress_key(&key).await.unwrap();
    db.report_lost_ingress_key(&key).await.unwrap();
    let missed = db.get_missed_block_ranges().await.unwrap();
    assert_eq!(missed.len(), 1, "one range, once: {missed:?}");
    for b in 0..highest {
        let scanned = db
            .get_tx_outs_by_block_and_key(&key, BlockIndex(b))
            .await
            .unwrap()
            .is_some();
        let in_missed = missed.iter().any(|r| r.start().0 <= b && b < r.end().0);
        assert!(
            scanned ^ in_missed,
            "window {window}: block {b} (promised up to {highest}) is scanned {scanned}, \
             missed {in_missed}"
        );
    }
}

#[tokio::test]
async fn window_of_one_keeps_its_promise() {
    promise_for_window(1).await;
}

#[tokio::test]
async fn window_of_ten_keeps_its_promise() {
    promise_for_window(10).await;
}
