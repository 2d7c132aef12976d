//! The ledger enclave: spent key images are found with their block, unspent and malformed ones
//! are answered too, every answer has one size and one ORAM trace, and refused requests and
//! blocks change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use fog_attest::{
    fog_identity, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, PeerKey, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave::{
    ledger::{
        KeyImageStore, LedgerBlock, LedgerCounters, LedgerEnclave, LedgerEnclaveError, LedgerView,
        MAX_KEY_IMAGES_PER_REQUEST,
    },
    sessions::{ClientSessions, SessionError},
};
use fog_oram::{HeapFactory, TraceOp, TracingFactory};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{Range, TxOutMembershipElement},
    wire::KeyImage as WireKeyImage,
    EncryptedFogHint, KeyImage, TxOut,
};
use fog_types::ledger::{
    BlockIdsRequest, BlockIdsResponse, CheckKeyImagesRequest, CheckKeyImagesResponse,
    GetOutputsRequest, GetOutputsResponse, KeyImageQuery, KeyImageResult, KeyImageResultCode,
    OutputResult, BLOCK_IDS_AAD, MAX_BLOCK_IDS, MAX_GET_OUTPUTS,
};
use proptest::prelude::*;
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);
/// A host view under which the store is never behind.
const VIEW: LedgerView = LedgerView {
    ledger_blocks: 0,
    max_blocks_behind: 0,
};

fn ki(i: u32) -> KeyImage {
    let mut k = [0x5au8; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    KeyImage(k)
}

fn query(bytes: &[u8]) -> KeyImageQuery {
    KeyImageQuery {
        key_image: Some(WireKeyImage {
            data: bytes.to_vec(),
        }),
        start_block: 0,
    }
}

#[test]
fn spent_unspent_and_malformed_key_images() {
    let mut store =
        KeyImageStore::new(1 << 10, HeapFactory, ChaCha20Rng::seed_from_u64(1)).unwrap();
    store.add(&[ki(1), ki(2)], 7, 1_700_000_007).unwrap();
    store.add(&[ki(3)], 9, 1_700_000_009).unwrap();
    assert_eq!(store.len(), 3);

    let c = store.check(ki(2).as_bytes()).unwrap();
    assert_eq!(c.code, KeyImageResultCode::Spent as u32);
    assert_eq!((c.spent_at, c.timestamp), (7, 1_700_000_007));
    let c = store.check(ki(3).as_bytes()).unwrap();
    assert_eq!((c.code, c.spent_at), (KeyImageResultCode::Spent as u32, 9));

    let c = store.check(ki(4).as_bytes()).unwrap();
    assert_eq!(c.code, KeyImageResultCode::NotSpent as u32);
    assert_eq!((c.spent_at, c.timestamp), (u64::MAX, u64::MAX));

    // Wrong lengths, including 31 bytes of a spent key image and the empty key image.
    for bad in [&ki(1).as_bytes()[..31], &[][..], &[1u8; 33][..]] {
        let c = store.check(bad).unwrap();
        assert_eq!(
            c.code,
            KeyImageResultCode::KeyImageError as u32,
            "{}",
            bad.len()
        );
        assert_eq!((c.spent_at, c.timestamp), (u64::MAX, u64::MAX));
    }
    // A query with no key image at all is malformed too.
    let r = store
        .check_queries(&[KeyImageQuery {
            key_image: None,
            start_block: 0,
        }])
        .unwrap();
    assert_eq!(
        r[0].key_image_result_code,
        KeyImageResultCode::KeyImageError as u32
    );

    // A key image already stored keeps its first block.
    store.add(&[ki(1)], 11, 1).unwrap();
    assert_eq!(store.check(ki(1).as_bytes()).unwrap().spent_at, 7);
    assert_eq!(store.len(), 3);
}

#[test]
fn spent_unspent_and_malformed_make_the_same_trace_and_size() {
    let factory = TracingFactory::new(HeapFactory);
    let log = factory.log();
    let mut store = KeyImageStore::new(1 << 9, factory, ChaCha20Rng::seed_from_u64(2)).unwrap();
    let spent: Vec<KeyImage> = (0..100).map(ki).collect();
    store.add(&spent, 3, 1_700_000_000).unwrap();
    log.take();
    let mut shapes = Vec::new();
    let mut sizes = Vec::new();
    for (name, key) in [
        ("spent", ki(5).as_bytes().to_vec()),
        ("not spent", ki(500).as_bytes().to_vec()),
        ("another spent", ki(99).as_bytes().to_vec()),
        ("all zeros", vec![0u8; 32]),
        ("31 bytes", vec![7u8; 31]),
    ] {
        let results = store.check_queries(&[query(&key)]).unwrap();
        let shape: Vec<(u32, TraceOp)> = log.take().iter().map(|e| (e.store, e.op)).collect();
        assert!(!shape.is_empty());
        shapes.push((name, shape));
        // The echoed key image aside, every result has one encoded size.
        let mut r = results[0].clone();
        r.key_image = None;
        sizes.push((name, r.encoded_len()));
    }
    for (name, shape) in &shapes[1..] {
        assert_eq!(
            shape, &shapes[0].1,
            "`{name}` differs from `{}`",
            shapes[0].0
        );
    }
    for (name, size) in &sizes[1..] {
        assert_eq!(*size, sizes[0].1, "`{name}` has another size");
    }
    // And whole results for 32-byte key images, found or not, have one size.
    let a = store.check_queries(&[query(ki(5).as_bytes())]).unwrap();
    let b = store.check_queries(&[query(ki(500).as_bytes())]).unwrap();
    assert_ne!(a[0].key_image_result_code, b[0].key_image_result_code);
    assert_eq!(a[0].encoded_len(), b[0].encoded_len());
}

#[test]
fn a_full_store_takes_nothing_of_the_block() {
    // 2^16 slots: big enough for the map to fill before its slot count (its overflow stash
    // holds 128 keys, more than a small map's shortfall; the first failure comes at about
    // 89 % of the slots here).
    let mut store =
        KeyImageStore::new(1 << 16, HeapFactory, ChaCha20Rng::seed_from_u64(3)).unwrap();
    let cap = store.capacity();
    // Beyond the free slots: refused before any insert.
    let too_many: Vec<KeyImage> = (0..cap as u32 + 1).map(ki).collect();
    assert_eq!(store.add(&too_many, 0, 0), Err(LedgerEnclaveError::Full));
    assert_eq!(store.len(), 0);
    // Fill until an insert finds both its buckets full: that block is rolled back.
    let mut next = 0u32;
    let mut block = 0u64;
    loop {
        let batch: Vec<KeyImage> = (next..next + 8).map(ki).collect();
        let before = store.len();
        match store.add(&batch, block, 0) {
            Ok(()) => {
                next += 8;
                block += 1;
            }
            Err(LedgerEnclaveError::Full) => {
                // The map filled up mid-block (two full buckets), not at the slot count:
                // part of the block went in and was taken out again.
                assert!(before + 8 <= cap, "{before} of {cap}");
                assert_eq!(store.len(), before);
                for k in &batch {
                    assert_eq!(
                        store.check(k.as_bytes()).unwrap().code,
                        KeyImageResultCode::NotSpent as u32
                    );
                }
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(next as u64 > cap * 4 / 5, "{next} of {cap}");
    // Everything added before is still there.
    for i in 0..next {
        assert_eq!(
            store.check(ki(i).as_bytes()).unwrap().code,
            KeyImageResultCode::Spent as u32
        );
    }
}

// --- the enclave over a real attested session -------------------------------------------

fn enclave(seed: u64) -> (LedgerEnclave<HeapFactory, ChaCha20Rng>, Verifier) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    println!("seed {seed}");
    let identity = fog_identity(FogEnclave::Ledger);
    let provider = SimProvider::generate(&mut rng, identity);
    let keys = ChannelKeypair::generate().unwrap();
    let evidence = BoundEvidence {
        evidence: provider.evidence_at(&ReportData::bind(keys.public_key(), None), NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let responder = EnclaveResponder::new(keys, evidence).unwrap();
    let sessions = ClientSessions::new(responder, 16, SessionLimits::default());
    let enclave = LedgerEnclave::new(
        sessions,
        1 << 10,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed + 1),
    )
    .unwrap();
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (enclave, verifier)
}

fn connect(enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>, verifier: Verifier) -> Channel {
    connect_from(enclave, verifier, PeerKey::UNKNOWN, NOW)
}

fn connect_from(
    enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>,
    verifier: Verifier,
    peer: PeerKey,
    now: UnixSeconds,
) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier).unwrap();
    let answer = enclave.accept(&hello, peer, now).unwrap();
    hs.finish(&answer, now, SessionLimits::default()).unwrap()
}

/// Two stand-in TxOuts for block `index` (the enclave only hashes them).
fn outputs(index: u64) -> Vec<TxOut> {
    (0..2u8)
        .map(|i| TxOut {
            masked_amount: None,
            target_key: CompressedRistrettoPublic([i; 32]),
            public_key: CompressedRistrettoPublic([index as u8 ^ 0x5a; 32]),
            e_fog_hint: EncryptedFogHint::default(),
            e_memo: None,
        })
        .collect()
}

const ROOT: TxOutMembershipElement = TxOutMembershipElement {
    range: Range { from: 0, to: 0 },
    hash: [3; 32],
};

/// Block `index` of the enclave's chain holding `key_images`, with its header.
fn next_block(
    enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>,
    index: u64,
    key_images: &[KeyImage],
) -> (Block, BlockContents) {
    let c = enclave.counters().unwrap();
    let contents = BlockContents {
        key_images: key_images.to_vec(),
        outputs: outputs(index),
    };
    let header = Block::new(
        3,
        c.last_block_id,
        index,
        c.global_txo_count + 2,
        ROOT,
        &contents,
    );
    (header, contents)
}

fn add_at(
    enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>,
    index: u64,
    key_images: &[KeyImage],
    timestamp: u64,
) {
    let (header, contents) = next_block(enclave, index, key_images);
    enclave
        .add_block(&LedgerBlock {
            block: &header,
            contents: &contents,
            timestamp,
        })
        .unwrap();
}

fn add(enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>, index: u64, key_images: &[KeyImage]) {
    add_at(enclave, index, key_images, 1_700_000_000 + index);
}

fn ask(
    enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>,
    channel: &mut Channel,
    queries: Vec<KeyImageQuery>,
) -> Result<CheckKeyImagesResponse, LedgerEnclaveError> {
    let request = CheckKeyImagesRequest { queries }.encode_to_vec();
    let frame = channel.seal(&[], &request, NOW).unwrap();
    let out = enclave.check_key_images(&frame, VIEW, NOW)?;
    let plain = channel.open(&out.response, NOW).unwrap();
    Ok(CheckKeyImagesResponse::decode(plain.as_slice()).unwrap())
}

#[test]
fn check_key_images_over_the_channel() {
    let (enclave, verifier) = enclave(10);
    add(&enclave, 0, &[]);
    add(&enclave, 1, &[ki(1), ki(2)]);
    add(&enclave, 2, &[ki(3)]);
    let mut channel = connect(&enclave, verifier);
    let r = ask(
        &enclave,
        &mut channel,
        vec![
            query(ki(3).as_bytes()),
            query(ki(9).as_bytes()),
            query(&[1, 2, 3]),
            query(ki(1).as_bytes()),
        ],
    )
    .unwrap();
    assert_eq!(r.num_blocks, 3);
    assert_eq!(r.global_txo_count, 6);
    assert_eq!(r.latest_block_version, 3);
    assert_eq!(r.max_block_version, 4);
    let codes: Vec<u32> = r.results.iter().map(|r| r.key_image_result_code).collect();
    assert_eq!(
        codes,
        [
            KeyImageResultCode::Spent as u32,
            KeyImageResultCode::NotSpent as u32,
            KeyImageResultCode::KeyImageError as u32,
            KeyImageResultCode::Spent as u32,
        ]
    );
    assert_eq!(r.results[0].spent_at, 2);
    assert_eq!(r.results[0].timestamp, 1_700_000_002);
    assert_eq!(r.results[3].spent_at, 1);
    assert_eq!(r.results[1].spent_at, u64::MAX);
    assert_eq!(
        r.results[1].key_image.as_ref().unwrap().data,
        ki(9).as_bytes()
    );
    assert!(r.results.iter().all(|r| r.timestamp_result_code == 1));
    // Out-of-order blocks are refused and change nothing.
    let counters = enclave.counters().unwrap();
    for index in [2, 4] {
        let (header, contents) = next_block(&enclave, index, &[ki(50)]);
        assert_eq!(
            enclave.add_block(&LedgerBlock {
                block: &header,
                contents: &contents,
                timestamp: 0,
            }),
            Err(LedgerEnclaveError::BlockOutOfOrder)
        );
    }
    assert_eq!(enclave.counters().unwrap(), counters);
    assert_eq!(enclave.load().unwrap().0, 3);
}

/// Attack: anonymous handshakes are free, so one address opens three times as many sessions
/// as the enclave keeps (16 here), each a second after the last. The client that connected
/// first from another address, and has not used its session since (the least recently used
/// of all), still gets its key images checked.
#[test]
fn a_handshake_flood_from_one_address_leaves_other_clients_sessions_alone() {
    let (enclave, verifier) = enclave(12);
    add(&enclave, 0, &[ki(1)]);
    let alice = PeerKey::from_ip("203.0.113.5".parse().unwrap());
    let mallory = PeerKey::from_ip("198.51.100.66".parse().unwrap());
    let mut channel = connect_from(&enclave, verifier.clone(), alice, NOW);
    for i in 0..48 {
        connect_from(
            &enclave,
            verifier.clone(),
            mallory,
            UnixSeconds(NOW.0 + 1 + i),
        );
    }
    assert_eq!(enclave.sessions().len(), 16);
    let r = ask(&enclave, &mut channel, vec![query(ki(1).as_bytes())]).unwrap();
    assert_eq!(
        r.results[0].key_image_result_code,
        KeyImageResultCode::Spent as u32
    );
}

#[test]
fn refused_requests_change_nothing() {
    let (enclave, verifier) = enclave(11);
    add(&enclave, 0, &[ki(1)]);
    let mut channel = connect(&enclave, verifier);
    let counters: LedgerCounters = enclave.counters().unwrap();

    // Oversize: refused before any lookup.
    let many: Vec<KeyImageQuery> = (0..=MAX_KEY_IMAGES_PER_REQUEST as u32)
        .map(|i| query(ki(i).as_bytes()))
        .collect();
    assert_eq!(
        ask(&enclave, &mut channel, many).unwrap_err(),
        LedgerEnclaveError::TooManyItems
    );
    // A frame that opens but holds no request message.
    let frame = channel.seal(&[], &[0xff, 0xff, 0xff], NOW).unwrap();
    assert_eq!(
        enclave.check_key_images(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::MalformedRequest
    );
    // A store too far behind the ledger the host reports: refused, frame consumed.
    let frame = channel
        .seal(&[], &CheckKeyImagesRequest::default().encode_to_vec(), NOW)
        .unwrap();
    let far = LedgerView {
        ledger_blocks: 5,
        max_blocks_behind: 3,
    };
    assert_eq!(
        enclave.check_key_images(&frame, far, NOW).unwrap_err(),
        LedgerEnclaveError::StoreBehind { behind: 4 }
    );
    // The frames were opened, so the session is still in step and answers.
    let r = ask(&enclave, &mut channel, vec![query(ki(1).as_bytes())]).unwrap();
    assert_eq!(
        r.results[0].key_image_result_code,
        KeyImageResultCode::Spent as u32
    );

    // A tampered frame, then the same frame under an unknown session id.
    let mut frame = channel
        .seal(&[], &CheckKeyImagesRequest::default().encode_to_vec(), NOW)
        .unwrap();
    frame.data[0] ^= 1;
    assert_eq!(
        enclave.check_key_images(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::Session(SessionError::BadFrame)
    );
    frame.channel_id = vec![0; 64];
    assert_eq!(
        enclave.check_key_images(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::Session(SessionError::UnknownSession)
    );
    assert_eq!(enclave.counters().unwrap(), counters);
    assert_eq!(enclave.load().unwrap().0, 1);
    assert_eq!(enclave.sessions().len(), 1);
}

#[test]
fn get_outputs_frames() {
    let (enclave, verifier) = enclave(13);
    let mut channel = connect(&enclave, verifier);
    let request = GetOutputsRequest {
        indices: vec![4, 8, 15],
        merkle_root_block: 0,
    };
    let frame = channel.seal(&[], &request.encode_to_vec(), NOW).unwrap();
    let (channel_id, opened) = enclave.open_get_outputs(&frame, NOW).unwrap();
    assert_eq!(opened, request);
    assert_eq!(channel_id, channel.id().0);
    let response = GetOutputsResponse {
        results: vec![OutputResult {
            index: 4,
            result_code: 1,
            output: None,
            proof: None,
        }],
        num_blocks: 2,
        global_txo_count: 5,
        latest_block_version: 3,
        max_block_version: 4,
    };
    let sealed = enclave
        .seal_get_outputs(&channel_id, &response, NOW)
        .unwrap();
    let plain = channel.open(&sealed, NOW).unwrap();
    assert_eq!(
        GetOutputsResponse::decode(plain.as_slice()).unwrap(),
        response
    );

    let too_many = GetOutputsRequest {
        indices: (0..=MAX_GET_OUTPUTS as u64).collect(),
        merkle_root_block: 0,
    };
    let frame = channel.seal(&[], &too_many.encode_to_vec(), NOW).unwrap();
    assert_eq!(
        enclave.open_get_outputs(&frame, NOW).unwrap_err(),
        LedgerEnclaveError::TooManyItems
    );
    // Sealing on a session that does not exist.
    assert_eq!(
        enclave
            .seal_get_outputs(&[9; 64], &response, NOW)
            .unwrap_err(),
        LedgerEnclaveError::Session(SessionError::UnknownSession)
    );
}

#[test]
fn results_echo_key_images_in_order() {
    let (enclave, verifier) = enclave(14);
    let spent: Vec<KeyImage> = (0..50).map(ki).collect();
    add(&enclave, 0, &spent);
    let mut channel = connect(&enclave, verifier);
    let queries: Vec<KeyImageQuery> = (25..75).map(|i| query(ki(i).as_bytes())).collect();
    let r = ask(&enclave, &mut channel, queries).unwrap();
    assert_eq!(r.results.len(), 50);
    for (i, res) in (25u32..75).zip(&r.results) {
        let res: &KeyImageResult = res;
        assert_eq!(res.key_image.as_ref().unwrap().data, ki(i).as_bytes());
        let want = if i < 50 {
            KeyImageResultCode::Spent
        } else {
            KeyImageResultCode::NotSpent
        };
        assert_eq!(res.key_image_result_code, want as u32, "{i}");
    }
}

// --- properties ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Against a model (the first block that spends a key image wins): blocks of key images
    /// drawn from a small universe, so repeats happen, then checks of the whole universe.
    #[test]
    fn the_store_agrees_with_a_model(
        blocks in prop::collection::vec(prop::collection::vec(0u32..64, 0..12), 1..12),
        seed in any::<u64>(),
    ) {
        let mut store =
            KeyImageStore::new(1 << 9, HeapFactory, ChaCha20Rng::seed_from_u64(seed)).unwrap();
        let mut model: HashMap<u32, u64> = HashMap::new();
        for (b, block) in blocks.iter().enumerate() {
            let key_images: Vec<KeyImage> = block.iter().map(|&i| ki(i)).collect();
            store.add(&key_images, b as u64, 1000 + b as u64).unwrap();
            for &i in block {
                model.entry(i).or_insert(b as u64);
            }
        }
        prop_assert_eq!(store.len(), model.len() as u64);
        for i in 0..64u32 {
            let c = store.check(ki(i).as_bytes()).unwrap();
            match model.get(&i) {
                Some(&b) => {
                    prop_assert_eq!(c.code, KeyImageResultCode::Spent as u32);
                    prop_assert_eq!((c.spent_at, c.timestamp), (b, 1000 + b));
                }
                None => {
                    prop_assert_eq!(c.code, KeyImageResultCode::NotSpent as u32);
                    prop_assert_eq!((c.spent_at, c.timestamp), (u64::MAX, u64::MAX));
                }
            }
        }
    }

    /// Whatever plaintext a session carries, the enclave answers or refuses; it never panics,
    /// and a refusal changes nothing.
    #[test]
    fn any_plaintext_is_answered_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let (enclave, verifier) = enclave(20);
        add(&enclave, 0, &[ki(1)]);
        let mut channel = connect(&enclave, verifier);
        let frame = channel.seal(&[], &bytes, NOW).unwrap();
        match enclave.check_key_images(&frame, VIEW, NOW) {
            Ok(out) => {
                let plain = channel.open(&out.response, NOW).unwrap();
                let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
                prop_assert_eq!(r.results.len(), out.key_images);
            }
            Err(e) => prop_assert_eq!(e, LedgerEnclaveError::MalformedRequest),
        }
        prop_assert_eq!(enclave.load().unwrap().0, 1);
        prop_assert_eq!(enclave.counters().unwrap().num_blocks, 1);
    }

    /// The same for `GetBlockIds`: one id answered per index asked, or a refusal.
    #[test]
    fn any_block_ids_plaintext_is_answered_or_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let (enclave, verifier) = enclave(21);
        add(&enclave, 0, &[ki(1)]);
        let mut channel = connect(&enclave, verifier);
        let frame = channel.seal(BLOCK_IDS_AAD, &bytes, NOW).unwrap();
        match enclave.block_ids(&frame, NOW) {
            Ok(sealed) => {
                let plain = channel.open(&sealed, NOW).unwrap();
                let r = BlockIdsResponse::decode(plain.as_slice()).unwrap();
                let asked = BlockIdsRequest::decode(bytes.as_slice()).unwrap();
                prop_assert_eq!(r.ids.len(), asked.indices.len());
                prop_assert_eq!(r.num_blocks, 1);
            }
            Err(e) => prop_assert_eq!(e, LedgerEnclaveError::MalformedRequest),
        }
        prop_assert_eq!(enclave.counters().unwrap().num_blocks, 1);
    }
}

/// Attack on the answer size: a key image spent in block 0, whose timestamp is 0, must not
/// answer shorter than one spent elsewhere or not spent (proto3 would leave the zeros out).
/// Every answer to one request shape, sealed, has one length.
#[test]
fn answers_of_one_request_shape_have_one_length() {
    let (enclave, verifier) = enclave(12);
    add_at(&enclave, 0, &[ki(1)], 0);
    add(&enclave, 1, &[ki(2)]);
    let mut channel = connect(&enclave, verifier);
    let mut lengths = Vec::new();
    for asked in [ki(1), ki(2), ki(3)] {
        let request = CheckKeyImagesRequest {
            queries: vec![query(asked.as_bytes())],
        }
        .encode_to_vec();
        let frame = channel.seal(&[], &request, NOW).unwrap();
        let out = enclave.check_key_images(&frame, VIEW, NOW).unwrap();
        let plain = channel.open(&out.response, NOW).unwrap();
        let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
        lengths.push((r.results[0].spent_at, plain.len(), out.response.data.len()));
    }
    assert_eq!(lengths[0].0, 0, "the first key image was spent in block 0");
    assert!(
        lengths
            .iter()
            .all(|&(_, p, c)| (p, c) == (lengths[0].1, lengths[0].2)),
        "{lengths:?}"
    );
}

/// Attack: a host feeds the enclave key images that no block of its chain spends, or leaves
/// some out. Each feed below is refused, stores nothing, and the key images stay unspent; the
/// honest block is taken afterwards.
#[test]
fn a_block_that_does_not_extend_the_verified_chain_is_refused() {
    let (enclave, verifier) = enclave(13);
    add(&enclave, 0, &[ki(1)]);
    let before = enclave.counters().unwrap();
    let (header, contents) = next_block(&enclave, 1, &[ki(2)]);
    let resealed = |h: &Block| {
        let mut h = h.clone();
        h.id = Block::compute_id(
            h.version,
            &h.parent_id,
            h.index,
            h.cumulative_txo_count,
            &h.root_element,
            &h.contents_hash,
        );
        h
    };
    let mut extra = contents.clone();
    extra.key_images.push(ki(7));
    let mut dropped = contents.clone();
    dropped.key_images.clear();
    let mut bad_id = header.clone();
    bad_id.id[0] ^= 1;
    let mut parent = header.clone();
    parent.parent_id[5] ^= 1;
    let mut count = header.clone();
    count.cumulative_txo_count += 1;
    let cases: Vec<(&str, Block, &BlockContents)> = vec![
        ("a key image added to the contents", header.clone(), &extra),
        ("the block's key image left out", header.clone(), &dropped),
        ("an id that is not the header's", bad_id, &contents),
        (
            "another parent, id recomputed",
            resealed(&parent),
            &contents,
        ),
        (
            "a TxOut count that does not follow",
            resealed(&count),
            &contents,
        ),
        (
            "another block's contents under a recomputed header",
            {
                let mut h = header.clone();
                h.contents_hash = extra.hash();
                resealed(&h)
            },
            &contents,
        ),
    ];
    for (what, h, c) in &cases {
        assert_eq!(
            enclave.add_block(&LedgerBlock {
                block: h,
                contents: c,
                timestamp: 5,
            }),
            Err(LedgerEnclaveError::NotInChain),
            "{what}"
        );
        assert_eq!(
            enclave.counters().unwrap(),
            before,
            "{what} changed the store"
        );
    }
    let mut channel = connect(&enclave, verifier);
    let r = ask(
        &enclave,
        &mut channel,
        vec![query(ki(2).as_bytes()), query(ki(7).as_bytes())],
    )
    .unwrap();
    assert!(r
        .results
        .iter()
        .all(|r| r.key_image_result_code == KeyImageResultCode::NotSpent as u32));
    // The honest block extends the chain.
    let counters = enclave
        .add_block(&LedgerBlock {
            block: &header,
            contents: &contents,
            timestamp: 5,
        })
        .unwrap();
    assert_eq!(counters.last_block_id, header.id);
    assert_eq!(counters.global_txo_count, 4);
}

fn block_ids(
    enclave: &LedgerEnclave<HeapFactory, ChaCha20Rng>,
    channel: &mut Channel,
    indices: Vec<u64>,
) -> Result<BlockIdsResponse, LedgerEnclaveError> {
    let request = BlockIdsRequest { indices }.encode_to_vec();
    let frame = channel.seal(BLOCK_IDS_AAD, &request, NOW).unwrap();
    let out = enclave.block_ids(&frame, NOW)?;
    let plain = channel.open(&out, NOW).unwrap();
    Ok(BlockIdsResponse::decode(plain.as_slice()).unwrap())
}

/// The ids answered are those of the blocks the enclave took, none of a refused block, and
/// nothing past the last one.
#[test]
fn block_ids_are_the_ids_of_the_verified_chain() {
    let (enclave, verifier) = enclave(14);
    let mut channel = connect(&enclave, verifier);
    let r = block_ids(&enclave, &mut channel, vec![0]).unwrap();
    assert_eq!((r.num_blocks, r.global_txo_count), (0, 0));
    assert!(r.ids[0].data.is_empty() && r.last_block_id.is_none());

    let mut headers = Vec::new();
    for index in 0..3 {
        let (header, contents) = next_block(&enclave, index, &[ki(index as u32)]);
        enclave
            .add_block(&LedgerBlock {
                block: &header,
                contents: &contents,
                timestamp: 9,
            })
            .unwrap();
        headers.push(header);
    }
    // A block that does not extend the chain leaves no id.
    let (mut other, contents) = next_block(&enclave, 3, &[]);
    other.parent_id = [9; 32];
    assert_eq!(
        enclave.add_block(&LedgerBlock {
            block: &other,
            contents: &contents,
            timestamp: 9,
        }),
        Err(LedgerEnclaveError::NotInChain)
    );

    let r = block_ids(&enclave, &mut channel, vec![2, 0, 3, u64::MAX, 1, 1]).unwrap();
    let id = |i: usize| headers[i].id.to_vec();
    let got: Vec<Vec<u8>> = r.ids.iter().map(|b| b.data.clone()).collect();
    assert_eq!(got, vec![id(2), id(0), vec![], vec![], id(1), id(1)]);
    assert_eq!(r.num_blocks, 3);
    assert_eq!(r.global_txo_count, headers[2].cumulative_txo_count);
    assert_eq!(r.last_block_id.unwrap().data, id(2));
    assert_eq!(enclave.counters().unwrap().last_block_id, headers[2].id);

    // Too many indices, or a frame that is no request: refused, and the session goes on.
    assert_eq!(
        block_ids(&enclave, &mut channel, vec![0; MAX_BLOCK_IDS + 1]),
        Err(LedgerEnclaveError::TooManyItems)
    );
    let frame = channel
        .seal(BLOCK_IDS_AAD, &[0xff, 0xff, 0xff], NOW)
        .unwrap();
    assert_eq!(
        enclave.block_ids(&frame, NOW),
        Err(LedgerEnclaveError::MalformedRequest)
    );
    let r = block_ids(&enclave, &mut channel, vec![]).unwrap();
    assert!(r.ids.is_empty());
    assert_eq!(r.num_blocks, 3);
}

/// Attack: the host passes a client's frame to another call than the one it was sealed for,
/// or has an answer of its own sealed where no `GetOutputs` request waits. Each is refused,
/// and the session stays usable.
#[test]
fn frames_go_only_to_their_own_call_and_the_host_seals_only_awaited_answers() {
    let (enclave, verifier) = enclave(15);
    add(&enclave, 0, &[ki(1)]);
    let mut channel = connect(&enclave, verifier);
    let ids = BlockIdsRequest { indices: vec![0] }.encode_to_vec();
    let outputs = GetOutputsRequest {
        indices: vec![0],
        merkle_root_block: 0,
    }
    .encode_to_vec();

    // A GetBlockIds frame given to GetOutputs or to a key-image check.
    let frame = channel.seal(BLOCK_IDS_AAD, &ids, NOW).unwrap();
    assert_eq!(
        enclave.open_get_outputs(&frame, NOW).unwrap_err(),
        LedgerEnclaveError::MalformedRequest
    );
    let frame = channel.seal(BLOCK_IDS_AAD, &ids, NOW).unwrap();
    assert_eq!(
        enclave.check_key_images(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::MalformedRequest
    );
    // A GetOutputs frame given to GetBlockIds.
    let frame = channel.seal(&[], &outputs, NOW).unwrap();
    assert_eq!(
        enclave.block_ids(&frame, NOW),
        Err(LedgerEnclaveError::MalformedRequest)
    );

    // The host's own answer, sealed with no GetOutputs request waiting: refused.
    let forged = GetOutputsResponse {
        results: vec![],
        num_blocks: 1_000_000,
        global_txo_count: 0,
        latest_block_version: 0,
        max_block_version: 0,
    };
    let channel_id = channel.id().0.clone();
    assert_eq!(
        enclave.seal_get_outputs(&channel_id, &forged, NOW),
        Err(LedgerEnclaveError::Session(SessionError::UnknownSession))
    );
    // One waiting request: one answer sealed, not two.
    let frame = channel.seal(&[], &outputs, NOW).unwrap();
    let (opened_on, _) = enclave.open_get_outputs(&frame, NOW).unwrap();
    let sealed = enclave.seal_get_outputs(&opened_on, &forged, NOW).unwrap();
    let plain = channel.open(&sealed, NOW).unwrap();
    assert_eq!(
        GetOutputsResponse::decode(plain.as_slice()).unwrap(),
        forged
    );
    assert!(enclave.seal_get_outputs(&opened_on, &forged, NOW).is_err());

    // The session goes on.
    let r = block_ids(&enclave, &mut channel, vec![0]).unwrap();
    assert_eq!(r.num_blocks, 1);
}
