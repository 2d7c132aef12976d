//! The view router over stores of block ranges: its answers equal one store's answers over
//! the same records, whatever the shard layout (overlapping shards, shards with no records,
//! shards down); its merge touches the same positions whichever shard found what.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use fog_attest::{
    wire::NonceMessage, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_crypto::kex_rng::KexRngPubkey;
use fog_enclave::peers::PeerChannels;
use fog_enclave::view::{ViewStore, RESULT_FOUND, RESULT_NOT_FOUND};
use fog_enclave::view_enclave::{BlockMark, HostCounters, UserEvent, ViewEnclave};
use fog_enclave::view_router::{
    contiguous_cover, merge_results, MergeAccess, ShardCoverage, ViewRouter, STORE_CHANNEL,
};
use fog_oram::HeapFactory;
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{
    DecommissionedIngestInvocation, FixedTxOutSearchResult, QueryRequest, QueryRequestAad,
    QueryResponse, RngRecord,
};
use proptest::prelude::*;
use prost::Message as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);
const OPEN: u64 = u64::MAX;

type View = ViewEnclave<HeapFactory, ChaCha20Rng>;

fn provider() -> SimProvider {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    SimProvider::generate(&mut rng, fog_attest::fog_identity(FogEnclave::View))
}

fn verifier(p: &SimProvider) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_attest::fog_identity(FogEnclave::View).measurement,
            )],
            3600,
        ),
    )
}

fn responder(p: &SimProvider) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let bound = BoundEvidence {
        evidence: p.evidence_at(&ReportData::bind(keys.public_key(), None), NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    EnclaveResponder::new(keys, bound).unwrap()
}

fn link(p: &SimProvider) -> PeerChannels {
    PeerChannels::new(
        STORE_CHANNEL,
        responder(p),
        verifier(p),
        SessionLimits::default(),
    )
}

fn store(p: &SimProvider, parts: usize, seed: u64, blocks: (u64, u64)) -> View {
    let parts = (0..parts)
        .map(|i| {
            ViewStore::new(
                1 << 10,
                HeapFactory,
                ChaCha20Rng::seed_from_u64(seed * 100 + i as u64),
            )
            .unwrap()
        })
        .collect();
    let view = ViewEnclave::new(
        responder(p),
        16,
        SessionLimits::default(),
        parts,
        &mut ChaCha20Rng::seed_from_u64(seed),
    )
    .unwrap();
    if blocks != (0, OPEN) {
        view.set_blocks(blocks.0, blocks.1).unwrap();
    }
    view.set_router_link(link(p));
    view
}

fn connect_client_to_router(p: &SimProvider, router: &ViewRouter) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = router
        .auth(&hello, fog_attest::PeerKey::UNKNOWN, NOW)
        .unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

fn connect_client_to_view(p: &SimProvider, view: &View) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = view
        .auth(&hello, fog_attest::PeerKey::UNKNOWN, NOW)
        .unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

/// A router with one channel to each store.
fn router(p: &SimProvider, stores: &[View]) -> (ViewRouter, Vec<Vec<u8>>) {
    let router = ViewRouter::new(responder(p), 16, SessionLimits::default(), link(p));
    let channels = stores
        .iter()
        .map(|s| {
            let (token, hello) = router.store_links().initiate().unwrap();
            let (id, reply) = s.router_accept(&hello, NOW).unwrap();
            let ours = router.store_links().finish(token, &reply, NOW).unwrap();
            assert_eq!(ours, id);
            ours
        })
        .collect();
    (router, channels)
}

const HOST: HostCounters = HostCounters {
    last_known_block_count: 77,
    last_known_block_cumulative_txo_count: 770,
};

fn aad(since: i64, confirmed: u64) -> QueryRequestAad {
    QueryRequestAad {
        start_from_user_event_id: since,
        start_from_block_index: confirmed,
    }
}

/// A client's query frame: `keys` asked with `aad`.
fn query_frame(client: &mut Channel, aad: QueryRequestAad, keys: &[Vec<u8>]) -> NonceMessage {
    client
        .seal(
            &aad.encode_to_vec(),
            &QueryRequest {
                get_txos: keys.to_vec(),
            }
            .encode_to_vec(),
            NOW,
        )
        .unwrap()
}

/// One query through the router; `up[i]` says whether store `i` answers.
fn ask_router(
    router: &ViewRouter,
    channels: &[Vec<u8>],
    stores: &[View],
    up: &[bool],
    client: &mut Channel,
    aad: QueryRequestAad,
    keys: &[Vec<u8>],
) -> QueryResponse {
    let frame = query_frame(client, aad, keys);
    let pending = router.open_query(&frame, NOW).unwrap();
    let replies: Vec<Option<(Vec<u8>, Vec<u8>)>> = stores
        .iter()
        .zip(channels)
        .zip(up)
        .map(|((s, ch), &up)| {
            up.then(|| {
                let req = router.store_request(&pending, ch, NOW).unwrap();
                (ch.clone(), s.router_query(ch, &req, HOST, NOW).unwrap())
            })
        })
        .collect();
    let answers: Vec<Option<(&[u8], &[u8])>> = replies
        .iter()
        .map(|r| r.as_ref().map(|(c, f)| (c.as_slice(), f.as_slice())))
        .collect();
    let routed = router.finish(pending, &answers, NOW).unwrap();
    let frame = routed.frame.unwrap().unwrap();
    QueryResponse::decode(client.open(&frame, NOW).unwrap().as_slice()).unwrap()
}

fn ask_view(
    view: &View,
    client: &mut Channel,
    aad: QueryRequestAad,
    keys: &[Vec<u8>],
) -> QueryResponse {
    let frame = query_frame(client, aad, keys);
    let answer = view.query(&frame, HOST, NOW).unwrap();
    QueryResponse::decode(client.open(&answer, NOW).unwrap().as_slice()).unwrap()
}

/// Key -> Some(payload) for found, None for not found; padding (zero key) left out. Panics on
/// a key answered twice (the router answers each key once).
fn results(r: &QueryResponse) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    results_of(r, true)
}

/// [`results`]; a single store answers a key the client repeated once per repeat, the same
/// each time.
fn results_of(r: &QueryResponse, unique: bool) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for x in &r.fixed_tx_out_search_results {
        if x.search_key.iter().all(|&b| b == 0) {
            assert_eq!(x.result_code, RESULT_NOT_FOUND);
            continue;
        }
        let v = match x.result_code {
            RESULT_FOUND => Some(x.payload().unwrap().to_vec()),
            RESULT_NOT_FOUND => None,
            other => panic!("result code {other}"),
        };
        if let Some(before) = out.insert(x.search_key.clone(), v.clone()) {
            assert!(!unique, "a key answered twice");
            assert_eq!(before, v);
        }
    }
    out
}

fn rng_event(id: i64, start: u64) -> UserEvent {
    UserEvent::NewRng(RngRecord {
        ingest_invocation_id: id,
        pubkey: Some(KexRngPubkey {
            public_key: vec![id as u8; 32],
            version: 1,
        }),
        start_block: start,
    })
}

/// A chain written by ingest: invocations one after another, records per block, a missed
/// range, as the recovery DB would hold it.
#[derive(Clone, Debug)]
struct Chain {
    /// Events in recovery-DB order.
    events: Vec<UserEvent>,
    /// (invocation, block, records) in write order.
    blocks: Vec<(i64, u64, Vec<ETxOutRecord>)>,
    end: u64,
}

fn record_key(block: u64, i: u64) -> Vec<u8> {
    let mut k = vec![0u8; 16];
    k[..8].copy_from_slice(&(block + 1).to_le_bytes());
    k[8..].copy_from_slice(&(i + 1).to_le_bytes());
    k
}

/// `cuts`: where invocations hand over; `missed`: a range of blocks no ingest scanned (the
/// invocation before it stops there, the next starts after it); `per_block`: records per
/// block (cycled).
fn chain(end: u64, cuts: &[u64], missed: Option<(u64, u64)>, per_block: &[u8]) -> Chain {
    let mut events = Vec::new();
    let mut blocks = Vec::new();
    let mut points: Vec<u64> = vec![0, end];
    points.extend(cuts.iter().copied().filter(|&c| c < end));
    if let Some((s, e)) = missed {
        points.extend([s, e]);
    }
    points.sort_unstable();
    points.dedup();
    let segments: Vec<(u64, u64)> = points.windows(2).map(|w| (w[0], w[1])).collect();
    let mut id = 0i64;
    for (i, &(start, stop)) in segments.iter().enumerate() {
        if missed == Some((start, stop)) {
            events.push(UserEvent::Missing(BlockRange::new(start, stop)));
            continue;
        }
        id += 1;
        events.push(rng_event(id, start));
        for b in start..stop {
            let n = u64::from(per_block[(b as usize) % per_block.len()]);
            let recs = (0..n)
                .map(|j| ETxOutRecord {
                    search_key: record_key(b, j),
                    payload: vec![(b % 251) as u8 + 1; 20 + (j as usize % 5)],
                })
                .collect();
            blocks.push((id, b, recs));
        }
        if i + 1 < segments.len() {
            events.push(UserEvent::Decommission(DecommissionedIngestInvocation {
                ingest_invocation_id: id,
                last_ingested_block: stop - 1,
            }));
        }
    }
    Chain {
        events,
        blocks,
        end,
    }
}

/// Loads `chain` into `view` as the loader does: every event, then the blocks of its range,
/// in write order, a few per batch.
fn load(view: &View, chain: &Chain) {
    view.add_user_events(&chain.events).unwrap();
    let r = view.blocks();
    let mine: Vec<_> = chain
        .blocks
        .iter()
        .filter(|(_, b, _)| r.start_block <= *b && *b < r.end_block)
        .collect();
    for batch in mine.chunks(3) {
        let marks: Vec<BlockMark> = batch
            .iter()
            .map(|(inv, b, _)| BlockMark {
                invocation: *inv,
                block_index: *b,
                timestamp: 1_000 + b,
            })
            .collect();
        let recs: Vec<ETxOutRecord> = batch.iter().flat_map(|(_, _, r)| r.clone()).collect();
        view.load_blocks(&marks, &recs).unwrap();
    }
    view.set_known_blocks(chain.end);
}

fn asked_keys(chain: &Chain, picks: &[u16], absent: usize) -> Vec<Vec<u8>> {
    let all: Vec<Vec<u8>> = chain
        .blocks
        .iter()
        .flat_map(|(_, _, r)| r.iter().map(|x| x.search_key.clone()))
        .collect();
    let mut keys: Vec<Vec<u8>> = picks
        .iter()
        .filter(|_| !all.is_empty())
        .map(|&i| all[i as usize % all.len()].clone())
        .collect();
    keys.extend((0..absent as u64).map(|j| record_key(10_000 + j, 0)));
    keys
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The router's answer equals one store's: the same results for every key asked, the
    /// same processed count, events and next event id.
    #[test]
    fn router_answers_equal_a_single_store(
        end in 1u64..40,
        cuts in proptest::collection::vec(1u64..40, 0..3),
        missed in proptest::option::of((1u64..40, 1u64..8)),
        per_block in proptest::collection::vec(0u8..4, 1..6),
        shard_cuts in proptest::collection::vec(1u64..45, 0..4),
        extra in proptest::option::of((0u64..40, 1u64..20)),
        empty_shard in any::<bool>(),
        picks in proptest::collection::vec(any::<u16>(), 0..30),
        absent in 0usize..6,
        parts in 1usize..4,
        since in 0i64..3,
    ) {
        let p = provider();
        let missed = missed.map(|(s, len)| (s.min(end), (s + len).min(end))).filter(|(s, e)| s < e);
        let chain = chain(end, &cuts, missed, &per_block);
        let single = store(&p, parts, 1, (0, OPEN));
        load(&single, &chain);
        // A layout: consecutive shards from 0, open-ended last, maybe an overlapping shard and
        // a shard past the chain's end (no records).
        let mut bounds: Vec<u64> = vec![0];
        bounds.extend(shard_cuts.iter().copied());
        bounds.sort_unstable();
        bounds.dedup();
        let mut ranges: Vec<(u64, u64)> = bounds
            .windows(2)
            .map(|w| (w[0], w[1]))
            .collect();
        ranges.push((*bounds.last().unwrap(), OPEN));
        if let Some((s, len)) = extra {
            ranges.push((s, s + len));
        }
        if empty_shard {
            ranges.push((end + 5, end + 9));
        }
        let stores: Vec<View> = ranges
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let s = store(&p, parts, 10 + i as u64, r);
                load(&s, &chain);
                s
            })
            .collect();
        let (router, channels) = router(&p, &stores);
        let keys = asked_keys(&chain, &picks, absent);
        let aad = aad(since, 0);
        let mut c1 = connect_client_to_view(&p, &single);
        let mut c2 = connect_client_to_router(&p, &router);
        let want = ask_view(&single, &mut c1, aad, &keys);
        let up = vec![true; stores.len()];
        let got = ask_router(&router, &channels, &stores, &up, &mut c2, aad, &keys);
        prop_assert_eq!(results(&got), results_of(&want, false));
        prop_assert_eq!(got.highest_processed_block_count, want.highest_processed_block_count);
        prop_assert_eq!(
            got.highest_processed_block_signature_timestamp,
            want.highest_processed_block_signature_timestamp
        );
        prop_assert_eq!(got.next_start_from_user_event_id, want.next_start_from_user_event_id);
        prop_assert_eq!(&got.rngs, &want.rngs);
        prop_assert_eq!(&got.decommissioned_ingest_invocations, &want.decommissioned_ingest_invocations);
        prop_assert_eq!(&got.missed_block_ranges, &want.missed_block_ranges);
        // The answer's size depends on the number of keys only.
        let padded = keys.len().max(1).next_power_of_two();
        prop_assert_eq!(got.fixed_tx_out_search_results.len(), padded);
    }
}

#[test]
fn a_store_down_lowers_the_count_to_the_cover_and_hides_what_lies_past_the_gap() {
    let p = provider();
    let chain = chain(30, &[12], None, &[2]);
    let stores: Vec<View> = [(0, 10), (10, 20), (20, OPEN)]
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let s = store(&p, 2, 20 + i as u64, r);
            load(&s, &chain);
            s
        })
        .collect();
    let (router, channels) = router(&p, &stores);
    let mut c = connect_client_to_router(&p, &router);
    let keys = vec![record_key(5, 0), record_key(15, 1), record_key(25, 0)];
    let all = ask_router(
        &router,
        &channels,
        &stores,
        &[true, true, true],
        &mut c,
        aad(0, 0),
        &keys,
    );
    assert_eq!(all.highest_processed_block_count, 30);
    assert!(results(&all).values().all(Option::is_some));
    // The middle store is down: the count stops at 10 and the last store's record (past the
    // gap) is not reported, so no record is found after one that is not.
    let gap = ask_router(
        &router,
        &channels,
        &stores,
        &[true, false, true],
        &mut c,
        aad(0, 0),
        &keys,
    );
    assert_eq!(gap.highest_processed_block_count, 10);
    let r = results(&gap);
    assert!(r[&record_key(5, 0)].is_some());
    assert!(r[&record_key(15, 1)].is_none());
    assert!(r[&record_key(25, 0)].is_none());
    // The first store down: nothing is vouched for.
    let none = ask_router(
        &router,
        &channels,
        &stores,
        &[false, true, true],
        &mut c,
        aad(0, 0),
        &keys,
    );
    assert_eq!(none.highest_processed_block_count, 0);
    // Every key asked is still answered (not found), as a client requires.
    let r = results(&none);
    assert_eq!(r.len(), keys.len());
    assert!(r.values().all(Option::is_none));
    // Events still come from the stores that answer.
    assert_eq!(none.rngs.len(), 2);
}

#[test]
fn a_store_answering_for_another_range_than_it_loaded_cannot_raise_the_count() {
    // A store that loaded 0..10 only is configured (and says it serves) 0..10: the cover ends
    // there even though the chain is longer and another store claims 20.. .
    let shards = [
        ShardCoverage {
            blocks: BlockRange::new(0, 10),
            processed: 10,
            loaded_end: 10,
        },
        ShardCoverage {
            blocks: BlockRange::new(20, OPEN),
            processed: 40,
            loaded_end: 40,
        },
    ];
    assert_eq!(contiguous_cover(&shards), 10);
    // A store's processed count beyond its own end does not count past the end.
    let lying = [ShardCoverage {
        blocks: BlockRange::new(0, 10),
        processed: 50,
        loaded_end: 50,
    }];
    assert_eq!(contiguous_cover(&lying), 10);
    // Overlapping shards chain; order does not matter.
    let overlapping = [
        ShardCoverage {
            blocks: BlockRange::new(5, 30),
            processed: 25,
            loaded_end: 25,
        },
        ShardCoverage {
            blocks: BlockRange::new(0, 8),
            processed: 8,
            loaded_end: 8,
        },
    ];
    assert_eq!(contiguous_cover(&overlapping), 25);
    assert_eq!(contiguous_cover(&[]), 0);
}

#[test]
fn a_forged_or_replayed_store_answer_is_left_out() {
    let p = provider();
    let chain = chain(20, &[], None, &[1]);
    let stores: Vec<View> = [(0, 10), (10, OPEN)]
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let s = store(&p, 1, 30 + i as u64, r);
            load(&s, &chain);
            s
        })
        .collect();
    let (router, channels) = router(&p, &stores);
    let mut c = connect_client_to_router(&p, &router);
    let keys = vec![record_key(3, 0), record_key(13, 0)];
    let frame = query_frame(&mut c, aad(0, 0), &keys);
    let pending = router.open_query(&frame, NOW).unwrap();
    let r0 = router.store_request(&pending, &channels[0], NOW).unwrap();
    let a0 = stores[0]
        .router_query(&channels[0], &r0, HOST, NOW)
        .unwrap();
    let r1 = router.store_request(&pending, &channels[1], NOW).unwrap();
    let mut a1 = stores[1]
        .router_query(&channels[1], &r1, HOST, NOW)
        .unwrap();
    // The host flips a bit of the second store's answer.
    let last = a1.len() - 3;
    a1[last] ^= 1;
    let routed = router
        .finish(
            pending,
            &[Some((&channels[0], &a0)), Some((&channels[1], &a1))],
            NOW,
        )
        .unwrap();
    assert!(routed.shards[0].is_some());
    assert!(routed.shards[1].is_none(), "a tampered answer is refused");
    assert_eq!(routed.processed, 10);
    let answer = QueryResponse::decode(
        c.open(&routed.frame.unwrap().unwrap(), NOW)
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let r = results(&answer);
    assert!(r[&record_key(3, 0)].is_some());
    assert!(r[&record_key(13, 0)].is_none());
}

fn result(key: &[u8], found: bool, fill: u8) -> FixedTxOutSearchResult {
    FixedTxOutSearchResult {
        search_key: key.to_vec(),
        result_code: if found {
            RESULT_FOUND
        } else {
            RESULT_NOT_FOUND
        },
        ciphertext: if found {
            let mut c = vec![fill; 40];
            c.resize(255, 0);
            c
        } else {
            vec![0; 255]
        },
        payload_length: if found { 40 } else { 239 },
    }
}

/// The merge touches the same positions whichever shard held each key's record, and whether
/// it was found at all: one trace per (number of results, number of keys).
#[test]
fn the_merge_has_one_trace_whatever_shard_held_the_answer() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let keys: Vec<Vec<u8>> = (0..12)
        .map(|_| {
            let mut k = vec![0u8; 16];
            rng.fill_bytes(&mut k);
            k
        })
        .collect();
    let mut traces = Vec::new();
    let mut answers = Vec::new();
    for layout in 0..6u64 {
        // Three shards of 16 slots each: every key in every shard, found in shard
        // `(i + layout) % 4` (4 = nowhere), padding after.
        let shards: Vec<Vec<FixedTxOutSearchResult>> = (0..3u64)
            .map(|s| {
                let mut v: Vec<FixedTxOutSearchResult> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| result(k, (i as u64 * layout + layout) % 4 == s, i as u8 + 1))
                    .collect();
                v.resize(16, result(&[0; 16], false, 0));
                // Each store orders its slots its own way.
                let n = v.len();
                v.rotate_left((s * 5 + layout) as usize % n);
                v
            })
            .collect();
        let refs: Vec<&[FixedTxOutSearchResult]> = shards.iter().map(Vec::as_slice).collect();
        let mut trace = Vec::new();
        let asked: Vec<[u8; 16]> = keys.iter().map(|k| k.clone().try_into().unwrap()).collect();
        let merged =
            merge_results(&refs, &asked, |a: MergeAccess| trace.push(a)).expect("an answer");
        traces.push(trace);
        answers.push(merged);
    }
    assert!(
        traces.iter().all(|t| *t == traces[0]),
        "the trace depends on the data"
    );
    assert!(!traces[0].is_empty());
    for (layout, merged) in answers.iter().enumerate() {
        assert_eq!(merged.len(), 16);
        for (i, k) in keys.iter().enumerate() {
            let hits: Vec<_> = merged.iter().filter(|r| r.search_key == *k).collect();
            assert_eq!(hits.len(), 1, "each key answered exactly once");
            let found_somewhere = (i as u64 * layout as u64 + layout as u64) % 4 != 3;
            assert_eq!(hits[0].result_code == RESULT_FOUND, found_somewhere);
            if found_somewhere {
                assert_eq!(hits[0].payload().unwrap(), vec![i as u8 + 1; 40].as_slice());
            }
        }
    }
}

#[test]
fn a_ranged_store_refuses_blocks_outside_its_range_and_vouches_from_its_start() {
    let p = provider();
    let s = store(&p, 1, 40, (10, 20));
    assert!(s.set_blocks(7, 7).is_err(), "an empty range");
    let chain = chain(30, &[], None, &[1]);
    s.add_user_events(&chain.events).unwrap();
    assert!(
        s.set_blocks(0, 5).is_err(),
        "the range is set before loading"
    );
    let outside = BlockMark {
        invocation: 1,
        block_index: 20,
        timestamp: 0,
    };
    assert!(s.load_blocks(&[outside], &[]).is_err());
    load_blocks_only(&s, &chain);
    assert_eq!(s.loaded().0, 20);
    // A client asking this store directly is refused: it holds records it cannot vouch for
    // from block 0.
    let mut c = connect_client_to_view(&p, &s);
    let frame = query_frame(&mut c, aad(0, 0), &[record_key(12, 0)]);
    assert_eq!(
        s.query(&frame, HOST, NOW).unwrap_err(),
        fog_enclave::view_enclave::ViewEnclaveError::RangeStore
    );
}

fn load_blocks_only(view: &View, chain: &Chain) {
    let r = view.blocks();
    for (inv, b, recs) in chain
        .blocks
        .iter()
        .filter(|(_, b, _)| r.start_block <= *b && *b < r.end_block)
    {
        let mark = BlockMark {
            invocation: *inv,
            block_index: *b,
            timestamp: 1_000 + b,
        };
        view.load_blocks(&[mark], recs).unwrap();
    }
}

/// A hostile host keeps a store's answer to one client's query, tells the router that store
/// did not answer, and hands the kept answer over as that store's answer to the next query,
/// from another client: it would carry the first client's keys and records (and events from
/// the first client's position). The router opens an answer only on a channel this query
/// sealed a request on, with that request's number.
#[test]
fn an_answer_held_back_from_one_query_is_refused_for_another() {
    let p = provider();
    let chain = chain(20, &[], None, &[1]);
    let stores: Vec<View> = [(0, 10), (10, OPEN)]
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let s = store(&p, 1, 50 + i as u64, r);
            load(&s, &chain);
            s
        })
        .collect();
    let (router, channels) = router(&p, &stores);
    let open = |c: &mut Channel, keys: &[Vec<u8>]| {
        let frame = query_frame(c, aad(0, 0), keys);
        router.open_query(&frame, NOW).unwrap()
    };
    let mut alice = connect_client_to_router(&p, &router);
    let mut bob = connect_client_to_router(&p, &router);
    let alice_key = record_key(4, 0);
    let q1 = open(&mut alice, std::slice::from_ref(&alice_key));
    let r1 = router.store_request(&q1, &channels[0], NOW).unwrap();
    let kept = stores[0]
        .router_query(&channels[0], &r1, HOST, NOW)
        .unwrap();
    let r1b = router.store_request(&q1, &channels[1], NOW).unwrap();
    let a1b = stores[1]
        .router_query(&channels[1], &r1b, HOST, NOW)
        .unwrap();
    // Store 0 "did not answer" alice.
    let routed = router
        .finish(q1, &[None, Some((&channels[1], &a1b))], NOW)
        .unwrap();
    assert_eq!(routed.processed, 0);

    // Bob's query: the host cannot seal it on the channel with an unanswered request...
    let q2 = open(&mut bob, &[record_key(15, 0)]);
    assert!(router.store_request(&q2, &channels[0], NOW).is_err());
    let r2b = router.store_request(&q2, &channels[1], NOW).unwrap();
    let a2b = stores[1]
        .router_query(&channels[1], &r2b, HOST, NOW)
        .unwrap();
    // ... and the kept answer, handed over as store 0's answer to bob, is refused.
    let routed = router
        .finish(
            q2,
            &[Some((&channels[0], &kept)), Some((&channels[1], &a2b))],
            NOW,
        )
        .unwrap();
    assert!(
        routed.shards[0].is_none(),
        "an answer to another query opened"
    );
    assert_eq!(routed.processed, 0);
    let answer = QueryResponse::decode(
        bob.open(&routed.frame.unwrap().unwrap(), NOW)
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert!(
        answer
            .fixed_tx_out_search_results
            .iter()
            .all(|r| r.search_key != alice_key),
        "alice's key reached bob"
    );
}
