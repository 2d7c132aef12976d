//! The ledger router enclave driven only through its byte boundary (`Enclave::call`), by the
//! host's typed client (`LedgerRouterClient`) and by raw bytes, with key-image stores behind
//! their own boundaries: keys made inside, the router starting once it holds both its
//! evidences, store channels, a routed check whose key images stay inside behind a handle,
//! probes; unknown, finished and forgotten handles are refused, and while the table of open
//! checks is full a new check is refused (the open ones keep their places); malformed requests
//! answer `Malformed` or a refusal and change nothing the boundary's own status calls show;
//! answers of the wrong kind are `Boundary(Malformed)` at the host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use fog_attest::{
    fog_identity, BoundEvidence, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy,
    SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig, PeerLinks};
use fog_enclave::boundary::ledger_router::{
    LedgerRouterBoundary, LedgerRouterConfig, DEFAULT_MAX_OPEN_CHECKS,
};
use fog_enclave_api::errors::{LedgerEnclaveError, PeerError, SessionError};
use fog_enclave_api::ledger::{
    ledger_request, ledger_response, CheckKeyImages, Empty, EnclaveStatus, LedgerClient,
    LedgerRequest, LedgerResponse, LedgerView,
};
use fog_enclave_api::ledger_router::{
    ledger_router_request::Call, ledger_router_response::Answer, CheckHandle, Finish,
    LedgerRouterClient, LedgerRouterRequest, LedgerRouterResponse, OpenedCheck, Routed,
    RoutedCheck, Shard, StoreAnswer, StoreCoverage, StoreFinish, StoreRequest,
};
use fog_enclave_api::messages::{client, ChannelFrame, ChannelHello, SetEvidence};
use fog_enclave_api::{Enclave, EnclaveError, Refusal, Refused, SharedEnclave};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{Range, TxOutMembershipElement},
    wire::KeyImage as WireKeyImage,
    EncryptedFogHint, KeyImage, TxOut,
};
use fog_types::common::BlockRange;
use fog_types::ledger::{
    CheckKeyImagesRequest, CheckKeyImagesResponse, KeyImageQuery, KeyImageResultCode,
};
use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);
const VIEW: LedgerView = LedgerView {
    ledger_blocks: 0,
    max_blocks_behind: 0,
};
const OPEN: u64 = u64::MAX;
const SPENT: u32 = KeyImageResultCode::Spent as u32;
const NOT_SPENT: u32 = KeyImageResultCode::NotSpent as u32;
const MALFORMED: u32 = KeyImageResultCode::KeyImageError as u32;

// --- the deployment, the enclaves --------------------------------------------------------------

fn provider() -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(1),
        fog_identity(FogEnclave::Ledger),
    )
    .with_clock(|| NOW)
}

fn verifier(p: &SimProvider) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_identity(FogEnclave::Ledger).measurement,
            )],
            3600,
        ),
    )
}

fn bind(p: &SimProvider, key: [u8; 32]) -> BoundEvidence {
    BoundEvidence::bind(p, &key, None).unwrap()
}

/// The router–store channels' peers (fog ledger enclaves of this deployment).
fn peers(p: &SimProvider) -> PeerLinks {
    PeerLinks::new(verifier(p), SessionLimits::default())
}

/// A key-image store of `range`, started and open to routers, through its boundary.
fn store(p: &SimProvider, seed: u64, range: (u64, u64)) -> LedgerClient {
    println!("store seed {seed}");
    let enclave = LedgerBoundary::dangerous_with_rng(
        LedgerConfig {
            key_image_capacity: 1 << 8,
            session_capacity: 16,
            routers: Some(peers(p)),
            ..LedgerConfig::default()
        },
        ChaCha20Rng::seed_from_u64(seed),
    )
    .unwrap();
    let store = LedgerClient::new(Arc::new(enclave));
    store
        .set_evidence(&bind(p, store.channel_key().unwrap()))
        .unwrap();
    store.set_key_image_blocks(range.0, range.1).unwrap();
    store
        .set_router_evidence(&bind(p, store.router_channel_key().unwrap()))
        .unwrap();
    store
}

/// The open checks a test router holds at once.
const MAX_OPEN: usize = 8;

/// A ledger router enclave, loaded and not started.
fn loaded(p: &SimProvider, seed: u64) -> (SharedEnclave, LedgerRouterClient) {
    println!("router seed {seed}");
    let enclave: SharedEnclave = Arc::new(
        LedgerRouterBoundary::dangerous_with_rng(
            LedgerRouterConfig {
                session_capacity: 16,
                max_open_checks: MAX_OPEN,
                ..LedgerRouterConfig::new(peers(p))
            },
            ChaCha20Rng::seed_from_u64(seed),
        )
        .unwrap(),
    );
    (enclave.clone(), LedgerRouterClient::new(enclave))
}

/// The host installs both evidences, each bound to the key the router made.
fn start(p: &SimProvider, router: &LedgerRouterClient) {
    let ledger = router.ledger();
    ledger
        .set_evidence(&bind(p, ledger.channel_key().unwrap()))
        .unwrap();
    router
        .set_store_evidence(&bind(p, router.store_channel_key().unwrap()))
        .unwrap();
}

fn started(p: &SimProvider, seed: u64) -> (SharedEnclave, LedgerRouterClient) {
    let (enclave, router) = loaded(p, seed);
    start(p, &router);
    (enclave, router)
}

/// A channel from the router to a store, each end checking the other's evidence.
fn link(router: &LedgerRouterClient, store: &LedgerClient) -> Vec<u8> {
    let (token, hello) = router.store_initiate().unwrap();
    let (id, reply) = store.router_accept(&hello, NOW).unwrap();
    let ours = router.store_finish(token, &reply, NOW).unwrap();
    assert_eq!(ours, id, "the same channel id on both ends");
    ours
}

fn connect(p: &SimProvider, enclave: &LedgerClient) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = enclave.accept(&hello, None, NOW).unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

// --- the chain ---------------------------------------------------------------------------------

fn ki(i: u32) -> KeyImage {
    let mut k = [0x5au8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    KeyImage(k)
}

/// Blocks `0..n`, block `b` spending key image `b` (none in the origin).
fn chain(n: u32) -> Vec<(Block, BlockContents, u64)> {
    let mut blocks: Vec<(Block, BlockContents, u64)> = Vec::new();
    for b in 0..n {
        let index = u64::from(b);
        let contents = BlockContents {
            key_images: if b == 0 { vec![] } else { vec![ki(b)] },
            outputs: (0..2u8)
                .map(|i| TxOut {
                    masked_amount: None,
                    target_key: CompressedRistrettoPublic([i; 32]),
                    public_key: CompressedRistrettoPublic([b as u8 ^ 0x5a ^ (i << 4); 32]),
                    e_fog_hint: EncryptedFogHint::default(),
                    e_memo: None,
                })
                .collect(),
        };
        let (parent, txos) = blocks
            .last()
            .map_or(([0; 32], 0), |(h, _, _)| (h.id, h.cumulative_txo_count));
        let root = TxOutMembershipElement {
            range: Range { from: 0, to: 0 },
            hash: [3; 32],
        };
        let header = Block::new(3, parent, index, txos + 2, root, &contents);
        blocks.push((header, contents, 1_700_000_000 + index));
    }
    blocks
}

fn feed(enclave: &LedgerClient, chain: &[(Block, BlockContents, u64)]) {
    for (header, contents, timestamp) in chain {
        enclave.add_block(header, contents, *timestamp).unwrap();
    }
}

fn check_request(key_images: &[Vec<u8>]) -> Vec<u8> {
    CheckKeyImagesRequest {
        queries: key_images
            .iter()
            .map(|k| KeyImageQuery {
                key_image: Some(WireKeyImage { data: k.clone() }),
                start_block: 0,
            })
            .collect(),
    }
    .encode_to_vec()
}

/// Asks each store (`None`: that store is down) for `check` and merges their answers.
fn ask(
    router: &LedgerRouterClient,
    stores: &[Option<(&LedgerClient, &[u8])>],
    check: fog_enclave_api::ledger_router::PendingCheck,
) -> RoutedCheck {
    let replies: Vec<Option<(Vec<u8>, Vec<u8>)>> = stores
        .iter()
        .map(|s| {
            s.map(|(store, channel)| {
                let request = router.store_request(&check, channel, NOW).unwrap();
                let answer = store.router_check(channel, request, VIEW, NOW).unwrap();
                (channel.to_vec(), answer)
            })
        })
        .collect();
    let answers: Vec<Option<(&[u8], &[u8])>> = replies
        .iter()
        .map(|r| r.as_ref().map(|(c, f)| (c.as_slice(), f.as_slice())))
        .collect();
    router.finish(check, &answers, NOW).unwrap()
}

fn outcomes(r: &CheckKeyImagesResponse) -> Vec<(u32, u64, u64)> {
    r.results
        .iter()
        .map(|x| (x.key_image_result_code, x.spent_at, x.timestamp))
        .collect()
}

// --- raw calls ---------------------------------------------------------------------------------

fn raw(enclave: &SharedEnclave, call: Call) -> Result<Answer, EnclaveError> {
    let bytes = enclave.call(&LedgerRouterRequest { call: Some(call) }.encode_to_vec())?;
    Ok(LedgerRouterResponse::decode(bytes.as_slice())
        .unwrap()
        .answer
        .unwrap())
}

fn refused(answer: Result<Answer, EnclaveError>) -> LedgerEnclaveError {
    match answer {
        Ok(Answer::Refused(r)) => LedgerEnclaveError::from_refusal(r).unwrap(),
        Ok(Answer::Ledger(LedgerResponse {
            answer: Some(ledger_response::Answer::Refused(r)),
        })) => LedgerEnclaveError::from_refusal(r).unwrap(),
        other => panic!("not a refusal: {other:?}"),
    }
}

fn ledger_call(call: ledger_request::Call) -> Call {
    Call::Ledger(LedgerRequest { call: Some(call) })
}

const UNKNOWN_CHECK: LedgerEnclaveError = LedgerEnclaveError::Peer(PeerError::UnknownChannel);

/// What the host can see of the router's state: its own enclave's, and its checks.
fn state(router: &LedgerRouterClient) -> (EnclaveStatus, u64, u64) {
    (
        router.ledger().status().unwrap(),
        router.checks().unwrap(),
        router.open_checks().unwrap(),
    )
}

// --- tests -------------------------------------------------------------------------------------

#[test]
fn the_router_starts_once_it_holds_both_evidences() {
    let p = provider();
    let (enclave, router) = loaded(&p, 1);
    let ledger = router.ledger();
    let client_key = ledger.channel_key().unwrap();
    let store_key = router.store_channel_key().unwrap();
    assert_ne!(client_key, store_key, "two key pairs, both made inside");
    let not_started = LedgerEnclaveError::Boundary(EnclaveError::NotInitialized);
    assert_eq!(ledger.status(), Err(not_started));
    assert_eq!(router.store_initiate(), Err(not_started));
    assert_eq!(router.probe().map(|_| ()), Err(not_started));

    // Each evidence must bind its own key.
    assert_eq!(
        ledger.set_evidence(&bind(&p, store_key)),
        Err(LedgerEnclaveError::Session(SessionError::Handshake))
    );
    assert_eq!(
        router.set_store_evidence(&bind(&p, client_key)),
        Err(LedgerEnclaveError::Peer(PeerError::Handshake))
    );
    // One evidence is not enough.
    ledger.set_evidence(&bind(&p, client_key)).unwrap();
    assert_eq!(ledger.status(), Err(not_started));
    assert_eq!(
        raw(&enclave, Call::StoreInitiate(Empty {})),
        Err(EnclaveError::NotInitialized)
    );
    router.set_store_evidence(&bind(&p, store_key)).unwrap();
    let s = ledger.status().unwrap();
    assert_eq!(
        s.key_image_blocks,
        BlockRange::new(0, 0),
        "it keeps no key image"
    );
    assert_eq!((router.checks(), router.open_checks()), (Ok(0), Ok(0)));
    // Renewals replace them, still bound to the same keys.
    ledger.set_evidence(&bind(&p, client_key)).unwrap();
    router.set_store_evidence(&bind(&p, store_key)).unwrap();
    assert_eq!(
        router.set_store_evidence(&bind(&p, client_key)),
        Err(LedgerEnclaveError::Peer(PeerError::Handshake))
    );
    // Its own fog ledger enclave takes no router channel.
    assert_eq!(
        ledger.router_channel_key(),
        Err(LedgerEnclaveError::Boundary(EnclaveError::Unsupported))
    );
    assert_eq!(
        ledger.router_accept(&[1, 2, 3], NOW),
        Err(LedgerEnclaveError::Boundary(EnclaveError::Unsupported))
    );
    // A client's session on it works.
    connect(&p, &ledger);
    assert_eq!(ledger.status().unwrap().sessions, 1);
}

#[test]
fn a_routed_check_answers_as_one_fog_ledger_with_the_key_images_kept_inside() {
    let p = provider();
    let blocks = chain(6);
    let low = store(&p, 10, (0, 3));
    let high = store(&p, 11, (3, OPEN));
    let (_, router) = started(&p, 12);
    for enclave in [&low, &high, &router.ledger()] {
        feed(enclave, &blocks);
    }
    let to_low = link(&router, &low);
    let to_high = link(&router, &high);
    let mut client = connect(&p, &router.ledger());

    let asked = vec![
        ki(1).as_bytes().to_vec(),
        ki(4).as_bytes().to_vec(),
        ki(9).as_bytes().to_vec(),
        vec![1; 31],
    ];
    let frame = client.seal(&[], &check_request(&asked), NOW).unwrap();
    let check = router.open_check(frame, VIEW, NOW).unwrap();
    assert_eq!(check.key_count(), 4);
    assert_eq!(router.open_checks(), Ok(1));
    let routed = ask(
        &router,
        &[Some((&low, &to_low[..])), Some((&high, &to_high[..]))],
        check,
    );
    assert_eq!(routed.num_blocks, 6);
    assert_eq!(routed.merged_shards, 2);
    assert_eq!(
        routed.shards,
        [
            Some(StoreCoverage {
                start_block: 0,
                end_block: 3,
                processed: 3,
                loaded_end: 6,
            }),
            Some(StoreCoverage {
                start_block: 3,
                end_block: OPEN,
                processed: 6,
                loaded_end: 6,
            }),
        ]
    );
    let plain = client.open(&routed.frame.unwrap().unwrap(), NOW).unwrap();
    let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
    assert_eq!((r.num_blocks, r.global_txo_count), (6, 12));
    assert_eq!(
        outcomes(&r),
        [
            (SPENT, 1, 1_700_000_001),
            (SPENT, 4, 1_700_000_004),
            (NOT_SPENT, u64::MAX, u64::MAX),
            (MALFORMED, u64::MAX, u64::MAX),
        ]
    );
    assert_eq!((router.checks(), router.open_checks()), (Ok(1), Ok(0)));

    // A probe: what the stores cover, nothing sealed to anyone.
    let probe = router.probe().unwrap();
    assert_eq!(probe.key_count(), 0);
    let routed = ask(
        &router,
        &[Some((&low, &to_low[..])), Some((&high, &to_high[..]))],
        probe,
    );
    assert!(matches!(routed.frame, Ok(None)));
    assert_eq!(routed.num_blocks, 6);

    // The store of the later blocks down: the answer vouches for the first three only.
    let frame = client.seal(&[], &check_request(&asked[..2]), NOW).unwrap();
    let check = router.open_check(frame, VIEW, NOW).unwrap();
    let routed = ask(&router, &[Some((&low, &to_low[..])), None], check);
    assert_eq!(routed.num_blocks, 3);
    assert_eq!(routed.shards[1], None);
    let plain = client.open(&routed.frame.unwrap().unwrap(), NOW).unwrap();
    let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
    assert_eq!(
        outcomes(&r),
        [(SPENT, 1, 1_700_000_001), (NOT_SPENT, u64::MAX, u64::MAX)]
    );
    // Closing a channel: it was open, and is no more.
    assert_eq!(router.store_close(&to_high), Ok(true));
    assert_eq!(router.store_close(&to_high), Ok(false));
}

#[test]
fn unknown_finished_and_forgotten_handles_are_refused() {
    let p = provider();
    let low = store(&p, 20, (0, OPEN));
    let (enclave, router) = started(&p, 21);
    let channel = link(&router, &low);

    // Never given.
    for call in [
        Call::StoreRequest(StoreRequest {
            handle: 12_345,
            channel_id: channel.clone(),
            now: NOW.0,
        }),
        Call::Finish(Finish {
            handle: 12_345,
            answers: vec![],
            now: NOW.0,
        }),
        Call::Forget(CheckHandle { handle: 12_345 }),
        Call::Forget(CheckHandle { handle: 0 }),
    ] {
        assert_eq!(refused(raw(&enclave, call)), UNKNOWN_CHECK);
    }
    // Finished.
    let probe = router.probe().unwrap();
    let handle = probe.handle();
    ask(&router, &[Some((&low, &channel[..]))], probe);
    assert_eq!(
        refused(raw(
            &enclave,
            Call::StoreRequest(StoreRequest {
                handle,
                channel_id: channel.clone(),
                now: NOW.0,
            })
        )),
        UNKNOWN_CHECK
    );
    assert_eq!(
        refused(raw(
            &enclave,
            Call::Finish(Finish {
                handle,
                answers: vec![],
                now: NOW.0,
            })
        )),
        UNKNOWN_CHECK
    );
    // Dropped by the host unfinished: forgotten inside.
    let probe = router.probe().unwrap();
    let dropped = probe.handle();
    assert!(dropped > handle, "handles are never reused");
    assert_eq!(router.open_checks(), Ok(1));
    drop(probe);
    assert_eq!(router.open_checks(), Ok(0));
    assert_eq!(
        refused(raw(&enclave, Call::Forget(CheckHandle { handle: dropped }))),
        UNKNOWN_CHECK
    );
}

#[test]
fn a_full_table_refuses_new_checks_and_keeps_the_open_ones() {
    let p = provider();
    let blocks = chain(3);
    let low = store(&p, 22, (0, OPEN));
    let (enclave, router) = started(&p, 23);
    feed(&low, &blocks);
    feed(&router.ledger(), &blocks);
    let channel = link(&router, &low);
    let mut client = connect(&p, &router.ledger());
    let asked = vec![ki(2).as_bytes().to_vec()];

    // A client's check, then the table filled with probes.
    let frame = client.seal(&[], &check_request(&asked), NOW).unwrap();
    let check = router.open_check(frame, VIEW, NOW).unwrap();
    let mut probes: Vec<_> = (1..MAX_OPEN).map(|_| router.probe().unwrap()).collect();
    assert_eq!(router.open_checks(), Ok(MAX_OPEN as u64));

    // Full: a new check is refused, its frame consumed, and nothing is pushed out.
    assert_eq!(router.probe().map(|_| ()), Err(LedgerEnclaveError::Full));
    let frame = client.seal(&[], &check_request(&asked), NOW).unwrap();
    assert_eq!(
        router.open_check(frame, VIEW, NOW).map(|_| ()),
        Err(LedgerEnclaveError::Full)
    );
    assert_eq!(router.open_checks(), Ok(MAX_OPEN as u64));
    // (The oldest, which an eviction would have taken first, is routed below.)

    // A check dropped unfinished (the client's request cancelled) frees its place.
    drop(probes.pop());
    assert_eq!(router.open_checks(), Ok(MAX_OPEN as u64 - 1));
    let last = router.probe().unwrap();
    assert_eq!(router.probe().map(|_| ()), Err(LedgerEnclaveError::Full));

    // The oldest, held all along, still completes.
    let routed = ask(&router, &[Some((&low, &channel[..]))], check);
    let plain = client.open(&routed.frame.unwrap().unwrap(), NOW).unwrap();
    let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
    assert_eq!(outcomes(&r), [(SPENT, 2, 1_700_000_002)]);
    drop((probes, last));
    assert_eq!(router.open_checks(), Ok(0));
    // Refusals of a full table are answers, like every refusal: the raw call says so.
    let held: Vec<_> = (0..MAX_OPEN).map(|_| router.probe().unwrap()).collect();
    assert_eq!(
        refused(raw(&enclave, Call::Probe(Empty {}))),
        LedgerEnclaveError::Full
    );
    drop(held);
    assert_eq!(router.open_checks(), Ok(0));
}

#[test]
fn the_table_bound_is_configured() {
    let p = provider();
    // Checked when the test builds.
    const {
        assert!(
            DEFAULT_MAX_OPEN_CHECKS >= 256,
            "below fogd's default concurrency"
        )
    };
    assert_eq!(
        LedgerRouterConfig::new(peers(&p)).max_open_checks,
        DEFAULT_MAX_OPEN_CHECKS
    );
    let none = LedgerRouterConfig {
        max_open_checks: 0,
        ..LedgerRouterConfig::new(peers(&p))
    };
    assert_eq!(
        LedgerRouterBoundary::new(none).err(),
        Some(LedgerEnclaveError::InvalidConfig)
    );
    // The public constructor seeds inside: two routers differ in keys, and start alike.
    let (a, b) = (
        LedgerRouterBoundary::simulated(LedgerRouterConfig::new(peers(&p))).unwrap(),
        LedgerRouterBoundary::simulated(LedgerRouterConfig::new(peers(&p))).unwrap(),
    );
    let (a, b) = (LedgerRouterClient::new(a), LedgerRouterClient::new(b));
    assert_ne!(a.store_channel_key(), b.store_channel_key());
    start(&p, &a);
    assert_eq!(a.open_checks(), Ok(0));
}

#[test]
fn malformed_requests_answer_malformed_and_change_nothing() {
    let p = provider();
    let blocks = chain(4);
    let low = store(&p, 30, (0, OPEN));
    let (enclave, router) = started(&p, 31);
    feed(&low, &blocks);
    feed(&router.ledger(), &blocks);
    let channel = link(&router, &low);
    let mut client = connect(&p, &router.ledger());
    let asked = vec![ki(2).as_bytes().to_vec(), ki(7).as_bytes().to_vec()];
    let frame = client.seal(&[], &check_request(&asked), NOW).unwrap();
    // A check stays open across everything below.
    let check = router.open_check(frame, VIEW, NOW).unwrap();
    let handle = check.handle();
    let before = state(&router);

    for garbage in [
        &[][..],
        &[0xff, 0xff],
        &[0x08],
        &[0x0a, 0x05, 0x01],
        &[0x52, 0x80],
    ] {
        assert_eq!(
            enclave.call(garbage),
            Err(EnclaveError::Malformed),
            "{garbage:?}"
        );
    }
    // The check's own finish, cut anywhere (whole, it would end the check).
    let finish = LedgerRouterRequest {
        call: Some(Call::Finish(Finish {
            handle,
            answers: vec![StoreAnswer {
                answered: true,
                channel_id: channel.clone(),
                frame: vec![7; 40],
            }],
            now: NOW.0,
        })),
    }
    .encode_to_vec();
    for cut in 1..finish.len() {
        assert_eq!(
            enclave.call(&finish[..cut]),
            Err(EnclaveError::Malformed),
            "cut at {cut}"
        );
    }
    let frame = |channel_id: Vec<u8>| ChannelFrame {
        aad: vec![],
        channel_id,
        data: vec![0x44; 48],
        nonce: 0,
    };
    for (call, error) in [
        (
            Call::Ledger(LedgerRequest { call: None }),
            EnclaveError::Malformed,
        ),
        (
            Call::OpenCheck(CheckKeyImages {
                request: Some(client::ClientRequest {
                    frame: Some(frame(client.id().0.clone())),
                    now: NOW.0,
                }),
                ledger: None,
            }),
            EnclaveError::Malformed,
        ),
        (
            Call::OpenCheck(CheckKeyImages {
                request: Some(client::ClientRequest {
                    frame: None,
                    now: NOW.0,
                }),
                ledger: Some(VIEW),
            }),
            EnclaveError::Malformed,
        ),
        (
            Call::SetStoreEvidence(SetEvidence {
                evidence: vec![9; 9],
            }),
            EnclaveError::Malformed,
        ),
        (
            ledger_call(ledger_request::Call::SetEvidence(SetEvidence {
                evidence: vec![9; 9],
            })),
            EnclaveError::Malformed,
        ),
        (
            ledger_call(ledger_request::Call::GetRouterChannelKey(Empty {})),
            EnclaveError::Unsupported,
        ),
        (
            ledger_call(ledger_request::Call::RouterAccept(client::ClientAccept {
                hello: Some(ChannelHello { data: vec![1; 8] }),
                now: NOW.0,
            })),
            EnclaveError::Unsupported,
        ),
    ] {
        assert_eq!(raw(&enclave, call.clone()), Err(error), "{call:?}");
    }
    // Well-formed requests the router refuses.
    let other = [3; 32];
    assert_eq!(
        refused(raw(
            &enclave,
            Call::SetStoreEvidence(SetEvidence {
                evidence: bind(&p, other).encode_to_vec(),
            })
        )),
        LedgerEnclaveError::Peer(PeerError::Handshake)
    );
    assert_eq!(
        refused(raw(
            &enclave,
            ledger_call(ledger_request::Call::SetEvidence(SetEvidence {
                evidence: bind(&p, other).encode_to_vec(),
            }))
        )),
        LedgerEnclaveError::Session(SessionError::Handshake)
    );
    assert_eq!(
        refused(raw(
            &enclave,
            Call::StoreFinish(StoreFinish {
                token: 999,
                reply: vec![1; 40],
                now: NOW.0,
            })
        )),
        LedgerEnclaveError::Peer(PeerError::UnknownChannel)
    );
    assert_eq!(
        refused(raw(
            &enclave,
            Call::OpenCheck(CheckKeyImages {
                request: Some(client::ClientRequest {
                    frame: Some(frame(vec![8; 64])),
                    now: NOW.0,
                }),
                ledger: Some(VIEW),
            })
        )),
        LedgerEnclaveError::Session(SessionError::UnknownSession)
    );
    assert_eq!(
        router.store_request(&check, &[8; 64], NOW),
        Err(LedgerEnclaveError::Peer(PeerError::UnknownChannel))
    );

    // Nothing changed, and the open check still completes.
    assert_eq!(state(&router), before);
    let routed = ask(&router, &[Some((&low, &channel[..]))], check);
    let plain = client.open(&routed.frame.unwrap().unwrap(), NOW).unwrap();
    let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
    assert_eq!(
        outcomes(&r),
        [(SPENT, 2, 1_700_000_002), (NOT_SPENT, u64::MAX, u64::MAX)]
    );
}

/// An enclave that answers every call with the same answer.
struct Fixed(Option<Answer>);

impl Enclave for Fixed {
    fn call(&self, _: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        Ok(LedgerRouterResponse {
            answer: self.0.clone(),
        }
        .encode_to_vec())
    }
}

fn answering(answer: Option<Answer>) -> LedgerRouterClient {
    LedgerRouterClient::new(Arc::new(Fixed(answer)))
}

#[test]
fn answers_of_the_wrong_kind_are_boundary_malformed() {
    let malformed = LedgerEnclaveError::Boundary(EnclaveError::Malformed);
    let done = answering(Some(Answer::Done(Empty {})));
    assert_eq!(done.store_initiate(), Err(malformed));
    assert_eq!(done.store_channel_key(), Err(malformed));
    assert_eq!(done.ledger().status(), Err(malformed), "not wrapped");
    assert_eq!(done.probe().map(|_| ()), Err(malformed));
    let wrapped = answering(Some(Answer::Ledger(LedgerResponse {
        answer: Some(ledger_response::Answer::Done(Empty {})),
    })));
    assert_eq!(wrapped.ledger().status(), Err(malformed));
    assert_eq!(answering(None).checks(), Err(malformed));
    let refusal = answering(Some(Answer::Refused(Refusal {
        code: 999,
        detail: 0,
        value: 0,
    })));
    assert_eq!(refusal.store_close(&[1]), Err(malformed));
    assert_eq!(refusal.ledger().counters(), Err(malformed));

    // A check from one stub, finished by others that answer wrongly.
    let opener = answering(Some(Answer::Check(OpenedCheck {
        handle: 1,
        key_images: 0,
    })));
    let check = opener.probe().unwrap();
    assert_eq!(opener.finish(check, &[], NOW).map(|_| ()), Err(malformed));
    let both = answering(Some(Answer::Routed(Routed {
        client_frame: Some(ChannelFrame::default()),
        client_refusal: Some(LedgerEnclaveError::Storage.to_refusal()),
        ..Routed::default()
    })));
    let check = opener.probe().unwrap();
    assert_eq!(both.finish(check, &[], NOW).map(|_| ()), Err(malformed));
    let too_few = answering(Some(Answer::Routed(Routed {
        shards: vec![Shard { coverage: None }],
        ..Routed::default()
    })));
    let check = opener.probe().unwrap();
    assert_eq!(too_few.finish(check, &[], NOW).map(|_| ()), Err(malformed));
    // The client's session gone: the stores' answers still count.
    let gone = answering(Some(Answer::Routed(Routed {
        client_refusal: Some(
            LedgerEnclaveError::Session(SessionError::UnknownSession).to_refusal(),
        ),
        num_blocks: 4,
        ..Routed::default()
    })));
    let routed = gone.finish(opener.probe().unwrap(), &[], NOW).unwrap();
    assert_eq!(
        routed.frame.map(|_| ()),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(routed.num_blocks, 4);
}
