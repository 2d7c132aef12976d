//! A hostile host feeding the view enclave: what an answer vouches for (processed block count,
//! user events, next event id) comes from what the enclave loaded and checked, never from the
//! host per request; a loaded batch is never half visible to queries racing the load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use fog_attest::{
    wire::NonceMessage, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_crypto::kex_rng::KexRngPubkey;
use fog_enclave::view::{ViewStore, RESULT_FOUND, RESULT_NOT_FOUND};
use fog_enclave::view_enclave::{
    BlockMark, HostCounters, LoadError, UserEvent, ViewEnclave, MAX_EVENTS_PER_ANSWER,
};
use fog_oram::HeapFactory;
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{
    DecommissionedIngestInvocation, QueryRequest, QueryRequestAad, QueryResponse, RngRecord,
};
use prost::Message as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

type View = ViewEnclave<HeapFactory, ChaCha20Rng>;

fn provider() -> SimProvider {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    SimProvider::generate(&mut rng, fog_attest::fog_identity(FogEnclave::View))
}

fn enclave(p: &SimProvider, parts: usize, capacity: u64) -> View {
    let keys = ChannelKeypair::generate().unwrap();
    let rd = ReportData::bind(keys.public_key(), None);
    let bound = BoundEvidence {
        evidence: p.evidence_at(&rd, NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let parts = (0..parts)
        .map(|i| {
            ViewStore::new(
                capacity,
                HeapFactory,
                ChaCha20Rng::seed_from_u64(10 + i as u64),
            )
            .unwrap()
        })
        .collect();
    ViewEnclave::new(
        EnclaveResponder::new(keys, bound).unwrap(),
        16,
        SessionLimits::default(),
        parts,
        &mut ChaCha20Rng::seed_from_u64(7),
    )
    .unwrap()
}

fn connect(p: &SimProvider, view: &View) -> Channel {
    let verifier = Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_attest::fog_identity(FogEnclave::View).measurement,
            )],
            3600,
        ),
    );
    let (hs, hello) = ClientHandshake::start(verifier).unwrap();
    let answer = view
        .auth(&hello, fog_attest::PeerKey::UNKNOWN, NOW)
        .unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

/// The host's counters, as inflated as a hostile host likes: they must not leak into what
/// the answer vouches for.
const LYING_HOST: HostCounters = HostCounters {
    last_known_block_count: 1_000,
    last_known_block_cumulative_txo_count: 10_000,
};

fn ask(
    view: &View,
    c: &mut Channel,
    since: i64,
    confirmed: u64,
    keys: &[Vec<u8>],
) -> QueryResponse {
    let aad = QueryRequestAad {
        start_from_user_event_id: since,
        start_from_block_index: confirmed,
    }
    .encode_to_vec();
    let body = QueryRequest {
        get_txos: keys.to_vec(),
    }
    .encode_to_vec();
    let f: NonceMessage = c.seal(&aad, &body, NOW).unwrap();
    let answer = view.query(&f, LYING_HOST, NOW).unwrap();
    QueryResponse::decode(c.open(&answer, NOW).unwrap().as_slice()).unwrap()
}

fn rng(id: i64, start: u64) -> UserEvent {
    UserEvent::NewRng(RngRecord {
        ingest_invocation_id: id,
        pubkey: Some(KexRngPubkey {
            public_key: vec![id as u8; 32],
            version: 1,
        }),
        start_block: start,
    })
}

fn decommission(id: i64, last: u64) -> UserEvent {
    UserEvent::Decommission(DecommissionedIngestInvocation {
        ingest_invocation_id: id,
        last_ingested_block: last,
    })
}

fn key(block: u64, i: u64) -> Vec<u8> {
    let mut k = vec![0u8; 16];
    k[..8].copy_from_slice(&(block + 1).to_le_bytes());
    k[8..].copy_from_slice(&(i + 1).to_le_bytes());
    k
}

/// Blocks `range` of invocation `inv`, two records each.
fn blocks(inv: i64, range: std::ops::Range<u64>) -> (Vec<BlockMark>, Vec<ETxOutRecord>) {
    let marks = range
        .clone()
        .map(|b| BlockMark {
            invocation: inv,
            block_index: b,
            timestamp: 1_000 + b,
        })
        .collect();
    let recs = range
        .flat_map(|b| {
            (0..2).map(move |i| ETxOutRecord {
                search_key: key(b, i),
                payload: vec![b as u8; 40],
            })
        })
        .collect();
    (marks, recs)
}

fn load(view: &View, inv: i64, range: std::ops::Range<u64>) -> Result<(), LoadError> {
    let (marks, recs) = blocks(inv, range);
    view.load_blocks(&marks, &recs)
}

#[test]
fn the_processed_count_is_what_was_loaded_not_what_the_host_claims() {
    let p = provider();
    let view = enclave(&p, 2, 1 << 10);
    let mut c = connect(&p, &view);
    view.add_user_events(&[rng(1, 0)]).unwrap();
    load(&view, 1, 0..5).unwrap();
    let r = ask(&view, &mut c, 0, 0, &[key(4, 1), key(5, 0)]);
    // The host says 1000 blocks are known; the enclave vouches only for the 5 it loaded.
    assert_eq!(r.highest_processed_block_count, 5);
    assert_eq!(r.highest_processed_block_signature_timestamp, 1_004);
    assert_eq!(r.last_known_block_count, 1_000);
    let code = |k: &[u8]| {
        r.fixed_tx_out_search_results
            .iter()
            .find(|x| x.search_key == k)
            .unwrap()
            .result_code
    };
    assert_eq!(code(&key(4, 1)), RESULT_FOUND);
    assert_eq!(code(&key(5, 0)), RESULT_NOT_FOUND);

    // A hostile loader that skips a block, repeats one, or marks a block of an invocation no
    // event announced is refused, and stores nothing of that batch.
    let before = view.len();
    assert_eq!(load(&view, 1, 6..8), Err(LoadError::OutOfOrder));
    assert_eq!(load(&view, 1, 4..6), Err(LoadError::OutOfOrder));
    assert_eq!(load(&view, 9, 5..6), Err(LoadError::UnknownInvocation));
    assert_eq!(view.len(), before);
    let r = ask(&view, &mut c, 1, 5, &[key(6, 0)]);
    assert_eq!(r.highest_processed_block_count, 5);
    assert_eq!(
        r.fixed_tx_out_search_results[0].result_code,
        RESULT_NOT_FOUND
    );
    // The next block in order is taken.
    load(&view, 1, 5..6).unwrap();
    assert_eq!(view.loaded().0, 6);
}

#[test]
fn a_dropped_rng_record_is_not_vouched_for() {
    let p = provider();
    let view = enclave(&p, 2, 1 << 10);
    let mut c = connect(&p, &view);
    // Invocation 1 scans blocks 0..5 and is decommissioned; invocation 2 takes over at 5, but
    // the host drops its RNG record and feeds its blocks anyway.
    view.add_user_events(&[rng(1, 0)]).unwrap();
    load(&view, 1, 0..5).unwrap();
    view.add_user_events(&[decommission(1, 4)]).unwrap();
    assert_eq!(load(&view, 2, 5..10), Err(LoadError::UnknownInvocation));
    let r = ask(&view, &mut c, 0, 0, &[]);
    // The client is not told blocks 5.. are processed: it would confirm them without ever
    // searching invocation 2's RNG.
    assert_eq!(r.highest_processed_block_count, 5);
    assert_eq!(r.rngs.len(), 1);
    assert_eq!(r.decommissioned_ingest_invocations.len(), 1);
    assert_eq!(r.next_start_from_user_event_id, 2);
    // Once the record arrives, the blocks load and the count moves.
    view.add_user_events(&[rng(2, 5)]).unwrap();
    load(&view, 2, 5..10).unwrap();
    let r = ask(&view, &mut c, 2, 5, &[]);
    assert_eq!(r.highest_processed_block_count, 10);
    assert_eq!(r.rngs.len(), 1);
    assert_eq!(r.rngs[0].ingest_invocation_id, 2);
}

#[test]
fn a_decommission_with_a_low_last_block_is_refused_or_stops_the_count() {
    let p = provider();
    let view = enclave(&p, 2, 1 << 10);
    let mut c = connect(&p, &view);
    view.add_user_events(&[rng(1, 0)]).unwrap();
    load(&view, 1, 0..10).unwrap();
    // Below what was loaded: refused, and the event is not in any answer.
    assert_eq!(
        view.add_user_events(&[decommission(1, 3)]),
        Err(LoadError::DecommissionBelowLoaded)
    );
    let r = ask(&view, &mut c, 0, 0, &[]);
    assert!(r.decommissioned_ingest_invocations.is_empty());
    assert_eq!(r.next_start_from_user_event_id, 1);
    assert_eq!(r.highest_processed_block_count, 10);

    // Injected before the blocks were loaded: the invocation's later blocks are refused, and
    // no answer counts them as processed, even once a new invocation goes on from block 20.
    // (A client retires the RNG only once the count passes 12; it never does while blocks
    // 13..20 are unaccounted for.)
    view.add_user_events(&[decommission(1, 12)]).unwrap();
    load(&view, 1, 10..13).unwrap();
    assert_eq!(load(&view, 1, 13..20), Err(LoadError::AfterDecommission));
    view.add_user_events(&[rng(2, 20)]).unwrap();
    load(&view, 2, 20..25).unwrap();
    let r = ask(&view, &mut c, 1, 10, &[]);
    assert_eq!(r.highest_processed_block_count, 13);
    // A second decommission of the same invocation is refused.
    assert_eq!(
        view.add_user_events(&[decommission(1, 30)]),
        Err(LoadError::BadDecommission)
    );
}

#[test]
fn event_ids_and_pages_come_from_the_enclave() {
    let p = provider();
    let mut view = enclave(&p, 1, 1 << 10);
    view.set_events_page(3);
    let mut c = connect(&p, &view);
    // Seven events: ids 1..=7 in the enclave's numbering.
    view.add_user_events(&[rng(1, 0)]).unwrap();
    load(&view, 1, 0..4).unwrap();
    view.add_user_events(&[
        decommission(1, 3),
        rng(2, 4),
        UserEvent::Missing(BlockRange::new(4, 6)),
        decommission(2, 0),
        rng(3, 6),
        UserEvent::Missing(BlockRange::new(6, 8)),
    ])
    .unwrap();
    // Blocks 4..8 are missed ranges, but no block past 3 was loaded: the count stays at 4.
    assert_eq!(view.loaded(), (4, 7));
    // Repeated or out-of-order RNG records are refused whole.
    assert_eq!(
        view.add_user_events(&[rng(4, 8), rng(4, 9)]),
        Err(LoadError::BadRngRecord)
    );
    assert_eq!(
        view.add_user_events(&[rng(2, 9)]),
        Err(LoadError::BadRngRecord)
    );
    assert_eq!(view.loaded().1, 7);

    // Page by page: the next id is where the page ended; a page that leaves events out
    // vouches for no more than the client had confirmed.
    let r = ask(&view, &mut c, 0, 2, &[]);
    assert_eq!(
        (
            r.rngs.len(),
            r.decommissioned_ingest_invocations.len(),
            r.missed_block_ranges.len()
        ),
        (2, 1, 0)
    );
    assert_eq!(r.next_start_from_user_event_id, 3);
    assert_eq!(r.highest_processed_block_count, 2);
    let r = ask(&view, &mut c, 3, 2, &[]);
    assert_eq!(r.next_start_from_user_event_id, 6);
    assert_eq!(r.missed_block_ranges, vec![BlockRange::new(4, 6)]);
    assert_eq!(r.highest_processed_block_count, 2);
    let r = ask(&view, &mut c, 6, 2, &[]);
    assert_eq!(r.next_start_from_user_event_id, 7);
    assert_eq!(r.missed_block_ranges, vec![BlockRange::new(6, 8)]);
    assert_eq!(r.highest_processed_block_count, 4);
    // Past the end (or the "no events" id): nothing, and the id asked for comes back.
    for since in [7, 100, i64::MAX] {
        let r = ask(&view, &mut c, since, 4, &[]);
        assert!(r.rngs.is_empty() && r.missed_block_ranges.is_empty());
        assert_eq!(r.next_start_from_user_event_id, since);
        assert_eq!(r.highest_processed_block_count, 4);
    }
    // Invocation 3 loads blocks 6..9: with the missed ranges, blocks up to 8 are processed.
    load(&view, 3, 6..9).unwrap();
    assert_eq!(view.loaded().0, 9);
    const { assert!(MAX_EVENTS_PER_ANSWER >= 1000) };
}

/// A client reads an RNG's search keys in order and aborts on a record found after a key
/// that was not; a batch is one ingest write of consecutive keys. Queries racing the load of
/// every batch must see a prefix of it, never record k+1 without record k.
#[test]
fn queries_racing_loads_never_see_half_a_batch() {
    const BATCH: usize = 512;
    const BATCHES: usize = 24;
    let p = provider();
    let view = Arc::new(enclave(&p, 4, 1 << 15));
    for pi in 0..view.worker_partitions() {
        let v = view.clone();
        std::thread::spawn(move || v.run_worker(pi));
    }
    while !view.workers_ready() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let batches: Vec<Vec<ETxOutRecord>> = (0..BATCHES)
        .map(|_| {
            (0..BATCH)
                .map(|_| {
                    let mut k = vec![0u8; 16];
                    rng.fill_bytes(&mut k);
                    ETxOutRecord {
                        search_key: k,
                        payload: vec![7; 100],
                    }
                })
                .collect()
        })
        .collect();
    let batches = Arc::new(batches);
    let loading = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut torn = 0usize;
    let mut partial = 0usize;
    std::thread::scope(|s| {
        let (v, b, l, d) = (view.clone(), batches.clone(), loading.clone(), done.clone());
        s.spawn(move || {
            for (i, batch) in b.iter().enumerate() {
                l.store(i, Ordering::SeqCst);
                v.load_records(batch).unwrap();
            }
            d.store(true, Ordering::SeqCst);
        });
        while !done.load(Ordering::SeqCst) {
            let i = loading.load(Ordering::SeqCst);
            let keys: Vec<[u8; 16]> = batches[i]
                .iter()
                .map(|r| r.search_key.clone().try_into().unwrap())
                .collect();
            let results = view.search(&keys).unwrap();
            let found: Vec<bool> = keys
                .iter()
                .map(|k| {
                    results
                        .iter()
                        .any(|r| &r.search_key == k && r.result_code == RESULT_FOUND)
                })
                .collect();
            let n = found.iter().filter(|&&f| f).count();
            if n != 0 && n != BATCH {
                partial += 1;
            }
            // Found keys must be a prefix of the batch; anything else is a torn batch.
            if found.iter().skip_while(|&&f| f).any(|&f| f) {
                torn += 1;
            }
        }
    });
    assert_eq!(
        torn, 0,
        "{torn} queries saw a record of a batch without an earlier one ({partial} partial)"
    );
    assert_eq!(partial, 0, "{partial} queries saw part of a batch");
}
