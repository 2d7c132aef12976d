//! The view enclave driven only through its byte boundary (`Enclave::call`), by the host's
//! typed client and by raw bytes: attestation with keys made inside, loading, a client's
//! query, lent worker threads and stop; malformed requests answer `Malformed` (or a refusal)
//! and change nothing the boundary's own status call shows; answers of the wrong kind are
//! `Boundary(Malformed)` at the host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fog_attest::{
    BoundEvidence, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits,
    SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::kex_rng::KexRngPubkey;
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave_api::errors::{LoadError, PeerError, SessionError, ViewEnclaveError, ViewError};
use fog_enclave_api::messages::SetEvidence;
use fog_enclave_api::view::{
    view_request::Call, view_response::Answer, AddUserEvents, Auth, BlockMark, Empty, HostCounters,
    LoadBlocks, Query, RunWorker, UserEvent, UserEventMessage, ViewClient, ViewEnclaveConfig,
    ViewRequest, ViewResponse, ViewStatus,
};
use fog_enclave_api::{Enclave, EnclaveError, Refusal, Refused, SharedEnclave};
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{QueryRequest, QueryRequestAad, QueryResponse, RngRecord, ALL_BLOCKS};
use proptest::prelude::*;
use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

const HOST: HostCounters = HostCounters {
    last_known_block_count: 3,
    last_known_block_cumulative_txo_count: 30,
};

fn provider() -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(1),
        fog_attest::fog_identity(FogEnclave::View),
    )
    .with_clock(|| NOW)
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

fn config(partitions: usize) -> ViewEnclaveConfig {
    ViewEnclaveConfig {
        partitions,
        capacity_per_partition: 1 << 8,
        session_capacity: 16,
        session_limits: SessionLimits::default(),
        store_session_limits: SessionLimits::default(),
        blocks: ALL_BLOCKS,
    }
}

/// An attested enclave taking routers, and the host's client of it.
fn attested(p: &SimProvider, partitions: usize) -> (SharedEnclave, ViewClient) {
    let enclave = ViewBoundary::simulated(&config(partitions), Some(verifier(p))).unwrap();
    let client = ViewClient::new(enclave.clone());
    client.attest(p).unwrap();
    (enclave, client)
}

fn record(key: u8) -> ETxOutRecord {
    ETxOutRecord {
        search_key: vec![key; 16],
        payload: vec![key; 40 + usize::from(key)],
    }
}

fn rng_event(invocation: i64) -> UserEvent {
    UserEvent::NewRng(RngRecord {
        ingest_invocation_id: invocation,
        pubkey: Some(KexRngPubkey {
            public_key: vec![0x2a; 32],
            version: 0,
        }),
        start_block: 0,
    })
}

fn mark(block: u64) -> BlockMark {
    BlockMark {
        invocation: 1,
        block_index: block,
        timestamp: NOW.0 + block,
    }
}

/// One event and block 0 with records `[1; 16]` to `[8; 16]`.
fn load(client: &ViewClient) {
    client.add_user_events(vec![rng_event(1)]).unwrap();
    client
        .load_blocks(vec![mark(0)], (1..=8).map(record).collect())
        .unwrap();
}

fn connect(p: &SimProvider, client: &ViewClient) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = client.auth(&hello, None, NOW).unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

/// Asks for `keys` from event 0: the answer, opened.
fn query(client: &ViewClient, channel: &mut Channel, keys: &[[u8; 16]]) -> QueryResponse {
    let aad = QueryRequestAad {
        start_from_user_event_id: 0,
        start_from_block_index: 0,
    }
    .encode_to_vec();
    let body = QueryRequest {
        get_txos: keys.iter().map(|k| k.to_vec()).collect(),
    }
    .encode_to_vec();
    let frame = channel.seal(&aad, &body, NOW).unwrap();
    let answer = client.query(frame, HOST, NOW).unwrap();
    QueryResponse::decode(channel.open(&answer, NOW).unwrap().as_slice()).unwrap()
}

fn found(response: &QueryResponse, key: [u8; 16]) -> Option<Vec<u8>> {
    response
        .fixed_tx_out_search_results
        .iter()
        .find(|r| r.search_key == key && r.result_code == 1)
        .map(|r| r.payload().unwrap().to_vec())
}

fn raw(enclave: &SharedEnclave, call: Call) -> Result<Answer, EnclaveError> {
    let bytes = enclave.call(&ViewRequest { call: Some(call) }.encode_to_vec())?;
    Ok(ViewResponse::decode(bytes.as_slice())
        .unwrap()
        .answer
        .unwrap())
}

fn refusal<E: Refused + core::fmt::Debug>(answer: Result<Answer, EnclaveError>) -> E {
    match answer {
        Ok(Answer::Refused(r)) => E::from_refusal(r).unwrap(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_host_attests_loads_and_queries_through_bytes() {
    let p = provider();
    let enclave = ViewBoundary::simulated(&config(2), Some(verifier(&p))).unwrap();
    let client = ViewClient::new(enclave.clone());

    // Before evidence: the keys only.
    let keys = client.channel_keys().unwrap();
    let router_key = keys.peers.expect("a router channel key");
    assert_ne!(keys.client, router_key);
    assert_eq!(
        client.status(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    assert_eq!(
        client.auth(&[1, 2, 3], None, NOW),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    // Evidence for another key (here the router key) is refused, and nothing starts.
    let wrong = BoundEvidence::bind(&p, &router_key, None).unwrap();
    assert_eq!(
        client.set_evidence(&wrong),
        Err(ViewEnclaveError::Session(SessionError::Handshake))
    );
    let wrong = BoundEvidence::bind(&p, &keys.client, None).unwrap();
    assert_eq!(
        client.set_router_evidence(&wrong),
        Err(ViewEnclaveError::Peer(PeerError::Handshake))
    );
    assert_eq!(
        client.status(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );

    client.attest(&p).unwrap();
    // Refreshing goes the same way.
    client.attest(&p).unwrap();
    assert_eq!(client.channel_keys().unwrap(), keys);
    let status = client.status().unwrap();
    assert_eq!(status.partitions, 2);
    assert_eq!(status.worker_partitions, 2);
    assert_eq!(status.records, 0);
    assert!(status.takes_routers);
    assert_eq!(status.blocks(), ALL_BLOCKS);

    // The host lends the workers their threads.
    let workers: Vec<_> = (0..2)
        .map(|pi| {
            let c = client.clone();
            std::thread::spawn(move || c.run_worker(pi))
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !client.status().unwrap().workers_ready {
        assert!(std::time::Instant::now() < deadline, "workers never ran");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(
        client.run_worker(0),
        Err(ViewError::InvalidConfig),
        "a partition has one worker"
    );

    load(&client);
    client.set_known_blocks(1).unwrap();
    let status = client.status().unwrap();
    assert_eq!((status.processed, status.user_events), (1, 1));
    assert_eq!(status.records, 8);
    assert_eq!(client.loaded().unwrap(), (1, 1));
    assert_eq!(client.records().unwrap(), 8);

    // A second block, out of order, is refused and stores nothing.
    assert_eq!(
        client.load_blocks(vec![mark(2)], vec![record(9)]),
        Err(LoadError::OutOfOrder)
    );
    assert_eq!(client.status().unwrap(), status);

    // A client's query, answered by the workers.
    let mut channel = connect(&p, &client);
    let answer = query(&client, &mut channel, &[[3; 16], [0x77; 16]]);
    assert_eq!(answer.highest_processed_block_count, 1);
    assert_eq!(answer.last_known_block_count, HOST.last_known_block_count);
    assert_eq!(answer.rngs.len(), 1);
    assert_eq!(found(&answer, [3; 16]), Some(record(3).payload));
    assert_eq!(found(&answer, [0x77; 16]), None);
    let status = client.status().unwrap();
    assert_eq!(status.sessions, 1);
    assert!(status.worker_jobs > 0);
    assert!(status.padded_keys >= 2);

    // Records outside blocks, both ways.
    client.add_records(vec![record(20)]).unwrap();
    client.load_records(vec![record(21)]).unwrap();
    assert_eq!(client.records().unwrap(), 10);
    assert_eq!(
        client.add_records(vec![ETxOutRecord {
            search_key: vec![1; 3],
            payload: vec![1],
        }]),
        Err(ViewError::MalformedRecord)
    );

    // Stop: the lent threads return, and every call answers NotInitialized.
    client.stop().unwrap();
    for w in workers {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    assert_eq!(
        client.status(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    assert_eq!(
        client.set_evidence(&BoundEvidence::bind(&p, &keys.client, None).unwrap()),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    assert_eq!(
        client.channel_keys(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    client.stop().unwrap();
}

#[test]
fn malformed_requests_answer_malformed_and_change_nothing() {
    let p = provider();
    let (enclave, client) = attested(&p, 2);
    load(&client);
    let mut channel = connect(&p, &client);
    // (A frame the enclave never sees leaves its session a counter behind: a spare one.)
    let mut spare = connect(&p, &client);
    let before: ViewStatus = client.status().unwrap();
    let snapshot = |label: &str| {
        assert_eq!(
            client.status().unwrap(),
            before,
            "{label} changed the enclave"
        );
    };

    // Garbage, an empty request (no call), a call with a missing part.
    assert_eq!(
        enclave.call(&[0xff, 0xff, 0xff]),
        Err(EnclaveError::Malformed)
    );
    assert_eq!(enclave.call(&[]), Err(EnclaveError::Malformed));
    assert_eq!(
        raw(&enclave, Call::Query(Query::default())),
        Err(EnclaveError::Malformed)
    );
    snapshot("garbage");

    // Truncated: a load of block 1 cut short.
    let load = ViewRequest {
        call: Some(Call::LoadBlocks(LoadBlocks {
            marks: vec![mark(1)],
            records: (30..40).map(record).collect(),
        })),
    }
    .encode_to_vec();
    for cut in [1, load.len() / 2, load.len() - 1] {
        assert_eq!(
            enclave.call(&load[..cut]),
            Err(EnclaveError::Malformed),
            "cut at {cut}"
        );
    }
    snapshot("a truncated load");

    // Fields of the wrong shape: an event without its content, a peer address of 5 bytes,
    // evidence that does not decode.
    let events = AddUserEvents {
        events: vec![
            UserEventMessage {
                event: Some(rng_event(2)),
            },
            UserEventMessage { event: None },
        ],
    };
    assert_eq!(
        raw(&enclave, Call::AddUserEvents(events)),
        Err(EnclaveError::Malformed)
    );
    let (_, hello) = ClientHandshake::start(verifier(&p)).unwrap();
    let auth = Auth {
        hello,
        peer: vec![1; 5],
        now: NOW.0,
    };
    assert_eq!(
        raw(&enclave, Call::Auth(auth)),
        Err(EnclaveError::Malformed)
    );
    for call in [
        Call::SetEvidence(SetEvidence {
            evidence: vec![1, 2, 3],
        }),
        Call::SetRouterEvidence(SetEvidence {
            evidence: vec![1, 2, 3],
        }),
    ] {
        assert_eq!(raw(&enclave, call), Err(EnclaveError::Malformed));
    }
    snapshot("misshapen fields");

    // Refusals: a bad handshake, a frame of no session, a router hello that is garbage, a
    // worker of a partition that does not exist, a load out of order, a repeated event.
    let refused: ViewEnclaveError = refusal(raw(
        &enclave,
        Call::Auth(Auth {
            hello: vec![9; 7],
            peer: vec![127, 0, 0, 1],
            now: NOW.0,
        }),
    ));
    assert_eq!(refused, ViewEnclaveError::Session(SessionError::Handshake));
    let mut stray = spare.seal(&[], &[], NOW).unwrap();
    stray.channel_id = vec![7; 64];
    assert_eq!(
        client.query(stray, HOST, NOW),
        Err(ViewEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(
        client.router_accept(&[1, 2, 3], NOW),
        Err(ViewEnclaveError::Peer(PeerError::Handshake))
    );
    let refused: ViewError = refusal(raw(&enclave, Call::RunWorker(RunWorker { partition: 2 })));
    assert_eq!(refused, ViewError::InvalidConfig);
    assert_eq!(
        client.load_blocks(vec![mark(5)], vec![record(50)]),
        Err(LoadError::OutOfOrder)
    );
    assert_eq!(
        client.add_user_events(vec![rng_event(1)]),
        Err(LoadError::BadRngRecord)
    );
    snapshot("refusals");

    // The honest client's session still works.
    let answer = query(&client, &mut channel, &[[5; 16]]);
    assert_eq!(found(&answer, [5; 16]), Some(record(5).payload));
}

#[test]
fn an_enclave_without_routers_refuses_them() {
    let p = provider();
    let enclave = ViewBoundary::simulated(&config(1), None).unwrap();
    let client = ViewClient::new(enclave);
    let keys = client.channel_keys().unwrap();
    assert_eq!(keys.peers, None);
    client.attest(&p).unwrap();
    let status = client.status().unwrap();
    assert!(!status.takes_routers);
    assert_eq!(status.worker_partitions, 0);
    assert_eq!(client.run_worker(0), Err(ViewError::InvalidConfig));
    let evidence = BoundEvidence::bind(&p, &keys.client, None).unwrap();
    assert_eq!(
        client.set_router_evidence(&evidence),
        Err(ViewEnclaveError::Peer(PeerError::UnknownChannel))
    );
    assert_eq!(
        client.router_accept(&[1, 2, 3], NOW),
        Err(ViewEnclaveError::Peer(PeerError::UnknownChannel))
    );
}

#[test]
fn a_store_of_a_later_range_refuses_clients() {
    let p = provider();
    let cfg = ViewEnclaveConfig {
        blocks: BlockRange::new(5, 10),
        ..config(1)
    };
    let enclave = ViewBoundary::simulated(&cfg, None).unwrap();
    let client = ViewClient::new(enclave);
    client.attest(&p).unwrap();
    assert_eq!(client.status().unwrap().blocks(), BlockRange::new(5, 10));
    let mut channel = connect(&p, &client);
    let frame = channel
        .seal(
            &QueryRequestAad::default().encode_to_vec(),
            &QueryRequest::default().encode_to_vec(),
            NOW,
        )
        .unwrap();
    assert_eq!(
        client.query(frame, HOST, NOW),
        Err(ViewEnclaveError::RangeStore)
    );
}

#[test]
fn bad_configurations_are_refused_at_load() {
    for cfg in [
        config(0),
        config(257),
        ViewEnclaveConfig {
            blocks: BlockRange::new(4, 4),
            ..config(1)
        },
        ViewEnclaveConfig {
            capacity_per_partition: 0,
            ..config(1)
        },
    ] {
        assert_eq!(
            ViewBoundary::new(&cfg, None).err(),
            Some(ViewEnclaveError::Store(ViewError::InvalidConfig)),
            "{cfg:?}"
        );
    }
}

/// An enclave that answers whatever it was told to, for the host client's side.
struct Answering(Vec<u8>);

impl Enclave for Answering {
    fn call(&self, _: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        Ok(self.0.clone())
    }
}

fn answering(answer: Option<Answer>) -> ViewClient {
    let bytes = ViewResponse { answer }.encode_to_vec();
    ViewClient::new(Arc::new(Answering(bytes)))
}

#[test]
fn answers_of_the_wrong_kind_are_malformed_at_the_host() {
    let malformed = ViewEnclaveError::Boundary(EnclaveError::Malformed);
    let done = answering(Some(Answer::Done(Empty {})));
    assert_eq!(done.status(), Err(malformed));
    assert_eq!(done.channel_keys(), Err(malformed));
    assert_eq!(done.auth(&[], None, NOW), Err(malformed));
    assert_eq!(done.router_accept(&[], NOW), Err(malformed));
    let status = answering(Some(Answer::Status(ViewStatus::default())));
    assert_eq!(status.stop(), Err(malformed));
    assert_eq!(
        status.load_blocks(vec![], vec![]),
        Err(LoadError::Boundary(EnclaveError::Malformed))
    );
    assert_eq!(
        status.run_worker(0),
        Err(ViewError::Boundary(EnclaveError::Malformed))
    );
    // No answer at all, bytes that are no response, a refusal this host does not know, a
    // channel key of the wrong size.
    assert_eq!(answering(None).status(), Err(malformed));
    let garbage = ViewClient::new(Arc::new(Answering(vec![0xff; 3])));
    assert_eq!(garbage.status(), Err(malformed));
    let unknown = answering(Some(Answer::Refused(Refusal {
        code: 999,
        detail: 0,
        value: 0,
    })));
    assert_eq!(unknown.status(), Err(malformed));
    let short = answering(Some(Answer::ChannelKeys(
        fog_enclave_api::view::ChannelKeysMessage {
            client: vec![1; 31],
            peers: vec![],
        },
    )));
    assert_eq!(short.channel_keys(), Err(malformed));
    // A failed call is the Boundary variant of the call's error.
    struct Failing;
    impl Enclave for Failing {
        fn call(&self, _: &[u8]) -> Result<Vec<u8>, EnclaveError> {
            Err(EnclaveError::Unsupported)
        }
    }
    let failing = ViewClient::new(Arc::new(Failing));
    assert_eq!(
        failing.add_user_events(vec![]),
        Err(LoadError::Boundary(EnclaveError::Unsupported))
    );
}

/// Arbitrary bytes, short.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// A host's time: now, or any.
fn any_now() -> impl Strategy<Value = u64> {
    prop_oneof![Just(NOW.0), any::<u64>()]
}

fn any_host() -> impl Strategy<Value = Option<HostCounters>> {
    proptest::option::of(
        (any::<u64>(), any::<u64>()).prop_map(|(b, t)| HostCounters {
            last_known_block_count: b,
            last_known_block_cumulative_txo_count: t,
        }),
    )
}

fn any_record() -> impl Strategy<Value = ETxOutRecord> {
    prop_oneof![
        (1u8..=255).prop_map(record),
        (bytes(20), bytes(80)).prop_map(|(search_key, payload)| ETxOutRecord {
            search_key,
            payload
        }),
    ]
}

fn any_event() -> impl Strategy<Value = UserEventMessage> {
    let event = prop_oneof![
        (0i64..4, any::<u64>()).prop_map(|(id, start)| UserEvent::NewRng(RngRecord {
            ingest_invocation_id: id,
            pubkey: Some(KexRngPubkey {
                public_key: vec![0x2a; 32],
                version: 0,
            }),
            start_block: start % 4,
        })),
        (0i64..4, 0u64..4).prop_map(|(id, last)| UserEvent::Decommission(
            fog_types::view::DecommissionedIngestInvocation {
                ingest_invocation_id: id,
                last_ingested_block: last,
            }
        )),
        (0u64..5, 0u64..5).prop_map(|(a, b)| UserEvent::Missing(BlockRange::new(a, b))),
    ];
    proptest::option::of(event).prop_map(|event| UserEventMessage { event })
}

/// Any call the host can make, its fields well-formed or not (but `Stop`, which ends the
/// enclave, and `RunWorker` on a partition that exists, which keeps the thread).
fn any_call() -> impl Strategy<Value = Call> {
    let frame = (bytes(40), bytes(40), bytes(80), any::<u64>()).prop_map(
        |(aad, channel_id, data, nonce)| fog_attest::wire::NonceMessage {
            aad,
            channel_id,
            data,
            nonce,
        },
    );
    prop_oneof![
        Just(Call::GetChannelKeys(Empty {})),
        Just(Call::GetStatus(Empty {})),
        bytes(200).prop_map(|evidence| Call::SetEvidence(SetEvidence { evidence })),
        bytes(200).prop_map(|evidence| Call::SetRouterEvidence(SetEvidence { evidence })),
        (bytes(64), bytes(20), any_now()).prop_map(|(hello, peer, now)| Call::Auth(Auth {
            hello,
            peer,
            now
        })),
        (proptest::option::of(frame), any_host(), any_now())
            .prop_map(|(frame, host, now)| Call::Query(Query { frame, host, now })),
        proptest::collection::vec(any_event(), 0..4)
            .prop_map(|events| Call::AddUserEvents(AddUserEvents { events })),
        (
            proptest::collection::vec(
                (0i64..3, 0u64..4, any::<u64>()).prop_map(
                    |(invocation, block_index, timestamp)| {
                        BlockMark {
                            invocation,
                            block_index,
                            timestamp,
                        }
                    }
                ),
                0..4
            ),
            proptest::collection::vec(any_record(), 0..6),
        )
            .prop_map(|(marks, records)| Call::LoadBlocks(LoadBlocks { marks, records })),
        (proptest::collection::vec(any_record(), 0..6), any::<bool>()).prop_map(
            |(records, parallel)| Call::AddRecords(fog_enclave_api::view::AddRecords {
                records,
                parallel
            })
        ),
        any::<u64>()
            .prop_map(|blocks| Call::SetKnownBlocks(fog_enclave_api::view::KnownBlocks { blocks })),
        (bytes(64), any_now()).prop_map(|(hello, now)| Call::RouterAccept(
            fog_enclave_api::view::RouterAccept { hello, now }
        )),
        (bytes(40), bytes(120), any_host(), any_now()).prop_map(
            |(channel_id, frame, host, now)| Call::RouterQuery(
                fog_enclave_api::view::RouterQuery {
                    channel_id,
                    frame,
                    host,
                    now,
                }
            )
        ),
        any::<u32>().prop_map(|partition| Call::RunWorker(RunWorker { partition })),
    ]
}

/// Whether the enclave refused, or the call failed: what must change nothing.
fn refused_or_failed(outcome: &Result<Vec<u8>, EnclaveError>) -> bool {
    match outcome {
        Err(_) => true,
        Ok(bytes) => matches!(
            ViewResponse::decode(bytes.as_slice()).map(|r| r.answer),
            Ok(Some(Answer::Refused(_)))
        ),
    }
}

/// Sends `request` to a fresh enclave (one partition, so no call can lend a thread for good,
/// one event loaded): it never answers `Internal` (a panic caught at the boundary, or a lock
/// a panic poisoned), and a refusal or failed call leaves the status as it was.
fn check_request(request: &[u8]) -> Result<(), TestCaseError> {
    let p = provider();
    let (enclave, client) = attested(&p, 1);
    client.add_user_events(vec![rng_event(1)]).unwrap();
    let before = client.status().unwrap();
    let outcome = enclave.call(request);
    prop_assert_ne!(&outcome, &Err(EnclaveError::Internal));
    if refused_or_failed(&outcome) {
        prop_assert_eq!(client.status().unwrap(), before, "{:?}", outcome);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any bytes: never `Internal`; what is not done changes nothing.
    #[test]
    fn any_bytes_are_answered_without_a_panic(bytes in bytes(256)) {
        check_request(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any well-formed request, with fields of any value: never `Internal`; a refusal
    /// changes nothing.
    #[test]
    fn any_request_is_answered_without_a_panic(call in any_call()) {
        check_request(&ViewRequest { call: Some(call) }.encode_to_vec())?;
    }
}
