//! The view router enclave driven only through its byte boundary, with two view stores behind
//! theirs: attestation with keys made inside, store channels, a client's query held inside
//! behind a handle, sealed for each store, merged and sealed back; probes; unknown, finished
//! and dropped handles are refused; while the table of held queries is full a new query is
//! refused and the held ones keep their places, and a query the host drops frees its place;
//! malformed requests answer `Malformed` and change nothing the router's status shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fog_attest::{
    wire::NonceMessage, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits,
    SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::kex_rng::KexRngPubkey;
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave::boundary::view_router::ViewRouterBoundary;
use fog_enclave_api::errors::{PeerError, SessionError, ViewEnclaveError, ViewError};
use fog_enclave_api::view::{
    BlockMark, Empty, HostCounters, UserEvent, ViewClient, ViewEnclaveConfig,
};
use fog_enclave_api::view_router::{
    view_router_request::Call, view_router_response::Answer, Finish, OpenQuery, Opened,
    PendingQuery, QueryHandle, StoreAnswer, StoreRequest, ViewRouterClient, ViewRouterConfig,
    ViewRouterRequest, ViewRouterResponse, DEFAULT_MAX_PENDING_QUERIES,
};
use fog_enclave_api::{Enclave, EnclaveError, Refused, SharedEnclave};
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{QueryRequest, QueryRequestAad, QueryResponse, RngRecord};
use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);

const HOST: HostCounters = HostCounters {
    last_known_block_count: 2,
    last_known_block_cumulative_txo_count: 8,
};

fn provider() -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(2),
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

fn record(key: u8) -> ETxOutRecord {
    ETxOutRecord {
        search_key: vec![key; 16],
        payload: vec![key; 40 + usize::from(key)],
    }
}

/// A store of `blocks` holding block `block` with records `keys`.
fn store(p: &SimProvider, blocks: BlockRange, block: u64, keys: &[u8]) -> ViewClient {
    let config = ViewEnclaveConfig {
        partitions: 2,
        capacity_per_partition: 1 << 8,
        session_capacity: 16,
        session_limits: SessionLimits::default(),
        store_session_limits: SessionLimits::default(),
        blocks,
    };
    let client = ViewClient::new(ViewBoundary::simulated(&config, Some(verifier(p))).unwrap());
    client.attest(p).unwrap();
    client
        .add_user_events(vec![UserEvent::NewRng(RngRecord {
            ingest_invocation_id: 1,
            pubkey: Some(KexRngPubkey {
                public_key: vec![0x2a; 32],
                version: 0,
            }),
            start_block: 0,
        })])
        .unwrap();
    let mark = BlockMark {
        invocation: 1,
        block_index: block,
        timestamp: NOW.0 + block,
    };
    client
        .load_blocks(vec![mark], keys.iter().copied().map(record).collect())
        .unwrap();
    client.set_known_blocks(2).unwrap();
    client
}

/// The queries a test router holds at once.
const MAX_PENDING: usize = 8;

fn router_config() -> ViewRouterConfig {
    ViewRouterConfig {
        session_capacity: 16,
        session_limits: SessionLimits::default(),
        store_session_limits: SessionLimits::default(),
        max_pending_queries: MAX_PENDING,
    }
}

/// An attested router, and its channel to each store.
fn router(
    p: &SimProvider,
    stores: &[ViewClient],
) -> (SharedEnclave, ViewRouterClient, Vec<Vec<u8>>) {
    let enclave = ViewRouterBoundary::simulated(&router_config(), verifier(p)).unwrap();
    let client = ViewRouterClient::new(enclave.clone());
    client.attest(p).unwrap();
    let channels = stores.iter().map(|s| channel(&client, s)).collect();
    (enclave, client, channels)
}

fn channel(router: &ViewRouterClient, store: &ViewClient) -> Vec<u8> {
    let (token, hello) = router.store_initiate().unwrap();
    let (id, reply) = store.router_accept(&hello, NOW).unwrap();
    let ours = router.store_finish(token, &reply, NOW).unwrap();
    assert_eq!(ours, id);
    ours
}

fn connect(p: &SimProvider, router: &ViewRouterClient) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = router.auth(&hello, None, NOW).unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

fn frame(channel: &mut Channel, keys: &[[u8; 16]]) -> NonceMessage {
    let aad = QueryRequestAad {
        start_from_user_event_id: 0,
        start_from_block_index: 0,
    }
    .encode_to_vec();
    let body = QueryRequest {
        get_txos: keys.iter().map(|k| k.to_vec()).collect(),
    }
    .encode_to_vec();
    channel.seal(&aad, &body, NOW).unwrap()
}

/// The stores' answers to `query`, each on its channel.
fn ask(
    router: &ViewRouterClient,
    query: &PendingQuery,
    stores: &[ViewClient],
    channels: &[Vec<u8>],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    stores
        .iter()
        .zip(channels)
        .map(|(s, c)| {
            let request = router.store_request(query, c, NOW).unwrap();
            let answer = s.router_query(c, request, HOST, NOW).unwrap();
            (c.clone(), answer)
        })
        .collect()
}

fn as_answers(answers: &[(Vec<u8>, Vec<u8>)]) -> Vec<Option<(&[u8], &[u8])>> {
    answers
        .iter()
        .map(|(c, f)| Some((c.as_slice(), f.as_slice())))
        .collect()
}

fn found(response: &QueryResponse, key: [u8; 16]) -> Option<Vec<u8>> {
    response
        .fixed_tx_out_search_results
        .iter()
        .find(|r| r.search_key == key && r.result_code == 1)
        .map(|r| r.payload().unwrap().to_vec())
}

fn two_stores(p: &SimProvider) -> Vec<ViewClient> {
    vec![
        store(p, BlockRange::new(0, 1), 0, &[1, 2, 3, 4]),
        store(p, BlockRange::new(1, u64::MAX), 1, &[5, 6, 7, 8]),
    ]
}

fn raw(enclave: &SharedEnclave, call: Call) -> Result<Answer, EnclaveError> {
    let bytes = enclave.call(&ViewRouterRequest { call: Some(call) }.encode_to_vec())?;
    Ok(ViewRouterResponse::decode(bytes.as_slice())
        .unwrap()
        .answer
        .unwrap())
}

/// The refusal a raw call answered.
fn refused(answer: Result<Answer, EnclaveError>) -> ViewEnclaveError {
    match answer {
        Ok(Answer::Refused(r)) => ViewEnclaveError::from_refusal(r).unwrap(),
        other => panic!("not a refusal: {other:?}"),
    }
}

/// The three calls naming a held query, for `handle`, raw (the host's typed client names
/// only queries it holds).
fn by_handle(handle: u64, channel: &[u8]) -> [Call; 3] {
    [
        Call::StoreRequest(StoreRequest {
            handle,
            channel_id: channel.to_vec(),
            now: NOW.0,
        }),
        Call::Finish(Finish {
            handle,
            answers: vec![],
            now: NOW.0,
        }),
        Call::DropQuery(QueryHandle { handle }),
    ]
}

#[test]
fn a_query_is_held_inside_routed_and_merged_through_bytes() {
    let p = provider();
    let stores = two_stores(&p);

    let enclave = ViewRouterBoundary::simulated(&router_config(), verifier(&p)).unwrap();
    let router = ViewRouterClient::new(enclave.clone());
    let keys = router.channel_keys().unwrap();
    assert!(keys.peers.is_some());
    assert_eq!(
        router.status(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    // Client evidence alone does not start it: the store channels need theirs.
    let client_evidence = fog_attest::BoundEvidence::bind(&p, &keys.client, None).unwrap();
    router.set_evidence(&client_evidence).unwrap();
    assert_eq!(
        router.store_initiate(),
        Err(ViewEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
    router.attest(&p).unwrap();
    assert_eq!(router.status().unwrap().queries, 0);
    let channels: Vec<Vec<u8>> = stores.iter().map(|s| channel(&router, s)).collect();

    // A client's query: opened inside, held behind a handle, sealed for each store.
    let mut client = connect(&p, &router);
    let query = router
        .open_query(frame(&mut client, &[[2; 16], [6; 16], [0x77; 16]]), NOW)
        .unwrap();
    assert_eq!(query.key_count(), 3);
    assert_eq!(router.status().unwrap().pending_queries, 1);
    let answers = ask(&router, &query, &stores, &channels);
    let routed = router.finish(query, &as_answers(&answers), NOW).unwrap();
    assert_eq!(routed.processed, 2);
    assert_eq!(routed.merged_shards, 2);
    assert!(routed.shards.iter().all(Option::is_some));
    let sealed = routed.frame.unwrap().unwrap();
    let response = QueryResponse::decode(client.open(&sealed, NOW).unwrap().as_slice()).unwrap();
    assert_eq!(response.highest_processed_block_count, 2);
    assert_eq!(response.rngs.len(), 1);
    assert_eq!(found(&response, [2; 16]), Some(record(2).payload));
    assert_eq!(found(&response, [6; 16]), Some(record(6).payload));
    assert_eq!(found(&response, [0x77; 16]), None);
    let status = router.status().unwrap();
    assert_eq!(
        (status.queries, status.pending_queries, status.sessions),
        (1, 0, 1)
    );

    // A probe: no client, no frame, the coverage.
    let probe = router.probe().unwrap();
    assert_eq!(probe.key_count(), 0);
    let answers = ask(&router, &probe, &stores, &channels);
    let routed = router.finish(probe, &as_answers(&answers), NOW).unwrap();
    assert!(routed.frame.unwrap().is_none());
    assert_eq!(routed.processed, 2);
    let covers: Vec<(u64, u64)> = routed
        .shards
        .iter()
        .map(|s| {
            let s = s.unwrap();
            (s.blocks.start_block, s.processed)
        })
        .collect();
    assert_eq!(covers, vec![(0, 1), (1, 2)]);

    // One store missing: the cover stops where it does.
    let probe = router.probe().unwrap();
    let answers = ask(&router, &probe, &stores[..1], &channels[..1]);
    let mut given = as_answers(&answers);
    given.push(None);
    let routed = router.finish(probe, &given, NOW).unwrap();
    assert_eq!(routed.processed, 1);
    assert_eq!(routed.shards[1], None);

    // Closing a channel.
    assert_eq!(router.store_close(&channels[0]), Ok(true));
    assert_eq!(router.store_close(&channels[0]), Ok(false));
}

#[test]
fn unknown_finished_and_dropped_handles_are_refused() {
    let p = provider();
    let stores = two_stores(&p);
    let (enclave, router, channels) = router(&p, &stores);
    let unknown = ViewEnclaveError::Unavailable;

    // Never given.
    for handle in [0, 999] {
        for call in by_handle(handle, &channels[0]) {
            assert_eq!(refused(raw(&enclave, call)), unknown, "{handle}");
        }
    }

    // Finished once, then not again.
    let probe = router.probe().unwrap();
    let handle = probe.handle();
    let answers = ask(&router, &probe, &stores, &channels);
    router.finish(probe, &as_answers(&answers), NOW).unwrap();
    for call in by_handle(handle, &channels[0]) {
        assert_eq!(refused(raw(&enclave, call)), unknown);
    }

    // Forgotten by the host's call.
    let probe = router.probe().unwrap();
    let handle = probe.handle();
    router.drop_query(probe).unwrap();
    for call in by_handle(handle, &channels[0]) {
        assert_eq!(refused(raw(&enclave, call)), unknown);
    }

    // Dropped by the host unfinished (its request cancelled): forgotten inside.
    let probe = router.probe().unwrap();
    let handle = probe.handle();
    assert_eq!(router.status().unwrap().pending_queries, 1);
    drop(probe);
    assert_eq!(router.status().unwrap().pending_queries, 0);
    for call in by_handle(handle, &channels[0]) {
        assert_eq!(refused(raw(&enclave, call)), unknown);
    }

    // No store answered: refused, and the query is gone.
    let probe = router.probe().unwrap();
    let handle = probe.handle();
    assert_eq!(
        router
            .finish(probe, &[None, None], NOW)
            .map(|r| r.processed),
        Err(unknown)
    );
    assert_eq!(router.status().unwrap().pending_queries, 0);
    for call in by_handle(handle, &channels[0]) {
        assert_eq!(refused(raw(&enclave, call)), unknown);
    }
}

#[test]
fn a_full_table_refuses_new_queries_and_keeps_the_held_ones() {
    let p = provider();
    let stores = two_stores(&p);
    let (enclave, router, channels) = router(&p, &stores);
    let mut client = connect(&p, &router);

    // A client's query, then the table filled with probes.
    let query = router
        .open_query(frame(&mut client, &[[2; 16]]), NOW)
        .unwrap();
    let mut probes: Vec<PendingQuery> = (1..MAX_PENDING).map(|_| router.probe().unwrap()).collect();
    assert_eq!(router.status().unwrap().pending_queries, MAX_PENDING as u64);

    // Full: a new query or probe is refused (the frame consumed), and nothing is pushed out.
    assert_eq!(
        router.probe().map(|q| q.handle()),
        Err(ViewEnclaveError::Unavailable)
    );
    assert_eq!(
        router
            .open_query(frame(&mut client, &[[3; 16]]), NOW)
            .map(|q| q.handle()),
        Err(ViewEnclaveError::Unavailable)
    );
    assert_eq!(
        refused(raw(&enclave, Call::Probe(Empty {}))),
        ViewEnclaveError::Unavailable
    );
    assert_eq!(router.status().unwrap().pending_queries, MAX_PENDING as u64);
    // (The oldest, which an eviction would have taken first, is routed below.)

    // A query dropped unfinished frees its place, once.
    drop(probes.pop());
    let last = router.probe().unwrap();
    assert_eq!(
        router.probe().map(|q| q.handle()),
        Err(ViewEnclaveError::Unavailable)
    );

    // The first, held all along, still routes; then everything dropped frees the table.
    let answers = ask(&router, &query, &stores, &channels);
    let routed = router.finish(query, &as_answers(&answers), NOW).unwrap();
    let sealed = routed.frame.unwrap().unwrap();
    let response = QueryResponse::decode(client.open(&sealed, NOW).unwrap().as_slice()).unwrap();
    assert_eq!(found(&response, [2; 16]), Some(record(2).payload));
    drop((probes, last));
    assert_eq!(router.status().unwrap().pending_queries, 0);
}

#[test]
fn the_table_bound_is_configured() {
    let p = provider();
    // Checked when the test builds.
    const {
        assert!(
            DEFAULT_MAX_PENDING_QUERIES >= 256,
            "below fogd's default concurrency"
        )
    };
    let none = ViewRouterConfig {
        max_pending_queries: 0,
        ..router_config()
    };
    assert_eq!(
        ViewRouterBoundary::new(&none, verifier(&p)).err(),
        Some(ViewEnclaveError::Store(ViewError::InvalidConfig))
    );
}

#[test]
fn malformed_requests_answer_malformed_and_change_nothing() {
    let p = provider();
    let stores = two_stores(&p);
    let (enclave, router, channels) = router(&p, &stores);
    let mut client = connect(&p, &router);
    let held = router.probe().unwrap();
    let before = router.status().unwrap();
    let snapshot = |label: &str| {
        assert_eq!(
            router.status().unwrap(),
            before,
            "{label} changed the router"
        );
    };

    assert_eq!(
        enclave.call(&[0xff, 0xff, 0xff]),
        Err(EnclaveError::Malformed)
    );
    assert_eq!(enclave.call(&[]), Err(EnclaveError::Malformed));
    assert_eq!(
        raw(&enclave, Call::OpenQuery(OpenQuery::default())),
        Err(EnclaveError::Malformed)
    );
    let finish = ViewRouterRequest {
        call: Some(Call::Finish(Finish {
            handle: held.handle(),
            answers: vec![StoreAnswer {
                answered: true,
                channel_id: channels[0].clone(),
                frame: vec![5; 64],
            }],
            now: NOW.0,
        })),
    }
    .encode_to_vec();
    for cut in [1, finish.len() / 2, finish.len() - 1] {
        assert_eq!(
            enclave.call(&finish[..cut]),
            Err(EnclaveError::Malformed),
            "cut at {cut}"
        );
    }
    assert_eq!(
        raw(
            &enclave,
            Call::Auth(fog_enclave_api::view::Auth {
                hello: vec![1],
                peer: vec![1, 2, 3],
                now: NOW.0,
            })
        ),
        Err(EnclaveError::Malformed)
    );
    snapshot("malformed requests");

    // Refusals that change nothing: a forged client frame, a bad store reply, a request on a
    // channel that does not exist, a garbage hello.
    let mut forged = frame(&mut client, &[[1; 16]]);
    forged.data[0] ^= 1;
    assert_eq!(
        router.open_query(forged, NOW).map(|q| q.handle()),
        Err(ViewEnclaveError::Session(SessionError::BadFrame))
    );
    let (token, _) = router.store_initiate().unwrap();
    assert_eq!(
        router.store_finish(token, &[1, 2, 3], NOW),
        Err(ViewEnclaveError::Peer(PeerError::Handshake))
    );
    let call = Call::StoreRequest(StoreRequest {
        handle: held.handle(),
        channel_id: vec![9; 32],
        now: NOW.0,
    });
    assert!(matches!(raw(&enclave, call), Ok(Answer::Refused(_))));
    assert_eq!(
        router.auth(&[1, 2, 3], None, NOW),
        Err(ViewEnclaveError::Session(SessionError::Handshake))
    );
    assert!(matches!(
        raw(&enclave, Call::GetStatus(Empty {})),
        Ok(Answer::Status(_))
    ));
    snapshot("refusals");

    // The held query still routes.
    let answers = ask(&router, &held, &stores, &channels);
    assert_eq!(
        router
            .finish(held, &as_answers(&answers), NOW)
            .unwrap()
            .processed,
        2
    );
}

#[test]
fn answers_of_the_wrong_kind_are_malformed_at_the_host() {
    struct Answering(Vec<u8>);
    impl Enclave for Answering {
        fn call(&self, _: &[u8]) -> Result<Vec<u8>, EnclaveError> {
            Ok(self.0.clone())
        }
    }
    let malformed = ViewEnclaveError::Boundary(EnclaveError::Malformed);
    let done = ViewRouterResponse {
        answer: Some(Answer::Done(Empty {})),
    }
    .encode_to_vec();
    let router = ViewRouterClient::new(Arc::new(Answering(done)));
    assert_eq!(router.probe().map(|q| q.handle()), Err(malformed));
    assert_eq!(router.status(), Err(malformed));
    assert_eq!(router.store_initiate(), Err(malformed));
    assert_eq!(router.store_close(&[]), Err(malformed));
    // A query from one stub, finished by one that answers wrongly.
    let opened = ViewRouterResponse {
        answer: Some(Answer::Opened(Opened {
            handle: 1,
            key_count: 0,
        })),
    }
    .encode_to_vec();
    let query = ViewRouterClient::new(Arc::new(Answering(opened)))
        .probe()
        .unwrap();
    assert_eq!(
        router.finish(query, &[], NOW).map(|r| r.processed),
        Err(malformed)
    );
    let nothing = ViewRouterClient::new(Arc::new(Answering(Vec::new())));
    assert_eq!(nothing.queries(), Err(malformed));
}
