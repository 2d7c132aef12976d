//! Measures how fast a view server could reload its records from an SQLite recovery DB:
//! writes N records (default 10^6) in blocks of B (default 1000) with `add_block_data`, then
//! streams them back with `get_records_since`. Prints one JSON object per figure.
//!
//! `cargo run --release -p fog-recovery-db --example reload -- [N] [B] [PATH]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use fog_recovery_db::conformance::{test_block, test_egress, test_key};
use fog_recovery_db::{BlockIndex, RecordCursor, RecoveryDb, SqliteRecoveryDb};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let per_block: u64 = args.next().map_or(1000, |a| a.parse().expect("B"));
    let dir = tempfile::tempdir().unwrap();
    let path = args
        .next()
        .map_or_else(|| dir.path().join("reload.db"), Into::into);

    let db = SqliteRecoveryDb::open(&path).unwrap();
    let key = test_key(1);
    db.new_ingress_key(&key, BlockIndex(0)).await.unwrap();
    let inv = db
        .new_ingest_invocation(None, &key, &test_egress(1), BlockIndex(0))
        .await
        .unwrap();
    let blocks = total.div_ceil(per_block);
    let start = Instant::now();
    let mut written = 0;
    let mut bytes = 0;
    for blk in 0..blocks {
        let n = per_block.min(total - written);
        let records = test_block(blk, n);
        bytes += records
            .iter()
            .map(|r| r.search_key.len() + r.payload.len())
            .sum::<usize>();
        written += n;
        db.add_block_data(inv, BlockIndex(blk), written, blk, &records)
            .await
            .unwrap();
    }
    let write_s = start.elapsed().as_secs_f64();
    println!(
        "{{\"name\":\"recovery_db_sqlite_write_{total}_records_{per_block}_per_block\",\"records\":{total},\"bytes\":{bytes},\"seconds\":{write_s:.3},\"records_per_s\":{:.0}}}",
        total as f64 / write_s
    );
    drop(db);

    // A cold handle, as after a restart (the OS page cache is still warm).
    let db = SqliteRecoveryDb::open(&path).unwrap();
    let start = Instant::now();
    let mut cursor = RecordCursor::START;
    let mut read = 0usize;
    let mut checksum = 0u64;
    loop {
        let batch = db.get_records_since(cursor, 100_000).await.unwrap();
        if batch.blocks.is_empty() {
            break;
        }
        for b in &batch.blocks {
            read += b.records.len();
            checksum =
                checksum.wrapping_add(b.records.last().map_or(0, |r| u64::from(r.payload[0])));
        }
        cursor = batch.next;
    }
    let read_s = start.elapsed().as_secs_f64();
    assert_eq!(read as u64, total);
    println!(
        "{{\"name\":\"recovery_db_sqlite_reload_{total}_records\",\"records\":{read},\"seconds\":{read_s:.3},\"records_per_s\":{:.0},\"checksum\":{checksum}}}",
        read as f64 / read_s
    );
}
