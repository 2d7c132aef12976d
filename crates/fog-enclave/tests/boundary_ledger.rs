//! The fog ledger enclave driven only through its byte boundary (`Enclave::call`), by the
//! host's typed client (`LedgerClient`) and by raw bytes: keys made inside and evidence
//! installed by the host, blocks, a client's key-image check, `GetBlockIds` and `GetOutputs`,
//! the router side of a store; malformed requests (garbage, an empty call, truncated
//! requests, missing fields, refused domain input) answer `Malformed` or a refusal and change
//! nothing the boundary's own status call shows; answers of the wrong kind are
//! `Boundary(Malformed)` at the host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use fog_attest::{
    fog_identity, BoundEvidence, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy,
    SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig, PeerLinks};
use fog_enclave_api::errors::{LedgerEnclaveError, PeerError, SessionError};
use fog_enclave_api::ledger::{
    ledger_request::Call, ledger_response::Answer, AddBlock, CheckKeyImages, Counters, Empty,
    LedgerAccept, LedgerClient, LedgerRequest, LedgerResponse, LedgerView, RouterCheck,
    SealGetOutputs, Status,
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
    BlockIdsRequest, BlockIdsResponse, CheckKeyImagesRequest, CheckKeyImagesResponse,
    GetOutputsRequest, GetOutputsResponse, KeyImageQuery, KeyImageResultCode, OutputResult,
    OutputResultCode, BLOCK_IDS_AAD,
};
use proptest::prelude::*;
use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_800_000_000);
const VIEW: LedgerView = LedgerView {
    ledger_blocks: 0,
    max_blocks_behind: 0,
};
const SPENT: u32 = KeyImageResultCode::Spent as u32;
const NOT_SPENT: u32 = KeyImageResultCode::NotSpent as u32;
const MALFORMED: u32 = KeyImageResultCode::KeyImageError as u32;

// --- the deployment, the enclave, a client -----------------------------------------------------

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

/// Evidence from the host's provider for a key the enclave made.
fn bind(p: &SimProvider, key: [u8; 32]) -> BoundEvidence {
    BoundEvidence::bind(p, &key, None).unwrap()
}

fn config(p: &SimProvider, routers: bool) -> LedgerConfig {
    LedgerConfig {
        key_image_capacity: 1 << 8,
        session_capacity: 16,
        routers: routers.then(|| PeerLinks::new(verifier(p), SessionLimits::default())),
        ..LedgerConfig::default()
    }
}

/// A loaded enclave (not yet started) and the host's client on it.
fn load(p: &SimProvider, seed: u64, routers: bool) -> (SharedEnclave, LedgerClient) {
    println!("enclave seed {seed}");
    let enclave: SharedEnclave = Arc::new(
        LedgerBoundary::dangerous_with_rng(config(p, routers), ChaCha20Rng::seed_from_u64(seed))
            .unwrap(),
    );
    (enclave.clone(), LedgerClient::new(enclave))
}

/// A started enclave: the host bound evidence to the key the enclave made and installed it.
fn started(p: &SimProvider, seed: u64) -> (SharedEnclave, LedgerClient) {
    let (enclave, client) = load(p, seed, false);
    client
        .set_evidence(&bind(p, client.channel_key().unwrap()))
        .unwrap();
    (enclave, client)
}

fn connect(p: &SimProvider, enclave: &LedgerClient) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = enclave
        .accept(&hello, Some([127, 0, 0, 1].into()), NOW)
        .unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

// --- the chain ---------------------------------------------------------------------------------

fn ki(i: u32) -> KeyImage {
    let mut k = [0x5au8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    KeyImage(k)
}

struct ChainBlock {
    header: Block,
    contents: BlockContents,
    timestamp: u64,
}

/// A chain spending `spends[b]` in block `b`, two stand-in TxOuts a block.
fn chain(spends: &[Vec<KeyImage>]) -> Vec<ChainBlock> {
    let mut blocks: Vec<ChainBlock> = Vec::new();
    for (b, key_images) in spends.iter().enumerate() {
        let index = b as u64;
        let outputs = (0..2u8)
            .map(|i| TxOut {
                masked_amount: None,
                target_key: CompressedRistrettoPublic([i; 32]),
                public_key: CompressedRistrettoPublic([index as u8 ^ 0x5a ^ (i << 4); 32]),
                e_fog_hint: EncryptedFogHint::default(),
                e_memo: None,
            })
            .collect();
        let contents = BlockContents {
            key_images: key_images.clone(),
            outputs,
        };
        let (parent, txos) = blocks.last().map_or(([0; 32], 0), |p| {
            (p.header.id, p.header.cumulative_txo_count)
        });
        let root = TxOutMembershipElement {
            range: Range { from: 0, to: 0 },
            hash: [3; 32],
        };
        let header = Block::new(3, parent, index, txos + 2, root, &contents);
        blocks.push(ChainBlock {
            header,
            contents,
            timestamp: 1_700_000_000 + index,
        });
    }
    blocks
}

/// Block `b` spends key image `b` (none in the origin).
fn spends(blocks: u32) -> Vec<Vec<KeyImage>> {
    (0..blocks)
        .map(|b| if b == 0 { vec![] } else { vec![ki(b)] })
        .collect()
}

fn feed(enclave: &LedgerClient, chain: &[ChainBlock]) {
    for b in chain {
        enclave
            .add_block(&b.header, &b.contents, b.timestamp)
            .unwrap();
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

fn check(
    enclave: &LedgerClient,
    channel: &mut Channel,
    key_images: &[Vec<u8>],
) -> CheckKeyImagesResponse {
    let frame = channel.seal(&[], &check_request(key_images), NOW).unwrap();
    let out = enclave.check_key_images(frame, VIEW, NOW).unwrap();
    assert_eq!(out.key_images, key_images.len());
    let plain = channel.open(&out.response, NOW).unwrap();
    CheckKeyImagesResponse::decode(plain.as_slice()).unwrap()
}

fn outcomes(r: &CheckKeyImagesResponse) -> Vec<(u32, u64, u64)> {
    r.results
        .iter()
        .map(|x| (x.key_image_result_code, x.spent_at, x.timestamp))
        .collect()
}

// --- raw calls ---------------------------------------------------------------------------------

fn raw(enclave: &SharedEnclave, call: Call) -> Result<Answer, EnclaveError> {
    let bytes = enclave.call(&LedgerRequest { call: Some(call) }.encode_to_vec())?;
    Ok(LedgerResponse::decode(bytes.as_slice())
        .unwrap()
        .answer
        .unwrap())
}

/// The refusal a raw call answered.
fn refused(answer: Result<Answer, EnclaveError>) -> LedgerEnclaveError {
    match answer {
        Ok(Answer::Refused(r)) => LedgerEnclaveError::from_refusal(r).unwrap(),
        other => panic!("not a refusal: {other:?}"),
    }
}

fn frame(channel_id: Vec<u8>, aad: &[u8]) -> ChannelFrame {
    ChannelFrame {
        aad: aad.to_vec(),
        channel_id,
        data: vec![0x44; 48],
        nonce: 0,
    }
}

fn request(f: Option<ChannelFrame>) -> client::ClientRequest {
    client::ClientRequest {
        frame: f,
        now: NOW.0,
    }
}

// --- tests -------------------------------------------------------------------------------------

#[test]
fn keys_are_made_inside_and_the_first_evidence_starts_the_enclave() {
    let p = provider();
    let (enclave, client) = load(&p, 1, false);
    let key = client.channel_key().unwrap();
    let (_, other) = load(&p, 2, false);
    assert_ne!(
        key,
        other.channel_key().unwrap(),
        "each enclave makes its own key"
    );

    // Nothing but the key and the evidence before evidence.
    let not_started = Err(LedgerEnclaveError::Boundary(EnclaveError::NotInitialized));
    assert_eq!(client.status(), not_started);
    let origin = chain(&spends(1));
    assert_eq!(
        client.add_block(&origin[0].header, &origin[0].contents, 0),
        not_started.map(|_| unreachable!())
    );
    // Evidence for another key is refused and costs the enclave nothing.
    assert_eq!(
        client.set_evidence(&bind(&p, other.channel_key().unwrap())),
        Err(LedgerEnclaveError::Session(SessionError::Handshake))
    );
    assert_eq!(
        raw(
            &enclave,
            Call::SetEvidence(SetEvidence {
                evidence: vec![0xff; 7]
            })
        ),
        Err(EnclaveError::Malformed)
    );
    assert_eq!(client.status(), not_started);
    assert_eq!(client.channel_key().unwrap(), key);

    client.set_evidence(&bind(&p, key)).unwrap();
    let s = client.status().unwrap();
    assert_eq!(s.counters.num_blocks, 0);
    assert_eq!(s.sessions, 0);
    assert_eq!(s.key_image_blocks, BlockRange::new(0, u64::MAX));
    assert!(s.capacity >= 1 << 8);
    // A client verifies the evidence the host installed, bound to the enclave's own key.
    let mut channel = connect(&p, &client);
    // Renewed evidence replaces it; evidence for another key is still refused.
    client.set_evidence(&bind(&p, key)).unwrap();
    assert_eq!(
        client.set_evidence(&bind(&p, other.channel_key().unwrap())),
        Err(LedgerEnclaveError::Session(SessionError::Handshake))
    );
    let r = check(&client, &mut channel, &[ki(1).as_bytes().to_vec()]);
    assert_eq!(outcomes(&r), [(NOT_SPENT, u64::MAX, u64::MAX)]);

    // A store loaded without a verifier of routers takes no router calls.
    assert_eq!(
        client.router_channel_key(),
        Err(LedgerEnclaveError::Boundary(EnclaveError::Unsupported))
    );
    assert_eq!(
        client.set_router_evidence(&bind(&p, key)),
        Err(LedgerEnclaveError::Boundary(EnclaveError::Unsupported))
    );
    assert_eq!(
        client.router_accept(&[1, 2, 3], NOW),
        Err(LedgerEnclaveError::Peer(PeerError::UnknownChannel))
    );
}

#[test]
fn the_loader_gives_no_randomness_and_a_bad_capacity_is_refused() {
    let p = provider();
    // The public constructors take only the configuration: the store's randomness, like the
    // channel keys, comes from inside.
    let a = LedgerClient::new(LedgerBoundary::simulated(config(&p, false)).unwrap());
    let b = LedgerClient::new(Arc::new(LedgerBoundary::new(config(&p, false)).unwrap()));
    assert_ne!(a.channel_key().unwrap(), b.channel_key().unwrap());
    a.set_evidence(&bind(&p, a.channel_key().unwrap())).unwrap();
    let mut channel = connect(&p, &a);
    let r = check(&a, &mut channel, &[ki(1).as_bytes().to_vec()]);
    assert_eq!(outcomes(&r), [(NOT_SPENT, u64::MAX, u64::MAX)]);
    let empty = LedgerConfig {
        key_image_capacity: 0,
        ..config(&p, false)
    };
    assert_eq!(
        LedgerBoundary::new(empty).err(),
        Some(LedgerEnclaveError::InvalidConfig)
    );
}

#[test]
fn a_client_checks_key_images_and_reads_block_ids_and_outputs_through_the_boundary() {
    let p = provider();
    let (_, client) = started(&p, 3);
    let blocks = chain(&spends(5));
    feed(&client, &blocks);
    let s = client.status().unwrap();
    assert_eq!(s.counters.num_blocks, 5);
    assert_eq!(s.counters.global_txo_count, 10);
    assert_eq!(s.counters.last_block_id, blocks[4].header.id);
    assert_eq!(s.key_images, 4);

    let mut channel = connect(&p, &client);
    let asked = vec![
        ki(2).as_bytes().to_vec(),
        ki(9).as_bytes().to_vec(),
        vec![7; 31],
        ki(4).as_bytes().to_vec(),
    ];
    let r = check(&client, &mut channel, &asked);
    assert_eq!(r.num_blocks, 5);
    assert_eq!(r.global_txo_count, 10);
    assert_eq!(
        outcomes(&r),
        [
            (SPENT, 2, 1_700_000_002),
            (NOT_SPENT, u64::MAX, u64::MAX),
            (MALFORMED, u64::MAX, u64::MAX),
            (SPENT, 4, 1_700_000_004),
        ]
    );
    for (result, k) in r.results.iter().zip(&asked) {
        assert_eq!(&result.key_image.as_ref().unwrap().data, k, "in order");
    }

    // GetBlockIds: the ids of the chain the enclave verified.
    let ids = BlockIdsRequest {
        indices: vec![0, 3, 9],
    };
    let f = channel
        .seal(BLOCK_IDS_AAD, &ids.encode_to_vec(), NOW)
        .unwrap();
    let answer = client.block_ids(f, NOW).unwrap();
    let ids = BlockIdsResponse::decode(channel.open(&answer, NOW).unwrap().as_slice()).unwrap();
    assert_eq!(ids.ids[0].data, blocks[0].header.id);
    assert_eq!(ids.ids[1].data, blocks[3].header.id);
    assert!(ids.ids[2].data.is_empty());
    assert_eq!(ids.num_blocks, 5);

    // GetOutputs: the host reads the request (public by design) and has its answer sealed
    // once.
    let asked = GetOutputsRequest {
        indices: vec![1, 12],
        merkle_root_block: 0,
    };
    let f = channel.seal(&[], &asked.encode_to_vec(), NOW).unwrap();
    let channel_id = f.channel_id.clone();
    let (session, request) = client.open_get_outputs(f, NOW).unwrap();
    assert_eq!(
        (session.as_slice(), &request),
        (channel_id.as_slice(), &asked)
    );
    let response = GetOutputsResponse {
        results: vec![OutputResult {
            index: 12,
            result_code: OutputResultCode::DoesNotExist as u32,
            output: None,
            proof: None,
        }],
        num_blocks: 5,
        global_txo_count: 10,
        latest_block_version: 3,
        max_block_version: 3,
    };
    let sealed = client
        .seal_get_outputs(&session, response.clone(), NOW)
        .unwrap();
    let opened =
        GetOutputsResponse::decode(channel.open(&sealed, NOW).unwrap().as_slice()).unwrap();
    assert_eq!(opened, response);
    assert_eq!(
        client.seal_get_outputs(&session, response, NOW),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(client.status().unwrap().sessions, 1);

    // The range is set before the first block only.
    assert_eq!(
        client.set_key_image_blocks(2, 4),
        Err(LedgerEnclaveError::BadBlockRange)
    );
    let (_, ranged) = started(&p, 4);
    ranged.set_key_image_blocks(2, u64::MAX).unwrap();
    feed(&ranged, &blocks);
    let s = ranged.status().unwrap();
    assert_eq!(s.key_image_blocks, BlockRange::new(2, u64::MAX));
    assert_eq!((s.counters.num_blocks, s.key_images), (5, 3));
    // Asked directly, a store of a later range vouches for no block.
    let mut c = connect(&p, &ranged);
    let r = check(&ranged, &mut c, &[ki(3).as_bytes().to_vec()]);
    assert_eq!(r.num_blocks, 0);
}

/// An enclave that counts the calls it is handed.
struct Counting {
    inner: SharedEnclave,
    calls: AtomicUsize,
}

impl Enclave for Counting {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.call(request)
    }
}

#[test]
fn a_block_and_a_check_are_one_call_each() {
    let p = provider();
    let (enclave, _) = started(&p, 5);
    let counting = Arc::new(Counting {
        inner: enclave,
        calls: AtomicUsize::new(0),
    });
    let client = LedgerClient::new(counting.clone());
    let blocks = chain(&spends(3));
    let mut channel = connect(&p, &client);
    let before = counting.calls.load(Ordering::Relaxed);
    feed(&client, &blocks);
    assert_eq!(counting.calls.load(Ordering::Relaxed) - before, 3);
    let key_images: Vec<Vec<u8>> = (0..100).map(|i| ki(i).as_bytes().to_vec()).collect();
    let frame = channel.seal(&[], &check_request(&key_images), NOW).unwrap();
    let before = counting.calls.load(Ordering::Relaxed);
    let out = client.check_key_images(frame, VIEW, NOW).unwrap();
    assert_eq!(counting.calls.load(Ordering::Relaxed) - before, 1);
    assert_eq!(out.key_images, 100);
}

/// What the host can see of the enclave's state.
fn state(client: &LedgerClient) -> fog_enclave_api::ledger::EnclaveStatus {
    client.status().unwrap()
}

#[test]
fn malformed_requests_answer_malformed_and_change_nothing() {
    let p = provider();
    let (enclave, client) = started(&p, 6);
    let blocks = chain(&spends(4));
    feed(&client, &blocks[..3]);
    let mut channel = connect(&p, &client);
    let asked = [ki(1).as_bytes().to_vec(), ki(3).as_bytes().to_vec()];
    let answer_before = outcomes(&check(&client, &mut channel, &asked));
    let before = state(&client);

    // Bytes that are no request, and a request without a call.
    for garbage in [
        &[][..],
        &[0xff, 0xff],
        &[0x08],
        &[0x0a, 0x05, 0x01],
        &[0x52, 0x80],
        &[0x0a; 64],
    ] {
        assert_eq!(
            enclave.call(garbage),
            Err(EnclaveError::Malformed),
            "{garbage:?}"
        );
    }
    // The next block, its request cut anywhere.
    let next = &blocks[3];
    let add = LedgerRequest {
        call: Some(Call::AddBlock(AddBlock {
            block: Some(next.header.to_wire()),
            contents: Some(next.contents.to_wire()),
            timestamp: next.timestamp,
        })),
    }
    .encode_to_vec();
    for cut in 1..add.len() {
        assert_eq!(
            enclave.call(&add[..cut]),
            Err(EnclaveError::Malformed),
            "cut at {cut}"
        );
    }
    // Calls that lack a field they need.
    let channel_id = channel.id().0.clone();
    for call in [
        Call::AddBlock(AddBlock {
            block: None,
            contents: Some(next.contents.to_wire()),
            timestamp: 0,
        }),
        Call::AddBlock(AddBlock {
            block: Some(next.header.to_wire()),
            contents: None,
            timestamp: 0,
        }),
        Call::CheckKeyImages(CheckKeyImages {
            request: None,
            ledger: Some(VIEW),
        }),
        Call::CheckKeyImages(CheckKeyImages {
            request: Some(request(Some(frame(channel_id.clone(), &[])))),
            ledger: None,
        }),
        Call::CheckKeyImages(CheckKeyImages {
            request: Some(request(None)),
            ledger: Some(VIEW),
        }),
        Call::BlockIds(request(None)),
        Call::OpenGetOutputs(request(None)),
        Call::SealGetOutputs(SealGetOutputs {
            channel_id: channel_id.clone(),
            response: None,
            now: NOW.0,
        }),
        Call::ClientAccept(LedgerAccept {
            hello: None,
            peer_ip: vec![],
            now: NOW.0,
        }),
        Call::ClientAccept(LedgerAccept {
            hello: Some(ChannelHello { data: vec![1; 32] }),
            peer_ip: vec![1; 5],
            now: NOW.0,
        }),
        Call::RouterAccept(client::ClientAccept {
            hello: None,
            now: NOW.0,
        }),
        Call::RouterCheck(RouterCheck {
            channel_id: channel_id.clone(),
            frame: vec![],
            ledger: None,
            now: NOW.0,
        }),
        Call::SetEvidence(SetEvidence {
            evidence: vec![1, 2, 3],
        }),
    ] {
        assert_eq!(
            raw(&enclave, call.clone()),
            Err(EnclaveError::Malformed),
            "{call:?}"
        );
    }
    // A block whose contents do not decode to the domain (a key image of 31 bytes).
    let mut contents = next.contents.to_wire();
    contents.key_images.push(WireKeyImage { data: vec![1; 31] });
    assert_eq!(
        raw(
            &enclave,
            Call::AddBlock(AddBlock {
                block: Some(next.header.to_wire()),
                contents: Some(contents),
                timestamp: 0,
            })
        ),
        Err(EnclaveError::Malformed)
    );

    // Well-formed requests the enclave refuses, each changing nothing.
    let mut tampered = next.contents.clone();
    tampered.key_images.push(ki(77));
    assert_eq!(
        client.add_block(&next.header, &tampered, next.timestamp),
        Err(LedgerEnclaveError::NotInChain)
    );
    assert_eq!(
        client.add_block(&blocks[1].header, &blocks[1].contents, 0),
        Err(LedgerEnclaveError::BlockOutOfOrder)
    );
    assert_eq!(
        client.set_key_image_blocks(0, 2),
        Err(LedgerEnclaveError::BadBlockRange)
    );
    let stranger = fog_attest::wire::NonceMessage {
        aad: vec![],
        channel_id: vec![9; 64],
        data: vec![0; 48],
        nonce: 0,
    };
    assert_eq!(
        client
            .check_key_images(stranger.clone(), VIEW, NOW)
            .map(|_| ()),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(
        client.block_ids(stranger.clone(), NOW),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(
        client.seal_get_outputs(&channel_id, GetOutputsResponse::default(), NOW),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    assert_eq!(
        client.accept(&[1; 5], None, NOW),
        Err(LedgerEnclaveError::Session(SessionError::Handshake))
    );
    assert_eq!(
        refused(raw(
            &enclave,
            Call::RouterCheck(RouterCheck {
                channel_id,
                frame: stranger.encode_to_vec(),
                ledger: Some(VIEW),
                now: NOW.0,
            })
        )),
        LedgerEnclaveError::Peer(PeerError::UnknownChannel)
    );
    assert_eq!(
        client.set_evidence(&bind(&p, [4; 32])),
        Err(LedgerEnclaveError::Session(SessionError::Handshake))
    );

    // Nothing changed: the same state, and the client's session answers as before.
    assert_eq!(state(&client), before);
    assert_eq!(
        outcomes(&check(&client, &mut channel, &asked)),
        answer_before
    );
    // The block that was offered in pieces still goes in whole.
    client
        .add_block(&next.header, &next.contents, next.timestamp)
        .unwrap();
    assert_eq!(state(&client).counters.num_blocks, 4);
}

/// An enclave that answers every call with the same bytes (or error).
struct Fixed(Result<Vec<u8>, EnclaveError>);

impl Enclave for Fixed {
    fn call(&self, _: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        self.0.clone()
    }
}

fn answering(answer: Option<Answer>) -> LedgerClient {
    LedgerClient::new(Arc::new(Fixed(Ok(
        LedgerResponse { answer }.encode_to_vec()
    ))))
}

#[test]
fn answers_of_the_wrong_kind_are_boundary_malformed() {
    let malformed = LedgerEnclaveError::Boundary(EnclaveError::Malformed);
    let done = answering(Some(Answer::Done(Empty {})));
    assert_eq!(done.status(), Err(malformed));
    assert_eq!(done.channel_key(), Err(malformed));
    assert_eq!(done.router_accept(&[1], NOW), Err(malformed));
    assert_eq!(
        answering(None).set_evidence(&bind(&provider(), [1; 32])),
        Err(malformed)
    );
    let garbage = LedgerClient::new(Arc::new(Fixed(Ok(vec![0xff, 0xff]))));
    assert_eq!(garbage.status(), Err(malformed));
    // A key that is not 32 bytes, counters with a short block id.
    let short_key = answering(Some(Answer::ChannelKey(
        fog_enclave_api::ledger::PublicKey { key: vec![1; 31] },
    )));
    assert_eq!(short_key.channel_key(), Err(malformed));
    let short_id = answering(Some(Answer::Status(Status {
        counters: Some(Counters {
            last_block_id: vec![0; 31],
            ..Counters::default()
        }),
        key_image_blocks: Some(BlockRange::new(0, 1)),
        ..Status::default()
    })));
    assert_eq!(short_id.status(), Err(malformed));
    // A refusal this version does not know, and one it does.
    let unknown = answering(Some(Answer::Refused(Refusal {
        code: 999,
        detail: 0,
        value: 0,
    })));
    assert_eq!(unknown.counters(), Err(malformed));
    let full = answering(Some(Answer::Refused(
        LedgerEnclaveError::StoreBehind { behind: 7 }.to_refusal(),
    )));
    assert_eq!(
        full.counters(),
        Err(LedgerEnclaveError::StoreBehind { behind: 7 })
    );
    // A call that did not go through.
    let down = LedgerClient::new(Arc::new(Fixed(Err(EnclaveError::NotInitialized))));
    assert_eq!(
        down.set_key_image_blocks(0, 1),
        Err(LedgerEnclaveError::Boundary(EnclaveError::NotInitialized))
    );
}

/// One started enclave with blocks and a session, for the property below.
fn shared() -> &'static (SharedEnclave, LedgerClient) {
    static S: OnceLock<(SharedEnclave, LedgerClient)> = OnceLock::new();
    S.get_or_init(|| {
        let p = provider();
        let (enclave, client) = started(&p, 7);
        feed(&client, &chain(&spends(3)));
        connect(&p, &client);
        (enclave, client)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever bytes the host sends, the enclave answers or refuses without a panic, and
    /// (nothing it could take being well-formed) its state stays as it was.
    #[test]
    fn any_bytes_never_panic_and_change_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (enclave, client) = shared();
        let before = state(client);
        // A panic would be caught at the boundary and answered `Internal`.
        prop_assert_ne!(enclave.call(&bytes), Err(EnclaveError::Internal));
        prop_assert_eq!(state(client), before);
    }
}
