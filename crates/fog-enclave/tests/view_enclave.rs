//! The partitioned view enclave: every record is found whichever partition holds it, each
//! partition answers the same number of lookups with the same trace whatever the keys, and
//! the attested query protocol refuses bad input without changing the store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    wire::NonceMessage, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_enclave::sessions::SessionError;
use fog_enclave::view::{
    ViewStore, MISS_PAYLOAD_LENGTH, RESULT_BAD_SEARCH_KEY, RESULT_FOUND, RESULT_NOT_FOUND,
};
use fog_enclave::view_enclave::{
    padded_batch, partition_quota, HostCounters, UserEvent, ViewEnclave, ViewEnclaveError,
    MAX_SEARCH_KEYS,
};
use fog_oram::{HeapFactory, StoreFactory, TraceLog, TraceOp, TracingFactory};
use fog_transaction::wire::ETxOutRecord;
use fog_types::view::{QueryRequest, QueryRequestAad, QueryResponse, RngRecord};
use prost::Message as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

fn provider() -> SimProvider {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    SimProvider::generate(&mut rng, fog_attest::fog_identity(FogEnclave::View))
}

fn responder(p: &SimProvider) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let rd = ReportData::bind(keys.public_key(), None);
    let bound = BoundEvidence {
        evidence: p.evidence_at(&rd, NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    EnclaveResponder::new(keys, bound).unwrap()
}

fn enclave<F: StoreFactory>(
    p: &SimProvider,
    factories: Vec<F>,
    capacity: u64,
) -> ViewEnclave<F, ChaCha20Rng> {
    let parts = factories
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            ViewStore::new(capacity, f, ChaCha20Rng::seed_from_u64(100 + i as u64)).unwrap()
        })
        .collect();
    ViewEnclave::new(
        responder(p),
        16,
        SessionLimits::default(),
        parts,
        &mut ChaCha20Rng::seed_from_u64(7),
    )
    .unwrap()
}

fn records(n: usize, seed: u64) -> Vec<ETxOutRecord> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut key = vec![0u8; 16];
            rng.fill_bytes(&mut key);
            ETxOutRecord {
                search_key: key,
                payload: vec![(i % 251) as u8; 60 + i % 150],
            }
        })
        .collect()
}

fn random_keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut k = [0u8; 16];
            rng.fill_bytes(&mut k);
            k
        })
        .collect()
}

#[test]
fn quota_covers_the_mean_and_never_exceeds_the_batch() {
    for p in 1..=8 {
        for k in [1usize, 2, 4, 8, 64, 512, 4096] {
            let q = partition_quota(k, p);
            assert!(q <= k, "q({k},{p}) = {q}");
            assert!(q >= k.div_ceil(p), "q({k},{p}) = {q}");
        }
    }
    assert_eq!(partition_quota(512, 1), 512);
    // Six standard deviations over the mean of 256 (sd ≈ 11.3) plus slack.
    let q = partition_quota(512, 2);
    assert!((256 + 67..256 + 75).contains(&q), "{q}");
    assert_eq!(padded_batch(0), 1);
    assert_eq!(padded_batch(500), 512);
    assert_eq!(padded_batch(512), 512);
}

#[test]
fn every_record_is_found_in_whichever_partition_holds_it() {
    let p = provider();
    for parts in [1usize, 2, 3] {
        let view = enclave(&p, vec![HeapFactory; parts], 1 << 10);
        let recs = records(600, parts as u64);
        // Large enough for the parallel path (one thread per partition).
        view.load_records(&recs).unwrap();
        assert_eq!(view.len(), 600);
        // Every stored key, plus some absent ones and the bad all-zero key.
        let mut keys: Vec<[u8; 16]> = recs
            .iter()
            .map(|r| r.search_key.clone().try_into().unwrap())
            .collect();
        let absent = random_keys(20, 99);
        keys.extend(&absent);
        keys.push([0u8; 16]);
        for batch in keys.chunks(97) {
            let results = view.search(batch).unwrap();
            let k = padded_batch(batch.len());
            assert_eq!(results.len(), parts * partition_quota(k, parts));
            for key in batch.iter().filter(|k| **k != [0u8; 16]) {
                let hits: Vec<_> = results.iter().filter(|r| &r.search_key == key).collect();
                assert_eq!(hits.len(), 1, "each key answered exactly once");
                let r = hits[0];
                if let Some(rec) = recs.iter().find(|r| r.search_key == key) {
                    assert_eq!(r.result_code, RESULT_FOUND);
                    assert_eq!(r.payload_length as usize, rec.payload.len());
                    assert_eq!(&r.ciphertext[..rec.payload.len()], &rec.payload[..]);
                    assert!(r.ciphertext[rec.payload.len()..].iter().all(|&b| b == 0));
                } else {
                    assert_eq!(r.result_code, RESULT_NOT_FOUND);
                    assert_eq!(r.payload_length, MISS_PAYLOAD_LENGTH);
                    assert!(r.ciphertext.iter().all(|&b| b == 0));
                }
            }
            // Padding answers are "not found" under the zero key (the bad key above is the
            // only zero key a client sent).
            let zero = results.iter().filter(|r| r.search_key == [0u8; 16]);
            let bad = zero
                .clone()
                .filter(|r| r.result_code == RESULT_BAD_SEARCH_KEY)
                .count();
            assert_eq!(bad, usize::from(batch.contains(&[0u8; 16])));
        }
    }
}

#[test]
fn partition_workers_answer_exactly_as_the_calling_thread_does() {
    // Two enclaves built from the same seeds hold the same records in the same partitions;
    // one searches on the caller's thread, the other through its partition workers. Every
    // answer, padding included, must be the same, in the same order (the workers run the
    // same dealt slots through the same `query_slots`, so the per-partition trace, checked
    // on the caller's thread by the test below, is the same too).
    let p = provider();
    for parts in [2usize, 3] {
        let plain = enclave(&p, vec![HeapFactory; parts], 1 << 10);
        let pooled = std::sync::Arc::new(enclave(&p, vec![HeapFactory; parts], 1 << 10));
        lend_threads(&pooled);
        // A second worker for a partition, or one past the last, is refused.
        assert_eq!(
            pooled.clone().run_worker(0),
            Err(fog_enclave::view::ViewError::InvalidConfig)
        );
        assert_eq!(
            pooled.clone().run_worker(parts),
            Err(fog_enclave::view::ViewError::InvalidConfig)
        );
        assert_eq!(
            std::sync::Arc::new(enclave(&p, vec![HeapFactory; 1], 1 << 10)).run_worker(0),
            Err(fog_enclave::view::ViewError::InvalidConfig)
        );
        let recs = records(500, 40 + parts as u64);
        plain.load_records(&recs).unwrap();
        pooled.load_records(&recs).unwrap();
        let mut keys: Vec<[u8; 16]> = recs
            .iter()
            .map(|r| r.search_key.clone().try_into().unwrap())
            .collect();
        keys.extend(random_keys(40, 41));
        keys.push([0u8; 16]);
        for batch in keys.chunks(61) {
            let a = plain.search(batch).unwrap();
            let b = pooled.search(batch).unwrap();
            assert_eq!(a.len(), b.len());
            assert!(a == b, "{parts} partitions: answers differ");
            let found = b.iter().filter(|r| r.result_code == RESULT_FOUND).count();
            let want = batch
                .iter()
                .filter(|k| recs.iter().any(|r| r.search_key == k[..]))
                .count();
            assert_eq!(found, want);
        }
        assert!(pooled.worker_jobs().unwrap() > 0, "the workers answered");
        assert_eq!(plain.worker_jobs(), None);
        // One key 64 times: all in one partition, more than its quota (59 of 64 slots with two
        // partitions), so a second round runs, through the workers as on the caller's thread.
        let repeated = vec![keys[0]; 64];
        let before = pooled.worker_jobs().unwrap();
        let a = plain.search(&repeated).unwrap();
        let b = pooled.search(&repeated).unwrap();
        assert!(a == b, "{parts} partitions: overflow answers differ");
        assert!(
            a.len() > parts * partition_quota(64, parts),
            "a second round ran"
        );
        assert_eq!(
            b.iter().filter(|r| r.result_code == RESULT_FOUND).count(),
            64
        );
        assert_eq!(pooled.worker_jobs().unwrap() - before, 2 * parts as u64);
        // Searches from several threads at once share the workers.
        std::thread::scope(|scope| {
            for t in 0..3 {
                let pooled = &pooled;
                let keys = &keys;
                scope.spawn(move || {
                    for batch in keys.chunks(50 + t) {
                        let r = pooled.search(batch).unwrap();
                        for key in batch.iter().filter(|k| **k != [0u8; 16]) {
                            assert_eq!(r.iter().filter(|x| &x.search_key == key).count(), 1);
                        }
                    }
                });
            }
        });
    }
}

fn shapes(logs: &[TraceLog]) -> Vec<Vec<(u32, TraceOp)>> {
    logs.iter()
        .map(|l| l.take().iter().map(|e| (e.store, e.op)).collect())
        .collect()
}

#[test]
fn each_partition_sees_the_same_trace_whatever_the_keys() {
    let p = provider();
    let factories: Vec<_> = (0..2).map(|_| TracingFactory::new(HeapFactory)).collect();
    let logs: Vec<TraceLog> = factories.iter().map(TracingFactory::log).collect();
    let view = enclave(&p, factories, 1 << 10);
    let recs = records(300, 5);
    view.add_records(&recs).unwrap();
    shapes(&logs);
    let stored: Vec<[u8; 16]> = recs
        .iter()
        .map(|r| r.search_key.clone().try_into().unwrap())
        .collect();
    let absent = random_keys(16, 6);
    let batches: Vec<(&str, Vec<[u8; 16]>)> = vec![
        ("all found", stored[..16].to_vec()),
        ("none found", absent.clone()),
        (
            "half",
            stored[100..108]
                .iter()
                .chain(&absent[..8])
                .copied()
                .collect(),
        ),
        ("with the bad key", {
            let mut b = stored[200..215].to_vec();
            b.push([0u8; 16]);
            b
        }),
        // 13 keys pad to the same size class as 16.
        ("13 keys", stored[50..63].to_vec()),
    ];
    let mut seen = Vec::new();
    for (name, batch) in &batches {
        view.search(batch).unwrap();
        let s = shapes(&logs);
        assert!(
            s.iter().all(|t| !t.is_empty()),
            "{name}: every partition is touched"
        );
        assert_eq!(s[0], s[1], "{name}: both partitions do the same work");
        seen.push((name, s));
    }
    for (name, s) in &seen[1..] {
        assert_eq!(s, &seen[0].1, "`{name}` differs from `{}`", seen[0].0);
    }
}

fn connect<F: StoreFactory>(p: &SimProvider, view: &ViewEnclave<F, ChaCha20Rng>) -> Channel {
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

fn base() -> HostCounters {
    HostCounters {
        last_known_block_count: 12,
        last_known_block_cumulative_txo_count: 120,
    }
}

fn frame(channel: &mut Channel, keys: &[[u8; 16]]) -> NonceMessage {
    let req = QueryRequest {
        get_txos: keys.iter().map(|k| k.to_vec()).collect(),
    };
    let aad = QueryRequestAad::default().encode_to_vec();
    channel.seal(&aad, &req.encode_to_vec(), NOW).unwrap()
}

#[test]
fn the_attested_query_answers_and_bad_requests_change_nothing() {
    let p = provider();
    let view = enclave(&p, vec![HeapFactory; 2], 1 << 10);
    let recs = records(50, 8);
    view.add_records(&recs).unwrap();
    view.add_user_events(&[UserEvent::NewRng(RngRecord {
        ingest_invocation_id: 1,
        pubkey: Some(Default::default()),
        start_block: 0,
    })])
    .unwrap();
    let mut client = connect(&p, &view);

    let key: [u8; 16] = recs[7].search_key.clone().try_into().unwrap();
    let f = frame(&mut client, &[key, [9u8; 16]]);
    let answer = view.query(&f, base(), NOW).unwrap();
    let resp = QueryResponse::decode(client.open(&answer, NOW).unwrap().as_slice()).unwrap();
    // Nothing of invocation 1 is loaded: no block is vouched for; the host's counters pass.
    assert_eq!(resp.highest_processed_block_count, 0);
    assert_eq!(resp.last_known_block_count, 12);
    assert_eq!(resp.next_start_from_user_event_id, 1);
    assert_eq!(resp.rngs.len(), 1);
    let hit = resp
        .fixed_tx_out_search_results
        .iter()
        .find(|r| r.search_key == key)
        .unwrap();
    assert_eq!(hit.result_code, RESULT_FOUND);
    assert_eq!(hit.payload().unwrap(), &recs[7].payload[..]);
    assert!(resp
        .fixed_tx_out_search_results
        .iter()
        .all(|r| r.ciphertext.len() == 255));

    // The same frame again is a replay.
    assert_eq!(
        view.query(&f, base(), NOW).unwrap_err(),
        ViewEnclaveError::Session(SessionError::BadFrame)
    );
    // A frame for a session the enclave does not hold.
    let mut other = f.clone();
    other.channel_id = vec![1; 64];
    assert_eq!(
        view.query(&other, base(), NOW).unwrap_err(),
        ViewEnclaveError::Session(SessionError::UnknownSession)
    );
    // A body that is not a QueryRequest.
    let garbage = client.seal(b"", &[0xff; 40], NOW).unwrap();
    assert_eq!(
        view.query(&garbage, base(), NOW).unwrap_err(),
        ViewEnclaveError::Malformed
    );
    // Too many keys.
    let mut client = connect(&p, &view);
    let many = frame(&mut client, &random_keys(MAX_SEARCH_KEYS + 1, 3));
    assert_eq!(
        view.query(&many, base(), NOW).unwrap_err(),
        ViewEnclaveError::TooManyKeys
    );
    // Malformed records are refused whole; the store is unchanged by all of the above.
    let mut bad = records(3, 10);
    bad[1].search_key = vec![1; 15];
    assert!(view.add_records(&bad).is_err());
    bad[1].search_key = vec![0; 16];
    assert!(view.add_records(&bad).is_err());
    assert_eq!(view.len(), 50);
    let results = view.search(&[key]).unwrap();
    assert!(results
        .iter()
        .any(|r| r.search_key == key && r.result_code == RESULT_FOUND));
}

/// What a host does: lends the enclave a thread per partition worker and waits until they
/// all run.
fn lend_threads<F, M>(view: &std::sync::Arc<fog_enclave::view_enclave::ViewEnclave<F, M>>)
where
    F: fog_oram::StoreFactory + Send + Sync + 'static,
    M: rand_core::RngCore + rand_core::CryptoRng + Send + Sync + 'static,
    fog_enclave::view::ViewStore<F, M>: Send,
{
    for pi in 0..view.worker_partitions() {
        let v = view.clone();
        std::thread::spawn(move || v.run_worker(pi));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !view.workers_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "the workers did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
