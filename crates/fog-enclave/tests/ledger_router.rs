//! The ledger router over key-image stores of block ranges: its answers equal one fog
//! ledger's answers over the same chain, whatever the shard layout (overlapping shards,
//! shards with no blocks); a store down or tampered with lowers the count and hides what lies
//! past it; the merge touches the same positions whichever store held a spend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    fog_identity, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, PeerKey, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave::ledger::{LedgerBlock, LedgerEnclave, LedgerEnclaveError, LedgerView};
use fog_enclave::ledger_router::{
    merge_key_image_results, LedgerRouter, PendingCheck, ShardCoverage, KEY_IMAGE_STORE_CHANNEL,
};
use fog_enclave::peers::PeerChannels;
use fog_enclave::sessions::ClientSessions;
use fog_oram::HeapFactory;
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{Range, TxOutMembershipElement},
    wire::KeyImage as WireKeyImage,
    EncryptedFogHint, KeyImage, TxOut,
};
use fog_types::common::BlockRange;
use fog_types::ledger::{
    CheckKeyImagesRequest, CheckKeyImagesResponse, KeyImageQuery, KeyImageResult,
    KeyImageResultCode, MAX_GET_OUTPUTS,
};
use proptest::prelude::*;
use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);
const OPEN: u64 = u64::MAX;
/// A host view under which no enclave is ever behind.
const VIEW: LedgerView = LedgerView {
    ledger_blocks: 0,
    max_blocks_behind: 0,
};
const SPENT: u32 = KeyImageResultCode::Spent as u32;
const NOT_SPENT: u32 = KeyImageResultCode::NotSpent as u32;
const MALFORMED: u32 = KeyImageResultCode::KeyImageError as u32;

type Ledger = LedgerEnclave<HeapFactory, ChaCha20Rng>;
type Router = LedgerRouter<HeapFactory, ChaCha20Rng>;

// --- enclaves and channels, as the hosts make them ------------------------------------------

fn provider() -> SimProvider {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    SimProvider::generate(&mut rng, fog_identity(FogEnclave::Ledger))
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
        KEY_IMAGE_STORE_CHANNEL,
        responder(p),
        verifier(p),
        SessionLimits::default(),
    )
}

/// A fog ledger enclave keeping the key images of `range` (`(0, OPEN)`: all, the default),
/// open to routers.
fn ledger(p: &SimProvider, seed: u64, range: (u64, u64)) -> Ledger {
    let sessions = ClientSessions::new(responder(p), 16, SessionLimits::default());
    let enclave = LedgerEnclave::new(
        sessions,
        1 << 10,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed),
    )
    .unwrap();
    if range != (0, OPEN) {
        enclave.set_key_image_blocks(range.0, range.1).unwrap();
    }
    enclave.set_router_link(link(p));
    enclave
}

/// A router (its own enclave keeping no key images) with one channel to each store.
fn router(p: &SimProvider, stores: &[Ledger]) -> (Router, Vec<Vec<u8>>) {
    let router = LedgerRouter::new(ledger(p, 999, (0, 0)), link(p));
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

fn connect(p: &SimProvider, enclave: &Ledger) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier(p)).unwrap();
    let answer = enclave.accept(&hello, PeerKey::UNKNOWN, NOW).unwrap();
    hs.finish(&answer, NOW, SessionLimits::default()).unwrap()
}

// --- the chain -------------------------------------------------------------------------------

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

fn timestamp(index: u64) -> u64 {
    1_700_000_000 + index
}

fn version(index: u64) -> u32 {
    if index < 6 {
        2
    } else {
        3
    }
}

/// A chain spending `spends[b]` in block `b`, two stand-in TxOuts a block, block version 2 then
/// 3 from block 6.
fn chain(spends: &[Vec<KeyImage>]) -> Vec<ChainBlock> {
    let mut blocks: Vec<ChainBlock> = Vec::new();
    for (b, key_images) in spends.iter().enumerate() {
        let index = b as u64;
        let outputs = (0..2u8)
            .map(|i| TxOut {
                masked_amount: None,
                target_key: CompressedRistrettoPublic([i; 32]),
                public_key: CompressedRistrettoPublic([index as u8 ^ 0x5a; 32]),
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
        let header = Block::new(version(index), parent, index, txos + 2, root, &contents);
        blocks.push(ChainBlock {
            header,
            contents,
            timestamp: timestamp(index),
        });
    }
    blocks
}

/// Feeds `enclave` the blocks `from..to` of `chain` (it holds `0..from` already).
fn feed(enclave: &Ledger, chain: &[ChainBlock], from: usize, to: usize) {
    for b in &chain[from..to] {
        enclave
            .add_block(&LedgerBlock {
                block: &b.header,
                contents: &b.contents,
                timestamp: b.timestamp,
            })
            .unwrap();
    }
}

// --- asking ----------------------------------------------------------------------------------

fn request(key_images: &[Vec<u8>]) -> Vec<u8> {
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

struct Routed {
    response: CheckKeyImagesResponse,
    shards: Vec<Option<ShardCoverage>>,
    merged_shards: usize,
}

/// One check through the router; `up[i]` says whether store `i` answers.
fn ask_router(
    router: &Router,
    channels: &[Vec<u8>],
    stores: &[Ledger],
    up: &[bool],
    client: &mut Channel,
    key_images: &[Vec<u8>],
) -> Routed {
    let frame = client.seal(&[], &request(key_images), NOW).unwrap();
    let pending = router.open_check(&frame, VIEW, NOW).unwrap();
    assert_eq!(pending.key_count(), key_images.len());
    let replies: Vec<Option<(Vec<u8>, Vec<u8>)>> = stores
        .iter()
        .zip(channels)
        .zip(up)
        .map(|((s, ch), &up)| {
            up.then(|| {
                let req = router.store_request(&pending, ch, NOW).unwrap();
                (ch.clone(), s.router_check(ch, &req, VIEW, NOW).unwrap())
            })
        })
        .collect();
    let answers: Vec<Option<(&[u8], &[u8])>> = replies
        .iter()
        .map(|r| r.as_ref().map(|(c, f)| (c.as_slice(), f.as_slice())))
        .collect();
    let routed = router.finish(pending, &answers, NOW).unwrap();
    let plain = client.open(&routed.frame.unwrap().unwrap(), NOW).unwrap();
    let response = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
    assert_eq!(response.num_blocks, routed.num_blocks);
    Routed {
        response,
        shards: routed.shards,
        merged_shards: routed.merged_shards,
    }
}

fn ask_single(
    enclave: &Ledger,
    client: &mut Channel,
    key_images: &[Vec<u8>],
) -> CheckKeyImagesResponse {
    let frame = client.seal(&[], &request(key_images), NOW).unwrap();
    let out = enclave.check_key_images(&frame, VIEW, NOW).unwrap();
    let plain = client.open(&out.response, NOW).unwrap();
    CheckKeyImagesResponse::decode(plain.as_slice()).unwrap()
}

/// (code, spent_at, timestamp) of each result.
fn outcomes(r: &CheckKeyImagesResponse) -> Vec<(u32, u64, u64)> {
    r.results
        .iter()
        .map(|x| (x.key_image_result_code, x.spent_at, x.timestamp))
        .collect()
}

/// Each result echoes the key image asked at its position.
fn assert_echoes(r: &CheckKeyImagesResponse, key_images: &[Vec<u8>]) {
    let echoed: Vec<&[u8]> = r
        .results
        .iter()
        .map(|x| x.key_image.as_ref().unwrap().data.as_slice())
        .collect();
    let asked: Vec<&[u8]> = key_images.iter().map(Vec::as_slice).collect();
    assert_eq!(echoed, asked);
}

fn bytes(k: KeyImage) -> Vec<u8> {
    k.as_bytes().to_vec()
}

/// Key image `i` spent in block `i` (and key image `100 + i` too in the even blocks).
fn one_spend_a_block(blocks: u32) -> Vec<Vec<KeyImage>> {
    (0..blocks)
        .map(|i| {
            let mut v = vec![ki(i)];
            if i % 2 == 0 {
                v.push(ki(100 + i));
            }
            v
        })
        .collect()
}

fn three_stores(p: &SimProvider, seed: u64) -> Vec<Ledger> {
    [(0, 4), (4, 8), (8, OPEN)]
        .iter()
        .enumerate()
        .map(|(i, &r)| ledger(p, seed + i as u64, r))
        .collect()
}

// --- tests -----------------------------------------------------------------------------------

#[test]
fn three_stores_behind_a_router_answer_as_one_fog_ledger() {
    let p = provider();
    let chain = chain(&one_spend_a_block(12));
    let stores = three_stores(&p, 10);
    let single = ledger(&p, 20, (0, OPEN));
    let (router, channels) = router(&p, &stores);
    let everyone = || stores.iter().chain([&single, router.enclave()]);
    for e in everyone() {
        feed(e, &chain, 0, 9);
    }
    let mut c = connect(&p, router.enclave());
    let mut s = connect(&p, &single);
    let up = [true; 3];

    // Block 9 has not landed: its key image is not spent, in the 9 blocks vouched for.
    let before = ask_router(&router, &channels, &stores, &up, &mut c, &[bytes(ki(9))]);
    assert_eq!(before.response.num_blocks, 9);
    assert_eq!(
        outcomes(&before.response),
        [(NOT_SPENT, u64::MAX, u64::MAX)]
    );
    assert_eq!(before.merged_shards, 3);
    assert_eq!(
        before.shards[2],
        Some(ShardCoverage {
            blocks: BlockRange::new(8, OPEN),
            processed: 9,
            loaded_end: 9,
        })
    );
    assert_eq!(
        before.shards[0].unwrap().processed,
        4,
        "a closed store covers up to its end"
    );

    for e in everyone() {
        feed(e, &chain, 9, 12);
    }
    let after = ask_router(&router, &channels, &stores, &up, &mut c, &[bytes(ki(9))]);
    assert_eq!(after.response.num_blocks, 12);
    assert_eq!(outcomes(&after.response), [(SPENT, 9, timestamp(9))]);

    // A batch across every shard, with an unspent, a malformed and a repeated key image.
    let batch = vec![
        bytes(ki(1)),
        bytes(ki(5)),
        bytes(ki(110)),
        bytes(ki(77)),
        ki(6).as_bytes()[..31].to_vec(),
        bytes(ki(5)),
        vec![],
        bytes(ki(11)),
        bytes(ki(0)),
    ];
    let got = ask_router(&router, &channels, &stores, &up, &mut c, &batch).response;
    let want = ask_single(&single, &mut s, &batch);
    assert_eq!(got, want);
    assert_echoes(&got, &batch);
    assert_eq!(
        outcomes(&got),
        [
            (SPENT, 1, timestamp(1)),
            (SPENT, 5, timestamp(5)),
            (SPENT, 10, timestamp(10)),
            (NOT_SPENT, u64::MAX, u64::MAX),
            (MALFORMED, u64::MAX, u64::MAX),
            (SPENT, 5, timestamp(5)),
            (MALFORMED, u64::MAX, u64::MAX),
            (SPENT, 11, timestamp(11)),
            (SPENT, 0, timestamp(0)),
        ]
    );
    assert_eq!((got.global_txo_count, got.latest_block_version), (24, 3));
    assert_eq!(router.checks(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The router's answer equals one fog ledger's over the same chain: every result, in
    /// order, and the block count, TxOut count and versions.
    #[test]
    fn router_answers_equal_a_single_fog_ledger(
        spends in proptest::collection::vec(proptest::collection::vec(0u32..40, 0..4), 1..16),
        shard_cuts in proptest::collection::vec(1u64..20, 0..4),
        extra in proptest::option::of((0u64..18, 1u64..10)),
        empty_shard in 0u8..3,
        asked in proptest::collection::vec(0u32..48, 0..20),
        malformed in proptest::collection::vec(0usize..40, 0..3),
        seed in 0u64..1000,
    ) {
        let p = provider();
        let spends: Vec<Vec<KeyImage>> =
            spends.iter().map(|b| b.iter().map(|&i| ki(i)).collect()).collect();
        let chain = chain(&spends);
        let end = chain.len() as u64;
        // Consecutive shards from 0, open-ended last, maybe an overlapping shard, maybe a
        // shard past the chain's end or one keeping no blocks at all.
        let mut bounds: Vec<u64> = vec![0];
        bounds.extend(shard_cuts.iter().copied());
        bounds.sort_unstable();
        bounds.dedup();
        let mut ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        ranges.push((*bounds.last().unwrap(), OPEN));
        if let Some((s, len)) = extra {
            ranges.push((s, s + len));
        }
        match empty_shard {
            1 => ranges.push((end + 3, end + 7)),
            2 => ranges.push((end / 2, end / 2)),
            _ => {}
        }
        let stores: Vec<Ledger> = ranges
            .iter()
            .enumerate()
            .map(|(i, &r)| ledger(&p, seed * 100 + i as u64, r))
            .collect();
        let single = ledger(&p, seed * 100 + 99, (0, OPEN));
        let (router, channels) = router(&p, &stores);
        for e in stores.iter().chain([&single, router.enclave()]) {
            feed(e, &chain, 0, chain.len());
        }
        let mut key_images: Vec<Vec<u8>> = asked.iter().map(|&i| bytes(ki(i))).collect();
        for &at in &malformed {
            let bad = ki(at as u32).as_bytes()[..at % 32].to_vec();
            key_images.insert(at.min(key_images.len()), bad);
        }
        let mut c = connect(&p, router.enclave());
        let mut s = connect(&p, &single);
        let up = vec![true; stores.len()];
        let got = ask_router(&router, &channels, &stores, &up, &mut c, &key_images);
        let want = ask_single(&single, &mut s, &key_images);
        prop_assert_eq!(&got.response, &want);
        prop_assert_eq!(got.response.num_blocks, end);
        prop_assert!(got.shards.iter().all(Option::is_some));
        assert_echoes(&got.response, &key_images);
    }
}

#[test]
fn a_store_down_lowers_the_count_to_the_cover_and_hides_spends_past_the_gap() {
    let p = provider();
    let chain = chain(&one_spend_a_block(12));
    let stores = three_stores(&p, 30);
    let (router, channels) = router(&p, &stores);
    for e in stores.iter().chain([router.enclave()]) {
        feed(e, &chain, 0, 12);
    }
    let mut c = connect(&p, router.enclave());
    let asked = [bytes(ki(2)), bytes(ki(5)), bytes(ki(10))];
    let all = ask_router(&router, &channels, &stores, &[true; 3], &mut c, &asked);
    assert_eq!(all.response.num_blocks, 12);
    assert!(outcomes(&all.response).iter().all(|o| o.0 == SPENT));

    // The middle store is down: the count stops at 4, and the spend in block 10 (past the
    // gap) is not reported.
    let gap = ask_router(
        &router,
        &channels,
        &stores,
        &[true, false, true],
        &mut c,
        &asked,
    );
    assert_eq!(gap.response.num_blocks, 4);
    assert_eq!(gap.shards[1], None);
    assert_eq!(gap.merged_shards, 1, "the store past the gap is left out");
    assert_eq!(
        outcomes(&gap.response),
        [
            (SPENT, 2, timestamp(2)),
            (NOT_SPENT, u64::MAX, u64::MAX),
            (NOT_SPENT, u64::MAX, u64::MAX),
        ]
    );
    // The TxOut count and version are those of the 4 blocks vouched for.
    assert_eq!(
        (
            gap.response.global_txo_count,
            gap.response.latest_block_version
        ),
        (8, 2)
    );

    // The first store down: nothing is vouched for.
    let none = ask_router(
        &router,
        &channels,
        &stores,
        &[false, true, true],
        &mut c,
        &asked,
    );
    assert_eq!(none.response.num_blocks, 0);
    assert_eq!((none.response.global_txo_count, none.merged_shards), (0, 0));
    assert!(outcomes(&none.response)
        .iter()
        .all(|&o| o == (NOT_SPENT, u64::MAX, u64::MAX)));

    // No store at all.
    let frame = c.seal(&[], &request(&asked), NOW).unwrap();
    let pending = router.open_check(&frame, VIEW, NOW).unwrap();
    let routed = router.finish(pending, &[None, None, None], NOW).unwrap();
    assert_eq!((routed.num_blocks, routed.merged_shards), (0, 0));
    let r = CheckKeyImagesResponse::decode(
        c.open(&routed.frame.unwrap().unwrap(), NOW)
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert_eq!(r.results.len(), 3);
}

#[test]
fn a_tampered_or_misdirected_store_answer_is_left_out() {
    let p = provider();
    let chain = chain(&one_spend_a_block(12));
    let stores = three_stores(&p, 40);
    let (router, channels) = router(&p, &stores);
    for e in stores.iter().chain([router.enclave()]) {
        feed(e, &chain, 0, 12);
    }
    let mut c = connect(&p, router.enclave());
    let asked = [bytes(ki(2)), bytes(ki(6)), bytes(ki(10))];
    let frame = c.seal(&[], &request(&asked), NOW).unwrap();
    let pending = router.open_check(&frame, VIEW, NOW).unwrap();
    let answer = |i: usize, pending: &PendingCheck| {
        let req = router.store_request(pending, &channels[i], NOW).unwrap();
        stores[i]
            .router_check(&channels[i], &req, VIEW, NOW)
            .unwrap()
    };
    let a0 = answer(0, &pending);
    let a1 = answer(1, &pending);
    let mut a2 = answer(2, &pending);
    // The host flips a bit of the last store's answer.
    let at = a2.len() - 3;
    a2[at] ^= 1;
    let routed = router
        .finish(
            pending,
            &[
                Some((&channels[0], &a0)),
                Some((&channels[1], &a1)),
                Some((&channels[2], &a2)),
            ],
            NOW,
        )
        .unwrap();
    assert!(routed.shards[..2].iter().all(Option::is_some));
    assert_eq!(routed.shards[2], None, "a tampered answer is refused");
    assert_eq!(routed.num_blocks, 8);
    let r = CheckKeyImagesResponse::decode(
        c.open(&routed.frame.unwrap().unwrap(), NOW)
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let codes: Vec<u32> = r.results.iter().map(|x| x.key_image_result_code).collect();
    assert_eq!(codes, [SPENT, SPENT, NOT_SPENT]);
    assert!(router.store_links().close(&channels[2]));

    // The middle store answers another (smaller) check than the one being merged: its answer
    // opens, but does not answer every key image asked, so it is left out.
    let frame = c.seal(&[], &request(&asked), NOW).unwrap();
    let pending = router.open_check(&frame, VIEW, NOW).unwrap();
    let frame = c.seal(&[], &request(&asked[..1]), NOW).unwrap();
    let other = router.open_check(&frame, VIEW, NOW).unwrap();
    let a0 = answer(0, &pending);
    let a1 = answer(1, &other);
    let routed = router
        .finish(
            pending,
            &[Some((&channels[0], &a0)), Some((&channels[1], &a1)), None],
            NOW,
        )
        .unwrap();
    assert_eq!(routed.shards[1], None);
    assert_eq!((routed.num_blocks, routed.merged_shards), (4, 1));
}

#[test]
fn the_router_vouches_for_no_block_past_its_own_chain() {
    let p = provider();
    let chain = chain(&one_spend_a_block(12));
    let stores = three_stores(&p, 50);
    let (router, channels) = router(&p, &stores);
    for s in &stores {
        feed(s, &chain, 0, 12);
    }
    feed(router.enclave(), &chain, 0, 6);
    let mut c = connect(&p, router.enclave());
    let asked = [bytes(ki(5)), bytes(ki(6)), bytes(ki(9))];
    let r = ask_router(&router, &channels, &stores, &[true; 3], &mut c, &asked);
    assert_eq!(r.response.num_blocks, 6);
    assert_eq!(
        outcomes(&r.response),
        [
            (SPENT, 5, timestamp(5)),
            (NOT_SPENT, u64::MAX, u64::MAX),
            (NOT_SPENT, u64::MAX, u64::MAX),
        ]
    );
    assert_eq!(
        (r.response.global_txo_count, r.response.latest_block_version),
        (12, 2)
    );
    // A probe asks nothing and says what the stores cover.
    let probe = Router::probe();
    let replies: Vec<(Vec<u8>, Vec<u8>)> = stores
        .iter()
        .zip(&channels)
        .map(|(s, ch)| {
            let req = router.store_request(&probe, ch, NOW).unwrap();
            (ch.clone(), s.router_check(ch, &req, VIEW, NOW).unwrap())
        })
        .collect();
    let answers: Vec<Option<(&[u8], &[u8])>> = replies
        .iter()
        .map(|(c, f)| Some((c.as_slice(), f.as_slice())))
        .collect();
    let routed = router.finish(probe, &answers, NOW).unwrap();
    assert!(routed.frame.unwrap().is_none());
    assert_eq!(routed.num_blocks, 6);
    let processed: Vec<u64> = routed.shards.iter().map(|s| s.unwrap().processed).collect();
    assert_eq!(processed, [4, 8, 12]);
}

#[test]
fn the_router_refuses_what_a_fog_ledger_refuses() {
    let p = provider();
    let chain = chain(&one_spend_a_block(4));
    let (router, _) = router(&p, &[]);
    feed(router.enclave(), &chain, 0, 4);
    let mut c = connect(&p, router.enclave());
    let many: Vec<Vec<u8>> = (0..=fog_enclave::ledger::MAX_KEY_IMAGES_PER_REQUEST as u32)
        .map(|i| bytes(ki(i)))
        .collect();
    let frame = c.seal(&[], &request(&many), NOW).unwrap();
    assert_eq!(
        router.open_check(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::TooManyItems
    );
    let frame = c
        .seal(b"fog_ledger.GetBlockIds", &request(&[]), NOW)
        .unwrap();
    assert_eq!(
        router.open_check(&frame, VIEW, NOW).unwrap_err(),
        LedgerEnclaveError::MalformedRequest
    );
    let frame = c.seal(&[], &request(&[bytes(ki(1))]), NOW).unwrap();
    let far = LedgerView {
        ledger_blocks: 10,
        max_blocks_behind: 3,
    };
    assert_eq!(
        router.open_check(&frame, far, NOW).unwrap_err(),
        LedgerEnclaveError::StoreBehind { behind: 6 }
    );
    // The session goes on, and the router's own enclave answers GetOutputs as ever.
    let outputs = fog_types::ledger::GetOutputsRequest {
        indices: vec![0; MAX_GET_OUTPUTS],
        merkle_root_block: 0,
    };
    let frame = c.seal(&[], &outputs.encode_to_vec(), NOW).unwrap();
    assert!(router.enclave().open_get_outputs(&frame, NOW).is_ok());
    // A store refuses a frame that is not on one of its router channels.
    let store = ledger(&p, 60, (0, OPEN));
    assert!(matches!(
        store.router_check(&[7; 32], &[1, 2, 3], VIEW, NOW),
        Err(LedgerEnclaveError::Peer(_))
    ));
}

fn result(code: u32, spent_at: u64) -> KeyImageResult {
    let spent = code == SPENT;
    KeyImageResult {
        key_image: Some(WireKeyImage { data: vec![9; 32] }),
        spent_at: if spent { spent_at } else { u64::MAX },
        timestamp: if spent { timestamp(spent_at) } else { u64::MAX },
        timestamp_result_code: 1,
        key_image_result_code: code,
    }
}

/// The merge reads the same positions whichever store held each key image's spend, whether
/// one did at all, and whether the spend lies past the count vouched for.
#[test]
fn the_merge_has_one_trace_whatever_store_held_the_spend() {
    let key_images: Vec<Vec<u8>> = (0..10u32)
        .map(|i| if i == 7 { vec![1; 5] } else { bytes(ki(i)) })
        .collect();
    let mut traces = Vec::new();
    for layout in 0..6u64 {
        // Three stores; key image i spent in store (i + layout) % 4 (3: nowhere), at block
        // 3 * store + i, which lies past the 20 blocks vouched for when layout is 5.
        let num_blocks = if layout == 5 { 2 } else { 20 };
        let shards: Vec<Vec<KeyImageResult>> = (0..3u64)
            .map(|s| {
                (0..10u64)
                    .map(|i| {
                        if (i + layout) % 4 == s {
                            result(SPENT, 3 * s + i % 3)
                        } else {
                            result(NOT_SPENT, 0)
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[KeyImageResult]> = shards.iter().map(Vec::as_slice).collect();
        let mut trace = Vec::new();
        let merged = merge_key_image_results(&refs, &key_images, num_blocks, |at| trace.push(at));
        traces.push(trace);
        assert_eq!(merged.len(), key_images.len());
        for (i, r) in merged.iter().enumerate() {
            let i64_ = i as u64;
            assert_eq!(r.key_image.as_ref().unwrap().data, key_images[i]);
            let store = (i64_ + layout) % 4;
            let spent_at = 3 * store + i64_ % 3;
            let want = if i == 7 {
                (MALFORMED, u64::MAX, u64::MAX)
            } else if store < 3 && spent_at < num_blocks {
                (SPENT, spent_at, timestamp(spent_at))
            } else {
                (NOT_SPENT, u64::MAX, u64::MAX)
            };
            assert_eq!(
                (r.key_image_result_code, r.spent_at, r.timestamp),
                want,
                "layout {layout}, key image {i}"
            );
        }
    }
    assert!(
        traces.iter().all(|t| *t == traces[0]),
        "the trace depends on the data"
    );
    assert_eq!(traces[0].len(), 30);
    // The earliest spend wins when overlapping stores disagree (a ledger spending a key image
    // twice: a single store keeps the first).
    let a = [result(SPENT, 9)];
    let b = [result(SPENT, 4)];
    let merged = merge_key_image_results(&[&a, &b], &[bytes(ki(1))], 20, |_| {});
    assert_eq!(merged[0].spent_at, 4);
}

#[test]
fn a_range_store_keeps_only_its_blocks_key_images_and_its_range_is_set_first() {
    let p = provider();
    let chain = chain(&one_spend_a_block(12));
    let store = ledger(&p, 70, (4, 8));
    assert_eq!(store.key_image_blocks().unwrap(), BlockRange::new(4, 8));
    assert_eq!(
        store.set_key_image_blocks(5, 4),
        Err(LedgerEnclaveError::BadBlockRange),
        "start past end"
    );
    store.set_key_image_blocks(4, 8).unwrap();
    feed(&store, &chain, 0, 1);
    assert_eq!(
        store.set_key_image_blocks(0, OPEN),
        Err(LedgerEnclaveError::BadBlockRange),
        "after a block"
    );
    assert_eq!(store.key_image_blocks().unwrap(), BlockRange::new(4, 8));
    feed(&store, &chain, 1, 12);
    // Every block verified and counted, the key images of blocks 4..8 only: 4 + 2.
    let c = store.counters().unwrap();
    assert_eq!((c.num_blocks, c.global_txo_count), (12, 24));
    assert_eq!(c.last_block_id, chain[11].header.id);
    assert_eq!(store.load().unwrap().0, 6);

    // A router's own enclave keeps none; a full store keeps all of them (12 + 6).
    let none = ledger(&p, 71, (0, 0));
    let all = ledger(&p, 72, (0, OPEN));
    feed(&none, &chain, 0, 12);
    feed(&all, &chain, 0, 12);
    assert_eq!(none.load().unwrap().0, 0);
    assert_eq!(all.load().unwrap().0, 18);
    assert_eq!(none.counters().unwrap(), all.counters().unwrap());

    // A client asking a store of a range directly is told only what it holds from block 0.
    let mut client = connect(&p, &store);
    let r = ask_single(&store, &mut client, &[bytes(ki(5))]);
    assert_eq!(r.num_blocks, 0);
    let first = ledger(&p, 73, (0, 4));
    feed(&first, &chain, 0, 12);
    let mut client = connect(&p, &first);
    let r = ask_single(&first, &mut client, &[bytes(ki(3)), bytes(ki(5))]);
    assert_eq!(
        (r.num_blocks, r.global_txo_count, r.latest_block_version),
        (4, 8, 2)
    );
    assert_eq!(
        outcomes(&r),
        [(SPENT, 3, timestamp(3)), (NOT_SPENT, u64::MAX, u64::MAX)]
    );
}
