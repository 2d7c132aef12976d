//! The conformance suite: every backend runs these checks, so they all keep one semantics
//! (MobileCoin's, `../shared/spec/services.md` 3.2).
//!
//! Each check takes a fresh, empty database. Run them one test per check with
//! [`conformance_tests!`](crate::conformance_tests), or all in a row with [`run_all`]. The
//! checks panic on a violation (they are test code); they need a tokio runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::types::*;
use crate::{RecoveryDb, RecoveryDbError};

/// The names of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "ingress_key_lifecycle",
    "ingress_key_records",
    "lost_key_becomes_missed_range",
    "invocations_and_user_events",
    "add_block_data_and_reads",
    "unique_races_write_nothing",
    "concurrent_writers_one_winner",
    "reports",
    "expired_invocations",
    "big_batch_round_trips",
    "records_since_pages_in_write_order",
    "records_since_in_a_block_span",
    "bad_input_is_refused",
    "decommissioned_invocation_refuses_writes",
    "decommission_races_a_writer",
    "take_over_fences_the_key",
    "take_over_races_one_winner",
    "invocation_records_and_pruning",
];

/// Defines one `#[tokio::test]` per check. `$runner` is an async function taking a closure
/// `FnOnce(Db) -> impl Future<Output = ()>`: it builds a fresh database, runs the closure,
/// and cleans up.
#[macro_export]
macro_rules! conformance_tests {
    ($runner:path) => {
        $crate::conformance_tests!(@each $runner;
            ingress_key_lifecycle,
            ingress_key_records,
            lost_key_becomes_missed_range,
            invocations_and_user_events,
            add_block_data_and_reads,
            unique_races_write_nothing,
            concurrent_writers_one_winner,
            reports,
            expired_invocations,
            big_batch_round_trips,
            records_since_pages_in_write_order,
            records_since_in_a_block_span,
            bad_input_is_refused,
            decommissioned_invocation_refuses_writes,
            decommission_races_a_writer,
            take_over_fences_the_key,
            take_over_races_one_winner,
            invocation_records_and_pruning
        );
    };
    (@each $runner:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $runner(|db| async move { $crate::conformance::$name(&db).await }).await;
            }
        )*
    };
}

/// Runs every check, each on a fresh database from `make`.
pub async fn run_all<D, M, Fut>(make: M)
where
    D: RecoveryDb,
    M: Fn() -> Fut,
    Fut: Future<Output = D>,
{
    ingress_key_lifecycle(&make().await).await;
    ingress_key_records(&make().await).await;
    lost_key_becomes_missed_range(&make().await).await;
    invocations_and_user_events(&make().await).await;
    add_block_data_and_reads(&make().await).await;
    unique_races_write_nothing(&make().await).await;
    concurrent_writers_one_winner(&make().await).await;
    reports(&make().await).await;
    expired_invocations(&make().await).await;
    big_batch_round_trips(&make().await).await;
    records_since_pages_in_write_order(&make().await).await;
    records_since_in_a_block_span(&make().await).await;
    bad_input_is_refused(&make().await).await;
    decommissioned_invocation_refuses_writes(&make().await).await;
    decommission_races_a_writer(&make().await).await;
    take_over_fences_the_key(&make().await).await;
    take_over_races_one_winner(&make().await).await;
    invocation_records_and_pruning(&make().await).await;
}

/// A test ingress key.
pub fn test_key(n: u8) -> IngressPublicKey {
    IngressPublicKey::from_bytes(&[n; 32]).expect("32 bytes")
}

/// A test egress key (distinct for distinct `n`).
pub fn test_egress(n: u32) -> KexRngPubkey {
    let mut public_key = vec![0xe0; 32];
    public_key[..4].copy_from_slice(&n.to_le_bytes());
    KexRngPubkey {
        public_key,
        version: 0,
    }
}

/// Record `j` of block `block`: a 16-byte search key and a payload of 100..=230 bytes, both
/// derived from `(block, j)` so a reader can check what it gets.
pub fn test_record(block: u64, j: u64) -> ETxOutRecord {
    let mut search_key = [0u8; 16];
    search_key[..8].copy_from_slice(&block.to_le_bytes());
    search_key[8..].copy_from_slice(&j.to_le_bytes());
    let len = 100 + ((block * 31 + j * 7) % 131) as usize;
    let payload = (0..len)
        .map(|i| (block as u8) ^ (j as u8).wrapping_mul(3) ^ (i as u8))
        .collect();
    ETxOutRecord {
        search_key: search_key.to_vec(),
        payload,
    }
}

/// The `n` records of block `block`.
pub fn test_block(block: u64, n: u64) -> Vec<ETxOutRecord> {
    (0..n).map(|j| test_record(block, j)).collect()
}

fn b(n: u64) -> BlockIndex {
    BlockIndex(n)
}

fn range(s: u64, e: u64) -> BlockRange {
    BlockRange::from_u64(s, e).unwrap()
}

async fn setup_invocation<D: RecoveryDb>(
    db: &D,
    key: u8,
    egress: u32,
    start: u64,
) -> IngestInvocationId {
    let k = test_key(key);
    if db.get_ingress_key_status(&k).await.unwrap().is_none() {
        db.new_ingress_key(&k, b(start)).await.unwrap();
    }
    db.new_ingest_invocation(None, &k, &test_egress(egress), b(start))
        .await
        .unwrap()
}

async fn add<D: RecoveryDb>(db: &D, inv: IngestInvocationId, block: u64, n: u64) -> bool {
    db.add_block_data(
        inv,
        b(block),
        block * 10 + n,
        1_600_000_000 + block,
        &test_block(block, n),
    )
    .await
    .unwrap()
    .block_already_scanned_with_this_key
}

/// New keys, the accepted start block, duplicates, retire and unretire, unknown keys.
pub async fn ingress_key_lifecycle<D: RecoveryDb>(db: &D) {
    let k1 = test_key(1);
    assert_eq!(db.get_ingress_key_status(&k1).await.unwrap(), None);
    assert_eq!(
        db.new_ingress_key(&k1, b(5)).await.unwrap(),
        b(5),
        "empty db: start kept"
    );
    let st = db.get_ingress_key_status(&k1).await.unwrap().unwrap();
    assert_eq!(
        st,
        IngressPublicKeyStatus {
            start_block: b(5),
            pubkey_expiry: b(0),
            retired: false,
            lost: false
        }
    );
    assert!(matches!(
        db.new_ingress_key(&k1, b(9)).await,
        Err(RecoveryDbError::DuplicateIngressKey)
    ));
    assert_eq!(
        db.get_ingress_key_status(&k1)
            .await
            .unwrap()
            .unwrap()
            .start_block,
        b(5)
    );

    // Blocks up to 7 known: a new key starts at 8 at the earliest.
    let inv = db
        .new_ingest_invocation(None, &k1, &test_egress(1), b(5))
        .await
        .unwrap();
    for blk in 5..=7 {
        assert!(!add(db, inv, blk, 2).await);
    }
    assert_eq!(
        db.get_last_scanned_block_index(&k1).await.unwrap(),
        Some(b(7))
    );
    assert_eq!(db.new_ingress_key(&test_key(2), b(3)).await.unwrap(), b(8));
    assert_eq!(
        db.new_ingress_key(&test_key(3), b(20)).await.unwrap(),
        b(20)
    );
    assert_eq!(
        db.get_last_scanned_block_index(&test_key(2)).await.unwrap(),
        None
    );

    db.retire_ingress_key(&k1, true).await.unwrap();
    assert!(
        db.get_ingress_key_status(&k1)
            .await
            .unwrap()
            .unwrap()
            .retired
    );
    db.retire_ingress_key(&k1, false).await.unwrap();
    assert!(
        !db.get_ingress_key_status(&k1)
            .await
            .unwrap()
            .unwrap()
            .retired
    );

    let unknown = test_key(99);
    assert!(matches!(
        db.retire_ingress_key(&unknown, true).await,
        Err(RecoveryDbError::UnknownIngressKey)
    ));
    assert!(matches!(
        db.report_lost_ingress_key(&unknown).await,
        Err(RecoveryDbError::UnknownIngressKey)
    ));
}

/// `get_ingress_key_records`: filters, order, last scanned block and covered ranges.
pub async fn ingress_key_records<D: RecoveryDb>(db: &D) {
    let data = |expiry: u64| ReportData {
        ingest_invocation_id: None,
        evidence: vec![1, 2, 3],
        pubkey_expiry: b(expiry),
    };
    // active: key 1 from 0, scanned 0..=4, expiry 10.
    let inv1 = setup_invocation(db, 1, 1, 0).await;
    db.set_report(&test_key(1), "a", &data(10)).await.unwrap();
    for blk in 0..5 {
        add(db, inv1, blk, 1).await;
    }
    // retired: key 2 from 5, expiry 12, scanned 5..=6.
    let inv2 = setup_invocation(db, 2, 2, 5).await;
    db.set_report(&test_key(2), "b", &data(12)).await.unwrap();
    add(db, inv2, 5, 1).await;
    add(db, inv2, 6, 1).await;
    db.retire_ingress_key(&test_key(2), true).await.unwrap();
    // lost: key 3 from 7, expiry 9, scanned 7.
    let inv3 = setup_invocation(db, 3, 3, 7).await;
    db.set_report(&test_key(3), "c", &data(9)).await.unwrap();
    add(db, inv3, 7, 1).await;
    db.report_lost_ingress_key(&test_key(3)).await.unwrap();
    // never scanned: key 4 from 8 (accepted start: highest known 7 + 1).
    assert_eq!(db.new_ingress_key(&test_key(4), b(0)).await.unwrap(), b(8));

    let all = db
        .get_ingress_key_records(b(0), &IngressPublicKeyFilters::ALL)
        .await
        .unwrap();
    let keys: Vec<_> = all.iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        vec![test_key(1), test_key(2), test_key(3), test_key(4)],
        "ordered by start"
    );
    assert_eq!(all[0].last_scanned_block, Some(b(4)));
    assert_eq!(
        all[0].covered_block_range(),
        BlockRange::unbounded_from(b(0))
    );
    assert_eq!(
        all[1].covered_block_range(),
        range(5, 12),
        "retired: [start, expiry)"
    );
    assert!(all[2].status.lost);
    assert_eq!(
        all[2].covered_block_range(),
        range(7, 8),
        "lost: [start, last + 1)"
    );
    assert_eq!(all[3].last_scanned_block, None);
    assert_eq!(
        all[3].covered_block_range(),
        BlockRange::unbounded_from(b(8))
    );

    let none = IngressPublicKeyFilters::default();
    let active: Vec<_> = db
        .get_ingress_key_records(b(0), &none)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(active, vec![test_key(1), test_key(4)]);

    let unexpired = IngressPublicKeyFilters {
        should_only_include_unexpired_keys: true,
        ..IngressPublicKeyFilters::ALL
    };
    let keys: Vec<_> = db
        .get_ingress_key_records(b(0), &unexpired)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    // key 4 has scanned nothing, so it does not count as unexpired (MobileCoin's rule).
    assert_eq!(keys, vec![test_key(1), test_key(2), test_key(3)]);

    let later: Vec<_> = db
        .get_ingress_key_records(b(6), &IngressPublicKeyFilters::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(later, vec![test_key(3), test_key(4)]);

    // A lost key that scanned nothing covers nothing.
    db.new_ingress_key(&test_key(5), b(50)).await.unwrap();
    db.report_lost_ingress_key(&test_key(5)).await.unwrap();
    let rec = db
        .get_ingress_key_records(b(50), &IngressPublicKeyFilters::ALL)
        .await
        .unwrap();
    assert_eq!(rec.len(), 1);
    assert!(rec[0].covered_block_range().is_empty());
}

/// A lost key's unscanned blocks up to its expiry become one `MissingBlocks` event.
pub async fn lost_key_becomes_missed_range<D: RecoveryDb>(db: &D) {
    let report = |e: u64| ReportData {
        ingest_invocation_id: None,
        evidence: vec![9],
        pubkey_expiry: b(e),
    };
    let inv = setup_invocation(db, 1, 1, 10).await;
    db.set_report(&test_key(1), "r", &report(20)).await.unwrap();
    for blk in 10..14 {
        add(db, inv, blk, 1).await;
    }
    db.report_lost_ingress_key(&test_key(1)).await.unwrap();
    assert!(
        db.get_ingress_key_status(&test_key(1))
            .await
            .unwrap()
            .unwrap()
            .lost
    );
    assert_eq!(
        db.get_missed_block_ranges().await.unwrap(),
        vec![range(14, 20)]
    );
    // Again: the same range, no second event.
    db.report_lost_ingress_key(&test_key(1)).await.unwrap();
    assert_eq!(
        db.get_missed_block_ranges().await.unwrap(),
        vec![range(14, 20)]
    );

    // Nothing scanned: the range starts at the key's start block.
    db.new_ingress_key(&test_key(2), b(30)).await.unwrap();
    db.set_report(&test_key(2), "s", &report(35)).await.unwrap();
    db.report_lost_ingress_key(&test_key(2)).await.unwrap();
    // Expiry not past the scanned blocks: no range.
    let inv3 = setup_invocation(db, 3, 3, 40).await;
    db.set_report(&test_key(3), "t", &report(41)).await.unwrap();
    add(db, inv3, 40, 1).await;
    db.report_lost_ingress_key(&test_key(3)).await.unwrap();
    // Expiry never set (0): no range.
    db.new_ingress_key(&test_key(4), b(60)).await.unwrap();
    db.report_lost_ingress_key(&test_key(4)).await.unwrap();

    assert_eq!(
        db.get_missed_block_ranges().await.unwrap(),
        vec![range(14, 20), range(30, 35)]
    );
    let (events, _) = db.search_user_events(UserEventId::START).await.unwrap();
    let missing: Vec<_> = events
        .into_iter()
        .filter_map(|e| match e {
            FogUserEvent::MissingBlocks(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(missing, vec![range(14, 20), range(30, 35)]);
}

/// Invocations, decommissioning, and the event log: order, ids, paging.
pub async fn invocations_and_user_events<D: RecoveryDb>(db: &D) {
    let (events, next) = db.search_user_events(UserEventId::START).await.unwrap();
    assert!(events.is_empty());
    assert_eq!(next, UserEventId::START, "no events: next is since");

    let k = test_key(1);
    db.new_ingress_key(&k, b(0)).await.unwrap();
    let i1 = db
        .new_ingest_invocation(None, &k, &test_egress(1), b(0))
        .await
        .unwrap();
    for blk in 0..3 {
        add(db, i1, blk, 1).await;
    }
    let i2 = db
        .new_ingest_invocation(Some(i1), &k, &test_egress(2), b(3))
        .await
        .unwrap();
    assert!(i2 > i1);
    assert!(matches!(
        db.new_ingest_invocation(None, &k, &test_egress(2), b(3))
            .await,
        Err(RecoveryDbError::DuplicateEgressKey)
    ));
    assert!(matches!(
        db.new_ingest_invocation(None, &test_key(9), &test_egress(9), b(3))
            .await,
        Err(RecoveryDbError::UnknownIngressKey)
    ));
    assert!(matches!(
        db.new_ingest_invocation(Some(IngestInvocationId(12345)), &k, &test_egress(8), b(3))
            .await,
        Err(RecoveryDbError::UnknownIngestInvocation(12345))
    ));
    assert!(matches!(
        db.decommission_ingest_invocation(IngestInvocationId(12345))
            .await,
        Err(RecoveryDbError::UnknownIngestInvocation(12345))
    ));
    // A failed call wrote nothing: no invocation, no event.
    assert_eq!(db.get_ingestable_ranges().await.unwrap().len(), 2);

    db.decommission_ingest_invocation(i2).await.unwrap();
    db.decommission_ingest_invocation(i2).await.unwrap(); // no-op

    let (events, next) = db.search_user_events(UserEventId::START).await.unwrap();
    assert_eq!(
        events,
        vec![
            FogUserEvent::NewRngRecord(RngRecord {
                ingest_invocation_id: i1,
                pubkey: test_egress(1),
                start_block: b(0)
            }),
            FogUserEvent::DecommissionIngestInvocation {
                id: i1,
                last_ingested_block: b(2)
            },
            FogUserEvent::NewRngRecord(RngRecord {
                ingest_invocation_id: i2,
                pubkey: test_egress(2),
                start_block: b(3)
            }),
            FogUserEvent::DecommissionIngestInvocation {
                id: i2,
                last_ingested_block: b(0)
            },
        ]
    );
    // Ids start at 1 and strictly increase: every `since` returns a suffix of the log.
    let total = events.len();
    assert!(next.0 >= i64::try_from(total).unwrap());
    let (after_first, _) = db.search_user_events(UserEventId(1)).await.unwrap();
    assert_eq!(after_first[..], events[1..], "the first event has id 1");
    let mut prev_len = total;
    for s in 0..=next.0 {
        let (evs, n) = db.search_user_events(UserEventId(s)).await.unwrap();
        assert!(evs.len() <= prev_len);
        prev_len = evs.len();
        assert_eq!(evs[..], events[total - evs.len()..]);
        assert_eq!(n, if evs.is_empty() { UserEventId(s) } else { next });
    }
    assert_eq!(prev_len, 0);
    let (evs, n) = db.search_user_events(UserEventId::END).await.unwrap();
    assert!(evs.is_empty());
    assert_eq!(n, UserEventId::END);

    let ranges = db.get_ingestable_ranges().await.unwrap();
    assert_eq!(
        ranges,
        vec![
            IngestableRange {
                id: i1,
                start_block: b(0),
                decommissioned: true,
                last_ingested_block: Some(b(2))
            },
            IngestableRange {
                id: i2,
                start_block: b(3),
                decommissioned: true,
                last_ingested_block: None
            },
        ]
    );
}

/// Writing blocks and every way of reading them back.
pub async fn add_block_data_and_reads<D: RecoveryDb>(db: &D) {
    assert_eq!(db.get_highest_known_block_index().await.unwrap(), None);
    let inv = setup_invocation(db, 1, 1, 0).await;
    let k = test_key(1);
    for blk in [0u64, 1, 2, 4, 5] {
        assert!(!add(db, inv, blk, blk + 1).await);
    }
    // A block with no records is a scanned block too.
    assert!(!add(db, inv, 6, 0).await);
    assert_eq!(
        db.get_highest_known_block_index().await.unwrap(),
        Some(b(6))
    );
    assert_eq!(
        db.get_last_scanned_block_index(&k).await.unwrap(),
        Some(b(6))
    );
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&k, b(2)).await.unwrap(),
        Some(test_block(2, 3))
    );
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&k, b(3)).await.unwrap(),
        None
    );
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&k, b(6)).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&test_key(2), b(2))
            .await
            .unwrap(),
        None
    );

    // Range reads stop at the first gap.
    let got = db
        .get_tx_outs_by_block_range_and_key(&k, range(0, 10))
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![test_block(0, 1), test_block(1, 2), test_block(2, 3)]
    );
    let got = db
        .get_tx_outs_by_block_range_and_key(&k, range(4, 10))
        .await
        .unwrap();
    assert_eq!(got, vec![test_block(4, 5), test_block(5, 6), vec![]]);
    let got = db
        .get_tx_outs_by_block_range_and_key(&k, range(1, 2))
        .await
        .unwrap();
    assert_eq!(got, vec![test_block(1, 2)]);
    assert!(db
        .get_tx_outs_by_block_range_and_key(&k, range(3, 10))
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .get_tx_outs_by_block_range_and_key(&k, range(2, 2))
        .await
        .unwrap()
        .is_empty());
    let open = BlockRange::unbounded_from(b(4));
    assert_eq!(
        db.get_tx_outs_by_block_range_and_key(&k, open)
            .await
            .unwrap()
            .len(),
        3
    );

    assert_eq!(
        db.get_cumulative_txo_count_for_block(b(4)).await.unwrap(),
        Some(45)
    );
    assert_eq!(
        db.get_cumulative_txo_count_for_block(b(3)).await.unwrap(),
        None
    );
    assert_eq!(
        db.get_block_signature_timestamp_for_block(b(5))
            .await
            .unwrap(),
        Some(1_600_000_005)
    );
    assert_eq!(
        db.get_block_signature_timestamp_for_block(b(99))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.get_block_signature_timestamp_for_block(b(u64::MAX))
            .await
            .unwrap(),
        None
    );

    assert!(matches!(
        db.add_block_data(IngestInvocationId(777), b(9), 0, 0, &[])
            .await,
        Err(RecoveryDbError::UnknownIngestInvocation(777))
    ));
}

/// `UNIQUE(invocation, block)` and `UNIQUE(ingress key, block)`: the loser learns
/// `block_already_scanned_with_this_key` and writes nothing.
pub async fn unique_races_write_nothing<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let a = setup_invocation(db, 1, 1, 0).await;
    let other = setup_invocation(db, 1, 2, 0).await; // same ingress key, another egress key
    let foreign = setup_invocation(db, 2, 3, 0).await; // another ingress key
    assert!(!add(db, a, 0, 3).await);
    // Same invocation, same block, other content.
    let st = db
        .add_block_data(a, b(0), 999, 999, &test_block(50, 7))
        .await
        .unwrap();
    assert!(st.block_already_scanned_with_this_key);
    // Same ingress key through another invocation.
    let st = db
        .add_block_data(other, b(0), 999, 999, &test_block(51, 2))
        .await
        .unwrap();
    assert!(st.block_already_scanned_with_this_key);
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&k, b(0)).await.unwrap(),
        Some(test_block(0, 3))
    );
    assert_eq!(
        db.get_cumulative_txo_count_for_block(b(0)).await.unwrap(),
        Some(3)
    );
    let batch = db
        .get_records_since(RecordCursor::START, usize::MAX)
        .await
        .unwrap();
    assert_eq!(batch.blocks.len(), 1);
    assert_eq!(batch.blocks[0].ingest_invocation_id, a);
    // Another ingress key may store the same block.
    assert!(!add(db, foreign, 0, 1).await);
    assert_eq!(
        db.get_ingestable_ranges().await.unwrap()[1].last_ingested_block,
        None,
        "the loser recorded nothing"
    );
}

/// Two writers race for the same blocks of one ingress key: each block has exactly one
/// winner, and its content is the winner's.
pub async fn concurrent_writers_one_winner<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let a = setup_invocation(db, 1, 1, 0).await;
    let c = setup_invocation(db, 1, 2, 0).await;
    let run = |inv: IngestInvocationId, tag: u64| async move {
        let mut won = Vec::new();
        for blk in 0..20u64 {
            let st = db
                .add_block_data(inv, b(blk), tag, tag, &test_block(blk * 1000 + tag, 3))
                .await
                .unwrap();
            if !st.block_already_scanned_with_this_key {
                won.push(blk);
            }
        }
        won
    };
    let (wa, wc) = tokio::join!(run(a, 1), run(c, 2));
    assert_eq!(wa.len() + wc.len(), 20, "a={wa:?} c={wc:?}");
    for blk in 0..20u64 {
        let tag = if wa.contains(&blk) { 1 } else { 2 };
        assert_eq!(
            db.get_tx_outs_by_block_and_key(&k, b(blk)).await.unwrap(),
            Some(test_block(blk * 1000 + tag, 3))
        );
    }
}

/// Reports: upsert, expiry only grows, retired keys refuse, id length, removal.
pub async fn reports<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let inv = setup_invocation(db, 1, 1, 0).await;
    assert!(db.get_all_reports().await.unwrap().is_empty());
    let data = |iid: Option<IngestInvocationId>, ev: u8, e: u64| ReportData {
        ingest_invocation_id: iid,
        evidence: vec![ev; 40],
        pubkey_expiry: b(e),
    };
    let st = db
        .set_report(&k, "", &data(Some(inv), 1, 10))
        .await
        .unwrap();
    assert_eq!(st.pubkey_expiry, b(10));
    let st = db.set_report(&k, "", &data(Some(inv), 2, 5)).await.unwrap();
    assert_eq!(st.pubkey_expiry, b(10), "expiry only grows");
    assert_eq!(
        db.get_all_reports().await.unwrap(),
        vec![(String::new(), data(Some(inv), 2, 5))],
        "the report itself is replaced"
    );
    db.set_report(&k, "zeta", &data(None, 3, 12)).await.unwrap();
    db.set_report(&k, "Alpha", &data(None, 4, 11))
        .await
        .unwrap();
    let ids: Vec<_> = db
        .get_all_reports()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, vec!["", "Alpha", "zeta"], "byte order");
    assert_eq!(
        db.get_ingress_key_status(&k)
            .await
            .unwrap()
            .unwrap()
            .pubkey_expiry,
        b(12)
    );

    db.retire_ingress_key(&k, true).await.unwrap();
    let st = db
        .set_report(&k, "zeta", &data(None, 5, 100))
        .await
        .unwrap();
    assert!(st.retired);
    assert_eq!(st.pubkey_expiry, b(12), "a retired key's expiry is frozen");
    let st = db.set_report(&k, "new", &data(None, 5, 100)).await.unwrap();
    assert!(st.retired);
    let all = db.get_all_reports().await.unwrap();
    assert_eq!(all.len(), 3, "nothing written for a retired key");
    assert_eq!(all[2], ("zeta".to_owned(), data(None, 3, 12)));

    db.retire_ingress_key(&k, false).await.unwrap();
    let long = "x".repeat(65);
    let err = db
        .set_report(&k, &long, &data(None, 1, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, RecoveryDbError::ReportIdTooLong(65)), "{err}");
    assert!(!err.should_retry());
    db.set_report(&k, &"y".repeat(64), &data(None, 1, 1))
        .await
        .unwrap();
    assert!(matches!(
        db.set_report(&test_key(9), "q", &data(None, 1, 1)).await,
        Err(RecoveryDbError::UnknownIngressKey)
    ));
    assert!(matches!(
        db.set_report(&k, "q", &data(Some(IngestInvocationId(4242)), 1, 1))
            .await,
        Err(RecoveryDbError::UnknownIngestInvocation(4242))
    ));

    db.remove_report("Alpha").await.unwrap();
    db.remove_report("never-there").await.unwrap();
    let ids: Vec<_> = db
        .get_all_reports()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, vec!["".to_owned(), "y".repeat(64), "zeta".to_owned()]);
}

/// `update_last_active_at` and `get_expired_invocations`.
pub async fn expired_invocations<D: RecoveryDb>(db: &D) {
    let before_all = SystemTime::now() - Duration::from_secs(3600);
    let i1 = setup_invocation(db, 1, 1, 0).await;
    let i2 = setup_invocation(db, 1, 2, 0).await;
    db.update_last_active_at(i1).await.unwrap();
    assert!(matches!(
        db.update_last_active_at(IngestInvocationId(31337)).await,
        Err(RecoveryDbError::UnknownIngestInvocation(31337))
    ));
    assert!(db
        .get_expired_invocations(before_all)
        .await
        .unwrap()
        .is_empty());
    let later = SystemTime::now() + Duration::from_secs(3600);
    let expired = db.get_expired_invocations(later).await.unwrap();
    assert_eq!(
        expired
            .iter()
            .map(|e| e.ingest_invocation_id)
            .collect::<Vec<_>>(),
        vec![i1, i2]
    );
    assert_eq!(expired[1].egress_public_key, test_egress(2));
    assert!(expired[0].last_active_at > before_all && expired[0].last_active_at < later);
}

/// A block of 10^4 records goes in with one call and comes back identical.
pub async fn big_batch_round_trips<D: RecoveryDb>(db: &D) {
    let inv = setup_invocation(db, 1, 1, 0).await;
    let big = test_block(7, 10_000);
    let st = db.add_block_data(inv, b(7), 10_000, 1, &big).await.unwrap();
    assert!(!st.block_already_scanned_with_this_key);
    let again = db
        .get_tx_outs_by_block_and_key(&test_key(1), b(7))
        .await
        .unwrap()
        .unwrap();
    assert!(again == big, "10^4 records round-trip");
    let batch = db.get_records_since(RecordCursor::START, 1).await.unwrap();
    assert_eq!(batch.blocks.len(), 1);
    assert!(batch.blocks[0].records == big);
}

/// `get_records_since` returns every block once, in write order, whole, in batches of at
/// least `max_records` records.
pub async fn records_since_pages_in_write_order<D: RecoveryDb>(db: &D) {
    let empty = db.get_records_since(RecordCursor::START, 10).await.unwrap();
    assert!(empty.blocks.is_empty());
    assert_eq!(empty.next, RecordCursor::START);

    let i1 = setup_invocation(db, 1, 1, 0).await;
    let i2 = setup_invocation(db, 2, 2, 0).await;
    let mut written = Vec::new();
    for blk in 0..30u64 {
        let n = blk % 5; // includes empty blocks
        let inv = if blk % 3 == 0 { i2 } else { i1 };
        // Write out of block order, so write order and block order differ.
        let block = 29 - blk;
        assert!(!add(db, inv, block, n).await);
        written.push((inv, block, n));
    }
    for max in [1usize, 3, 7, 1000] {
        let (blocks, _) = read_all(db, RecordCursor::START, max, None).await;
        for blk in &blocks {
            let key = if blk.ingest_invocation_id == i2 { 2 } else { 1 };
            assert_eq!(blk.ingress_key, test_key(key));
        }
        assert_eq!(summary(&blocks), written, "max_records = {max}");
    }
}

/// Reads every block after `cursor` in batches of `max_records`: with `get_records_since_in`
/// over `span`, or with `get_records_since` if `span` is `None`. Checks each batch against the
/// paging contract and each block against what [`add`] wrote; returns the blocks and the
/// cursor after them.
async fn read_all<D: RecoveryDb>(
    db: &D,
    mut cursor: RecordCursor,
    max_records: usize,
    span: Option<BlockSpan>,
) -> (Vec<IngestedBlock>, RecordCursor) {
    let mut seen = Vec::new();
    loop {
        let batch = match span {
            None => db.get_records_since(cursor, max_records).await,
            Some(s) => db.get_records_since_in(cursor, max_records, s).await,
        }
        .unwrap();
        if batch.blocks.is_empty() {
            assert_eq!(batch.next, cursor);
            return (seen, cursor);
        }
        assert!(batch.next > cursor);
        // At least `max_records` records unless the stream ended; never more than one block
        // past.
        let count = batch.record_count();
        let last = batch.blocks.last().unwrap().records.len();
        assert!(
            count - last < max_records,
            "batch went past max: {count} {last} {max_records}"
        );
        for blk in &batch.blocks {
            let n = blk.records.len() as u64;
            let i = blk.block_index.0;
            assert!(
                span.unwrap_or(BlockSpan::ALL).contains(blk.block_index),
                "block {i} is outside {span:?}"
            );
            assert_eq!(blk.records, test_block(i, n));
            assert_eq!(blk.cumulative_txo_count, i * 10 + n);
            assert_eq!(blk.block_signature_timestamp, 1_600_000_000 + i);
        }
        seen.extend(batch.blocks);
        cursor = batch.next;
    }
}

/// `(invocation, block, record count)` of each block, in order.
fn summary(blocks: &[IngestedBlock]) -> Vec<(IngestInvocationId, u64, u64)> {
    blocks
        .iter()
        .map(|blk| {
            (
                blk.ingest_invocation_id,
                blk.block_index.0,
                blk.records.len() as u64,
            )
        })
        .collect()
}

/// `get_records_since_in`: exactly the stored blocks whose index lies in the span, each once,
/// in write order, paged like `get_records_since` (which is the same over
/// [`BlockSpan::ALL`]); a block of the span written after the reader caught up comes after its
/// cursor, one written outside the span never shows.
pub async fn records_since_in_a_block_span<D: RecoveryDb>(db: &D) {
    let span = |start: u64, end: Option<u64>| BlockSpan {
        start: b(start),
        end: end.map(b),
    };
    let empty = db
        .get_records_since_in(RecordCursor::START, 10, span(8, Some(16)))
        .await
        .unwrap();
    assert_eq!(empty, RecordBatch::default(), "nothing stored yet");

    // Blocks 0..24 by three invocations (three keys), out of block order.
    let invocations = [
        setup_invocation(db, 1, 1, 0).await,
        setup_invocation(db, 2, 2, 0).await,
        setup_invocation(db, 3, 3, 0).await,
    ];
    let mut written = Vec::new();
    for k in 0..24u64 {
        let block = (k * 7) % 24; // every block once, in a scrambled order
        let inv = invocations[(k % 3) as usize];
        let n = block % 4; // includes empty blocks
        assert!(!add(db, inv, block, n).await);
        written.push((inv, block, n));
    }

    let spans = [
        BlockSpan::ALL,
        span(8, Some(16)),
        span(16, None),
        span(8, Some(8)),     // empty
        span(16, Some(8)),    // empty too: end before start
        span(30, Some(40)),   // no block stored there
        span(100, None),      // nor there
        span(23, Some(1000)), // the last stored block only
    ];
    for s in spans {
        let expected: Vec<_> = written
            .iter()
            .copied()
            .filter(|&(_, block, _)| s.contains(b(block)))
            .collect();
        for max in [1usize, 2, 5, 1000] {
            let (blocks, _) = read_all(db, RecordCursor::START, max, Some(s)).await;
            assert_eq!(summary(&blocks), expected, "{s:?}, max_records = {max}");
        }
    }
    // `get_records_since` is the span of every block, from every cursor.
    let mut cursor = RecordCursor::START;
    loop {
        for max in [1usize, 4] {
            assert_eq!(
                db.get_records_since(cursor, max).await.unwrap(),
                db.get_records_since_in(cursor, max, BlockSpan::ALL)
                    .await
                    .unwrap()
            );
        }
        let next = db.get_records_since(cursor, 1).await.unwrap().next;
        if next == cursor {
            break;
        }
        cursor = next;
    }

    // Readers of [8, 16) and [16, ∞) have caught up; then a block outside [8, 16) is stored,
    // and block 9 again, scanned under a fourth key.
    let inner = span(8, Some(16));
    let open = span(16, None);
    let (_, inner_at) = read_all(db, RecordCursor::START, 3, Some(inner)).await;
    let (_, open_at) = read_all(db, RecordCursor::START, 3, Some(open)).await;
    let late = setup_invocation(db, 4, 4, 0).await;
    assert!(!add(db, invocations[0], 45, 2).await);
    assert!(!add(db, late, 9, 3).await);
    let (blocks, next) = read_all(db, inner_at, 1, Some(inner)).await;
    assert_eq!(summary(&blocks), vec![(late, 9, 3)]);
    assert!(next > inner_at);
    let (blocks, _) = read_all(db, open_at, 1, Some(open)).await;
    assert_eq!(summary(&blocks), vec![(invocations[0], 45, 2)]);
    let (blocks, _) = read_all(db, RecordCursor::START, 2, Some(inner)).await;
    assert_eq!(blocks.len(), 9, "blocks 8..16, and block 9 twice");
    assert_eq!(summary(&blocks).last(), Some(&(late, 9, 3)));

    // The last block a database stores, i64::MAX: in every span that reaches it, and only
    // there (spans starting past it hold nothing).
    let top = i64::MAX as u64;
    db.add_block_data(late, b(top), 0, 0, &[]).await.unwrap();
    for (s, holds_top) in [
        (BlockSpan::ALL, true),
        (span(top, None), true),
        (span(0, Some(u64::MAX)), true),
        (span(100, Some(top)), false),
        (span(top + 1, None), false),
    ] {
        let batch = db.get_records_since_in(next, 1000, s).await.unwrap();
        let tops: Vec<_> = batch.blocks.iter().map(|blk| blk.block_index.0).collect();
        assert_eq!(tops, if holds_top { vec![top] } else { vec![] }, "{s:?}");
    }
}

/// Malformed input fails before touching the database, and is not retryable.
pub async fn bad_input_is_refused<D: RecoveryDb>(db: &D) {
    let inv = setup_invocation(db, 1, 1, 0).await;
    let mut bad = test_block(0, 3);
    bad[1].search_key.truncate(15);
    let err = db.add_block_data(inv, b(0), 3, 0, &bad).await.unwrap_err();
    assert!(matches!(err, RecoveryDbError::InvalidInput(_)), "{err}");
    assert!(!err.should_retry());
    assert_eq!(db.get_highest_known_block_index().await.unwrap(), None);
    let err = db
        .add_block_data(inv, b(u64::MAX), 0, 0, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, RecoveryDbError::InvalidInput(_)), "{err}");
    let err = db
        .new_ingress_key(&test_key(2), b(u64::MAX))
        .await
        .unwrap_err();
    assert!(matches!(err, RecoveryDbError::InvalidInput(_)), "{err}");
    assert!(BlockRange::from_u64(5, 4).is_err());
    assert!(db
        .get_ingress_key_status(&test_key(2))
        .await
        .unwrap()
        .is_none());
    let err = db.add_block_data(inv, b(0), 0, 0, &[]).await;
    assert!(err.is_ok(), "the database still works");
}

/// A write that fails after inserting the block row rolls back whole. `arm` makes the next
/// `add_block_data` of `db` fail at that point (the backends' fault hooks).
pub async fn failed_block_write_leaves_nothing<D: RecoveryDb>(db: &D, arm: impl Fn(&D)) {
    let inv = setup_invocation(db, 1, 1, 0).await;
    assert!(!add(db, inv, 0, 2).await);
    let ranges_before = db.get_ingestable_ranges().await.unwrap();
    arm(db);
    let err = db
        .add_block_data(inv, b(1), 5, 5, &test_block(1, 50))
        .await
        .unwrap_err();
    assert!(matches!(err, RecoveryDbError::InjectedFault), "{err}");
    assert_eq!(
        db.get_highest_known_block_index().await.unwrap(),
        Some(b(0))
    );
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&test_key(1), b(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.get_cumulative_txo_count_for_block(b(1)).await.unwrap(),
        None
    );
    assert_eq!(db.get_ingestable_ranges().await.unwrap(), ranges_before);
    let batch = db
        .get_records_since(RecordCursor::START, usize::MAX)
        .await
        .unwrap();
    assert_eq!(batch.blocks.len(), 1);
    // The retry writes the block.
    assert!(!add(db, inv, 1, 50).await);
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&test_key(1), b(1))
            .await
            .unwrap(),
        Some(test_block(1, 50))
    );
}

/// Two ingest processes on one ingress key: the second decommissions the first's invocation
/// (as `new_ingest_invocation(Some(prev))` does at start-up) while the first keeps writing.
/// Clients that saw the decommission stop drawing from that RNG after its last block, so a
/// later block written under it would be lost to them for good: the write is refused, nothing
/// of it is stored, and the last block the event names stays what it was at decommission.
pub async fn decommissioned_invocation_refuses_writes<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let first = setup_invocation(db, 1, 1, 0).await;
    for blk in 0..3 {
        assert!(!add(db, first, blk, 2).await);
    }
    let second = db
        .new_ingest_invocation(Some(first), &k, &test_egress(2), b(3))
        .await
        .unwrap();
    // The first process has not noticed and writes block 3 under its old invocation.
    let err = db
        .add_block_data(first, b(3), 99, 99, &test_block(3, 4))
        .await
        .expect_err("a write to a decommissioned invocation must be refused");
    assert!(
        matches!(err, RecoveryDbError::InvocationDecommissioned(id) if id == first.0),
        "{err:?}"
    );
    assert!(!err.should_retry(), "retrying cannot help: {err:?}");
    assert_eq!(
        db.get_tx_outs_by_block_and_key(&k, b(3)).await.unwrap(),
        None
    );
    assert_eq!(
        db.get_last_scanned_block_index(&k).await.unwrap(),
        Some(b(2))
    );
    // The same for the block it already wrote (no "already scanned" answer either).
    assert!(matches!(
        db.add_block_data(first, b(2), 99, 99, &test_block(2, 2))
            .await,
        Err(RecoveryDbError::InvocationDecommissioned(_))
    ));
    // The live invocation takes block 3.
    assert!(!add(db, second, 3, 1).await);
    let (events, _) = db.search_user_events(UserEventId::START).await.unwrap();
    assert!(
        events.contains(&FogUserEvent::DecommissionIngestInvocation {
            id: first,
            last_ingested_block: b(2)
        }),
        "{events:?}"
    );
    let ranges = db.get_ingestable_ranges().await.unwrap();
    let r = ranges.iter().find(|r| r.id == first).unwrap();
    assert!(r.decommissioned);
    assert_eq!(r.last_ingested_block, Some(b(2)));
}

/// The same race with real concurrency: one writer streams blocks under its invocation while
/// the other decommissions it part way. Every block the stream got in is at or below the
/// frozen last block; every one after it was refused; the event names exactly the last one
/// stored.
pub async fn decommission_races_a_writer<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let first = setup_invocation(db, 1, 1, 0).await;
    let writer = async {
        let mut stored = Vec::new();
        let mut refused = Vec::new();
        for blk in 0..40u64 {
            match db
                .add_block_data(first, b(blk), blk, blk, &test_block(blk, 2))
                .await
            {
                Ok(st) => {
                    assert!(!st.block_already_scanned_with_this_key);
                    stored.push(blk);
                }
                Err(RecoveryDbError::InvocationDecommissioned(_)) => refused.push(blk),
                Err(e) => panic!("unexpected error: {e:?}"),
            }
            tokio::task::yield_now().await;
        }
        (stored, refused)
    };
    let decommissioner = async {
        // Let a few blocks land first.
        while db.get_last_scanned_block_index(&k).await.unwrap() < Some(b(3)) {
            tokio::task::yield_now().await;
        }
        db.new_ingest_invocation(Some(first), &k, &test_egress(2), b(0))
            .await
            .unwrap()
    };
    let ((stored, refused), _second) = tokio::join!(writer, decommissioner);
    assert!(
        !refused.is_empty(),
        "the decommission came too late to test anything"
    );
    let last = *stored.last().expect("a few blocks landed first");
    assert!(
        refused.iter().all(|&r| r > last),
        "a block was stored after one was refused: stored={stored:?} refused={refused:?}"
    );
    assert_eq!(
        db.get_last_scanned_block_index(&k).await.unwrap(),
        Some(b(last))
    );
    let (events, _) = db.search_user_events(UserEventId::START).await.unwrap();
    assert!(
        events.contains(&FogUserEvent::DecommissionIngestInvocation {
            id: first,
            last_ingested_block: b(last)
        }),
        "{events:?}"
    );
}

/// `take_over_ingress_key`: the new invocation starts after the key's last stored block,
/// every other live invocation of the key is decommissioned in the same transaction and can
/// write no more, a fresh invocation blocks a conditional take-over, and lost or unknown
/// keys are refused.
pub async fn take_over_fences_the_key<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let other = test_key(2);
    assert!(matches!(
        db.take_over_ingress_key(&k, &test_egress(1), TakeOver::Always)
            .await,
        Err(RecoveryDbError::UnknownIngressKey)
    ));
    db.new_ingress_key(&k, b(3)).await.unwrap();
    // No block yet: the key's start block.
    let first = db
        .take_over_ingress_key(&k, &test_egress(1), TakeOver::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.start_block, b(3));
    assert!(first.decommissioned.is_empty());
    for blk in 3..=5 {
        assert!(!add(db, first.invocation, blk, 2).await);
    }
    // Another key's invocation is not touched by a take-over of this one.
    let bystander = setup_invocation(db, 2, 9, 0).await;
    // A second live invocation of the key (opened the MobileCoin way).
    let second = db
        .new_ingest_invocation(None, &k, &test_egress(2), b(6))
        .await
        .unwrap();
    // Both were just active: a conditional take-over finds them fresh and writes nothing.
    let a_minute_ago = SystemTime::now() - Duration::from_secs(60);
    let events_before = db.search_user_events(UserEventId::START).await.unwrap().0;
    assert_eq!(
        db.take_over_ingress_key(&k, &test_egress(3), TakeOver::IfIdleSince(a_minute_ago))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        db.search_user_events(UserEventId::START).await.unwrap().0,
        events_before
    );
    // Idle since a time in the future: both count as stale.
    let later = SystemTime::now() + Duration::from_secs(60);
    let third = db
        .take_over_ingress_key(&k, &test_egress(3), TakeOver::IfIdleSince(later))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.start_block, b(6), "after the last stored block, 5");
    assert_eq!(third.decommissioned, vec![first.invocation, second]);
    // The fenced-off invocations write no more; the new one does.
    for old in [first.invocation, second] {
        assert!(matches!(
            db.add_block_data(old, b(6), 60, 6, &test_block(6, 1)).await,
            Err(RecoveryDbError::InvocationDecommissioned(_))
        ));
    }
    assert!(!add(db, third.invocation, 6, 1).await);
    assert!(
        !add(db, bystander, 0, 1).await,
        "the other key still writes"
    );
    // Events: the decommissions (by id), then the new RNG record.
    let events = db.search_user_events(UserEventId::START).await.unwrap().0;
    let tail: Vec<_> = events[events.len() - 3..].to_vec();
    assert_eq!(
        tail,
        vec![
            FogUserEvent::DecommissionIngestInvocation {
                id: first.invocation,
                last_ingested_block: b(5)
            },
            // `second` stored nothing: 0, as MobileCoin reports it.
            FogUserEvent::DecommissionIngestInvocation {
                id: second,
                last_ingested_block: b(0)
            },
            FogUserEvent::NewRngRecord(RngRecord {
                ingest_invocation_id: third.invocation,
                pubkey: test_egress(3),
                start_block: b(6),
            }),
        ]
    );
    let live: Vec<_> = db
        .get_invocations(Some(&k))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| !i.decommissioned)
        .map(|i| i.id)
        .collect();
    assert_eq!(live, vec![third.invocation], "exactly one live invocation");
    // A reused egress key is refused, a lost key too.
    assert!(matches!(
        db.take_over_ingress_key(&k, &test_egress(3), TakeOver::Always)
            .await,
        Err(RecoveryDbError::DuplicateEgressKey)
    ));
    db.report_lost_ingress_key(&other).await.unwrap();
    assert!(matches!(
        db.take_over_ingress_key(&other, &test_egress(4), TakeOver::Always)
            .await,
        Err(RecoveryDbError::IngressKeyLost)
    ));
}

/// Several peers take over one stale key at once: exactly one gets it.
pub async fn take_over_races_one_winner<D: RecoveryDb>(db: &D) {
    let k = test_key(1);
    let stale = setup_invocation(db, 1, 1, 0).await;
    assert!(!add(db, stale, 0, 1).await);
    // Everything active before now is stale; a winner's new invocation is active after.
    let cutoff = SystemTime::now() + Duration::from_millis(1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let egress: Vec<KexRngPubkey> = (0..6u32).map(|i| test_egress(10 + i)).collect();
    let attempts = egress
        .iter()
        .map(|e| db.take_over_ingress_key(&k, e, TakeOver::IfIdleSince(cutoff)));
    let results = futures_join_all(attempts).await;
    let winners: Vec<TookOver> = results.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(winners.len(), 1, "exactly one peer takes over: {winners:?}");
    assert_eq!(winners[0].start_block, b(1));
    assert_eq!(winners[0].decommissioned, vec![stale]);
    let live: Vec<_> = db
        .get_invocations(Some(&k))
        .await
        .unwrap()
        .into_iter()
        .filter(|i| !i.decommissioned)
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, winners[0].invocation);
}

async fn futures_join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = futures.collect();
    // Poll them together so the backends see concurrent calls.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().map(|v| v.expect("every future finished")));
    out
}

/// `get_invocations` lists every invocation (or a key's) with its range and state;
/// `prune_empty_invocations` removes only decommissioned invocations that stored nothing and
/// no report names, with their events, and never reuses an id afterwards.
pub async fn invocation_records_and_pruning<D: RecoveryDb>(db: &D) {
    let k1 = test_key(1);
    let k2 = test_key(2);
    let with_blocks = setup_invocation(db, 1, 1, 0).await;
    assert!(!add(db, with_blocks, 0, 1).await);
    assert!(!add(db, with_blocks, 1, 1).await);
    let empty = db
        .new_ingest_invocation(Some(with_blocks), &k1, &test_egress(2), b(2))
        .await
        .unwrap();
    let reported = setup_invocation(db, 2, 3, 0).await;
    db.set_report(
        &k2,
        "r",
        &ReportData {
            ingest_invocation_id: Some(reported),
            evidence: vec![1],
            pubkey_expiry: b(3),
        },
    )
    .await
    .unwrap();
    let live = db
        .new_ingest_invocation(Some(empty), &k1, &test_egress(4), b(2))
        .await
        .unwrap();
    db.decommission_ingest_invocation(reported).await.unwrap();

    let all = db.get_invocations(None).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![with_blocks, empty, reported, live]
    );
    assert_eq!(all[0].ingress_key, k1);
    assert_eq!(all[0].egress_public_key, test_egress(1));
    assert_eq!(all[0].start_block, b(0));
    assert_eq!(all[0].last_ingested_block, Some(b(1)));
    assert!(all[0].decommissioned);
    assert_eq!(all[1].last_ingested_block, None);
    assert!(!all[3].decommissioned);
    assert_eq!(
        db.get_invocations(Some(&k2))
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        vec![reported]
    );

    // Nothing decommissioned before an hour ago.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    assert!(db
        .prune_empty_invocations(hour_ago)
        .await
        .unwrap()
        .is_empty());
    let (events_before, _) = db.search_user_events(UserEventId::START).await.unwrap();
    let later = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        db.prune_empty_invocations(later).await.unwrap(),
        vec![empty]
    );
    let (events_after, _) = db.search_user_events(UserEventId::START).await.unwrap();
    let mentions_empty = |e: &FogUserEvent| match e {
        FogUserEvent::NewRngRecord(r) => r.ingest_invocation_id == empty,
        FogUserEvent::DecommissionIngestInvocation { id, .. } => *id == empty,
        FogUserEvent::MissingBlocks(_) => false,
    };
    assert_eq!(
        events_after,
        events_before
            .iter()
            .filter(|e| !mentions_empty(e))
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(events_before.len(), events_after.len() + 2);
    assert_eq!(
        db.get_invocations(None)
            .await
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        vec![with_blocks, reported, live]
    );
    // Pruning again removes nothing; new ids and events still count up.
    assert!(db.prune_empty_invocations(later).await.unwrap().is_empty());
    let (_, cursor) = db.search_user_events(UserEventId::START).await.unwrap();
    let next = db
        .new_ingest_invocation(Some(live), &k1, &test_egress(5), b(2))
        .await
        .unwrap();
    assert!(next.0 > live.0);
    let (fresh, _) = db.search_user_events(cursor).await.unwrap();
    assert_eq!(
        fresh.len(),
        2,
        "decommission of `live`, new record of `next`"
    );
}
