//! SQLite only: reopening keeps everything, migrations, a fault hook, and crash atomicity
//! (a child process killed with SIGKILL in the middle of writing blocks).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use fog_recovery_db::conformance::{test_block, test_egress, test_key};
use fog_recovery_db::{
    BlockIndex, BlockRange, BlockSpan, FogUserEvent, IngressPublicKeyFilters, RecordCursor,
    RecoveryDb, RecoveryDbError, ReportData, ReportDb, SqliteRecoveryDb, UserEventId,
};

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovery.db");
    let k = test_key(1);
    let (inv, events) = {
        let db = SqliteRecoveryDb::open(&path).unwrap();
        db.new_ingress_key(&k, BlockIndex(0)).await.unwrap();
        let inv = db
            .new_ingest_invocation(None, &k, &test_egress(1), BlockIndex(0))
            .await
            .unwrap();
        for blk in 0..10 {
            db.add_block_data(inv, BlockIndex(blk), blk, blk, &test_block(blk, blk + 1))
                .await
                .unwrap();
        }
        let report = ReportData {
            ingest_invocation_id: Some(inv),
            evidence: vec![7; 100],
            pubkey_expiry: BlockIndex(20),
        };
        db.set_report(&k, "", &report).await.unwrap();
        db.report_lost_ingress_key(&k).await.unwrap();
        db.decommission_ingest_invocation(inv).await.unwrap();
        let (events, _) = db.search_user_events(UserEventId::START).await.unwrap();
        (inv, events)
    };
    assert_eq!(events.len(), 3);
    let db = SqliteRecoveryDb::open(&path).unwrap();
    assert_eq!(
        db.search_user_events(UserEventId::START).await.unwrap().0,
        events
    );
    assert_eq!(
        db.get_missed_block_ranges().await.unwrap(),
        vec![BlockRange::from_u64(10, 20).unwrap()]
    );
    let st = db.get_ingress_key_status(&k).await.unwrap().unwrap();
    assert!(st.lost && st.pubkey_expiry == BlockIndex(20));
    assert_eq!(
        db.get_all_reports().await.unwrap()[0].1.evidence,
        vec![7; 100]
    );
    assert_eq!(
        db.get_tx_outs_by_block_range_and_key(&k, BlockRange::from_u64(0, 100).unwrap())
            .await
            .unwrap(),
        (0..10).map(|b| test_block(b, b + 1)).collect::<Vec<_>>()
    );
    let recs = db
        .get_ingress_key_records(BlockIndex(0), &IngressPublicKeyFilters::ALL)
        .await
        .unwrap();
    assert_eq!(recs[0].last_scanned_block, Some(BlockIndex(9)));
    // Ids go on from where they were.
    let inv2 = db
        .new_ingest_invocation(None, &k, &test_egress(2), BlockIndex(10))
        .await
        .unwrap();
    assert!(inv2 > inv);
    let (new_events, next) = db.search_user_events(UserEventId(3)).await.unwrap();
    assert_eq!(next, UserEventId(4));
    assert!(matches!(new_events[..], [FogUserEvent::NewRngRecord(_)]));
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovery.db");
    drop(SqliteRecoveryDb::open(&path).unwrap());
    drop(SqliteRecoveryDb::open(&path).unwrap()); // migrations are idempotent
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO fog_schema_version (version, applied_at) VALUES (999, 0)",
        [],
    )
    .unwrap();
    drop(conn);
    match SqliteRecoveryDb::open(&path) {
        Err(RecoveryDbError::SchemaTooNew { found: 999, .. }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn older_schema_gains_the_span_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovery.db");
    let k = test_key(1);
    {
        let db = SqliteRecoveryDb::open(&path).unwrap();
        db.new_ingress_key(&k, BlockIndex(0)).await.unwrap();
        let inv = db
            .new_ingest_invocation(None, &k, &test_egress(1), BlockIndex(0))
            .await
            .unwrap();
        for blk in 0..4 {
            db.add_block_data(inv, BlockIndex(blk), blk, blk, &test_block(blk, 2))
                .await
                .unwrap();
        }
    }
    // Back to a version 2 database, as written before the index existed.
    let index_count = "SELECT COUNT(*) FROM sqlite_master \
         WHERE type = 'index' AND name = 'ingested_blocks_by_id_block'";
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP INDEX ingested_blocks_by_id_block;
         DELETE FROM fog_schema_version WHERE version = 3;",
    )
    .unwrap();
    let count: i64 = conn.query_row(index_count, [], |r| r.get(0)).unwrap();
    assert_eq!(count, 0);
    let db = SqliteRecoveryDb::open(&path).unwrap();
    let count: i64 = conn.query_row(index_count, [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1, "opening migrates to version 3");
    let span = BlockSpan {
        start: BlockIndex(1),
        end: Some(BlockIndex(3)),
    };
    let batch = db
        .get_records_since_in(RecordCursor::START, 100, span)
        .await
        .unwrap();
    let blocks: Vec<_> = batch.blocks.iter().map(|b| b.block_index.0).collect();
    assert_eq!(blocks, vec![1, 2]);
}

#[tokio::test]
async fn fault_hook_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteRecoveryDb::open(dir.path().join("f.db")).unwrap();
    fog_recovery_db::conformance::failed_block_write_leaves_nothing(&db, |d| {
        d.inject_fault_in_next_block_write()
    })
    .await;
}

#[tokio::test]
async fn busy_database_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let db = SqliteRecoveryDb::open(&path).unwrap();
    db.new_ingress_key(&test_key(1), BlockIndex(0))
        .await
        .unwrap();
    // Another process holds the write lock longer than the busy timeout.
    let mut other = rusqlite::Connection::open(&path).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let err = db.retire_ingress_key(&test_key(1), true).await.unwrap_err();
    assert!(err.should_retry(), "{err}");
    tx.rollback().unwrap();
    db.retire_ingress_key(&test_key(1), true).await.unwrap();
}

/// Records per block in the crash test: 1..=1500, so some writes are large.
fn crash_block_len(block: u64) -> u64 {
    1 + (block * 389) % 1500
}

const CHILD_ENV: &str = "FOG_RECOVERY_DB_CRASH_CHILD";

/// The child half of `sigkill_mid_write_leaves_whole_blocks`: does nothing unless started by
/// it. Writes blocks forever, from the first block not yet stored.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = SqliteRecoveryDb::open(&path).unwrap();
        let k = test_key(1);
        if db.get_ingress_key_status(&k).await.unwrap().is_none() {
            db.new_ingress_key(&k, BlockIndex(0)).await.unwrap();
        }
        let inv = db
            .new_ingest_invocation(None, &k, &test_egress(std::process::id()), BlockIndex(0))
            .await
            .unwrap();
        let mut next = db
            .get_highest_known_block_index()
            .await
            .unwrap()
            .map_or(0, |b| b.0 + 1);
        let mut total: u64 = (0..next).map(crash_block_len).sum();
        println!("child: starting at block {next}");
        loop {
            let n = crash_block_len(next);
            total += n;
            db.add_block_data(inv, BlockIndex(next), total, next, &test_block(next, n))
                .await
                .unwrap();
            next += 1;
        }
    });
}

#[test]
fn sigkill_mid_write_leaves_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut highest = None;
    for round in 0..6u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .spawn()
            .unwrap();
        // Let it write for a while (varying, so the kill lands at different points).
        let deadline = Instant::now() + Duration::from_millis(700 + round * 230);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the child stopped by itself: {status}");
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let now = rt.block_on(async {
            let db = SqliteRecoveryDb::open(&path).unwrap();
            let k = test_key(1);
            let top = db.get_highest_known_block_index().await.unwrap()?;
            // Every block up to the highest is whole, in order, with its count; no gaps.
            let all = db
                .get_tx_outs_by_block_range_and_key(&k, BlockRange::from_u64(0, top.0 + 1).unwrap())
                .await
                .unwrap();
            assert_eq!(
                all.len() as u64,
                top.0 + 1,
                "no gap below the highest block"
            );
            let mut total = 0;
            for (blk, records) in all.iter().enumerate() {
                let blk = blk as u64;
                let n = crash_block_len(blk);
                total += n;
                assert!(*records == test_block(blk, n), "block {blk} is not whole");
                assert_eq!(
                    db.get_cumulative_txo_count_for_block(BlockIndex(blk))
                        .await
                        .unwrap(),
                    Some(total)
                );
            }
            // The bulk reader sees the same blocks.
            let mut cursor = RecordCursor::START;
            let mut seen = 0u64;
            loop {
                let batch = db.get_records_since(cursor, 20_000).await.unwrap();
                if batch.blocks.is_empty() {
                    break;
                }
                seen += batch.blocks.len() as u64;
                cursor = batch.next;
            }
            assert_eq!(seen, top.0 + 1);
            Some(top.0)
        });
        println!("round {round}: blocks 0..={now:?} whole after SIGKILL");
        assert!(now >= highest, "blocks never disappear");
        highest = now;
    }
    assert!(
        highest.is_some_and(|h| h > 5),
        "the children wrote blocks: {highest:?}"
    );
}
