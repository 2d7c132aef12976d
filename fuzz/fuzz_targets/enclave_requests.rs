//! The enclave boundary and what the enclaves decode inside an attested session. The first
//! byte picks the decoder:
//! - 0, 1, 2: `fog_enclave_api::decode_request` for the ingest, view and ledger APIs (bytes
//!   from the host); whatever decodes re-encodes to the same request;
//! - 3: a view query: `[aad length][QueryRequestAad][QueryRequest]`, sealed on a live client
//!   session and answered by the view enclave;
//! - 4, 5, 6: a `CheckKeyImagesRequest`, `GetOutputsRequest` or `BlockIdsRequest`, sealed on a
//!   live session of the ledger enclave.
//!
//! The plaintexts come from a client that holds a session, so they are as untrusted as any
//! request: the enclave answers or refuses them, never panics, and stays in step with the
//! client (every answer opens and decodes, one result per item asked). One handshake per
//! enclave for the whole run.
#![no_main]

use std::sync::{Mutex, MutexGuard, OnceLock};

use fog_api::fog_common::BlockRange;
use fog_api::fog_ledger::{
    BlockIdsRequest, BlockIdsResponse, CheckKeyImagesRequest, CheckKeyImagesResponse,
    GetOutputsRequest, GetOutputsResponse, BLOCK_IDS_AAD,
};
use fog_api::fog_view::{QueryRequest, QueryResponse, RngRecord, FIXED_CIPHERTEXT_LENGTH};
use fog_attest::ed25519_dalek::SigningKey;
use fog_attest::{
    fog_identity, BoundEvidence, Channel, ChannelKeypair, ClientHandshake, EnclaveResponder,
    FogEnclave, IdentityRule, PeerKey, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds,
    Verifier,
};
use fog_crypto::kex_rng::KexRngPubkey;
use fog_crypto::CompressedRistrettoPublic;
use fog_enclave::ledger::{LedgerBlock, LedgerEnclave, LedgerView};
use fog_enclave::sessions::ClientSessions;
use fog_enclave::view::ViewStore;
use fog_enclave::view_enclave::{BlockMark, HostCounters, UserEvent, ViewEnclave};
use fog_enclave_api::{decode_request, EnclaveApi, IngestApi, LedgerApi, ViewApi};
use fog_oram::HeapFactory;
use fog_transaction::block::{Block, BlockContents};
use fog_transaction::membership::{Range, TxOutMembershipElement};
use fog_transaction::wire::ETxOutRecord;
use fog_transaction::{EncryptedFogHint, KeyImage, TxOut};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

/// Sessions that neither expire nor idle out during a run.
const LIMITS: SessionLimits = SessionLimits {
    max_age_secs: u64::MAX / 2,
    idle_secs: u64::MAX / 2,
};

/// The responder of one kind of enclave and the verifier a client checks it with.
fn attested(kind: FogEnclave) -> (EnclaveResponder, Verifier) {
    let identity = fog_identity(kind);
    let provider = SimProvider::from_quoting_key(SigningKey::from_bytes(&[0x1d; 32]), identity);
    let keys = ChannelKeypair::generate().expect("channel keys");
    let bound = BoundEvidence {
        evidence: provider.evidence_at(&ReportData::bind(keys.public_key(), None), NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let responder = EnclaveResponder::new(keys, bound).expect("responder");
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (responder, verifier)
}

/// A client session: the hello goes through `accept`, the answer finishes the handshake.
fn connect(verifier: Verifier, accept: impl FnOnce(&[u8]) -> Vec<u8>) -> Channel {
    let (hs, hello) = ClientHandshake::start(verifier).expect("hello");
    hs.finish(&accept(&hello), NOW, LIMITS).expect("handshake")
}

type View = ViewEnclave<HeapFactory, ChaCha20Rng>;
type Ledger = LedgerEnclave<HeapFactory, ChaCha20Rng>;

/// The view enclave, with two partitions, two user events and one block of eight records
/// (search keys `[1; 16]` to `[8; 16]`), and a client session on it.
fn view() -> MutexGuard<'static, (View, Channel)> {
    static V: OnceLock<Mutex<(View, Channel)>> = OnceLock::new();
    V.get_or_init(|| {
        let (responder, verifier) = attested(FogEnclave::View);
        let parts = (0..2)
            .map(|i| {
                ViewStore::new(1 << 8, HeapFactory, ChaCha20Rng::seed_from_u64(i)).expect("store")
            })
            .collect();
        let mut view = View::new(
            responder,
            16,
            LIMITS,
            parts,
            &mut ChaCha20Rng::seed_from_u64(7),
        )
        .expect("view enclave");
        // Two events a page, so a query from event 0 is answered in part.
        view.set_events_page(2);
        view.add_user_events(&[
            UserEvent::NewRng(RngRecord {
                ingest_invocation_id: 1,
                pubkey: Some(KexRngPubkey {
                    public_key: vec![0x2a; 32],
                    version: 0,
                }),
                start_block: 0,
            }),
            UserEvent::Missing(BlockRange::new(3, 5)),
            UserEvent::Missing(BlockRange::new(7, 9)),
        ])
        .expect("events");
        let records: Vec<ETxOutRecord> = (1..=8u8)
            .map(|k| ETxOutRecord {
                search_key: vec![k; 16],
                payload: vec![k; 40 + usize::from(k)],
            })
            .collect();
        let mark = BlockMark {
            invocation: 1,
            block_index: 0,
            timestamp: NOW.0,
        };
        view.load_blocks(&[mark], &records).expect("block");
        let client = connect(verifier, |hello| {
            view.auth(hello, PeerKey::UNKNOWN, NOW).expect("auth")
        });
        Mutex::new((view, client))
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// A block of the ledger enclave's chain: two stand-in TxOuts spending `key_images`.
fn next_block(ledger: &Ledger, index: u64, key_images: Vec<KeyImage>) -> (Block, BlockContents) {
    let c = ledger.counters().expect("counters");
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
        key_images,
        outputs,
    };
    let root = TxOutMembershipElement {
        range: Range { from: 0, to: 0 },
        hash: [3; 32],
    };
    let header = Block::new(
        3,
        c.last_block_id,
        index,
        c.global_txo_count + 2,
        root,
        &contents,
    );
    (header, contents)
}

/// The ledger enclave, with three blocks spending key images `[0x40; 32]` to `[0x45; 32]`,
/// and a client session on it.
fn ledger() -> MutexGuard<'static, (Ledger, Channel)> {
    static L: OnceLock<Mutex<(Ledger, Channel)>> = OnceLock::new();
    L.get_or_init(|| {
        let (responder, verifier) = attested(FogEnclave::Ledger);
        let sessions = ClientSessions::new(responder, 16, LIMITS);
        let ledger = Ledger::new(sessions, 1 << 8, HeapFactory, ChaCha20Rng::seed_from_u64(3))
            .expect("ledger enclave");
        for index in 0..3u64 {
            let spent = if index == 0 {
                Vec::new()
            } else {
                (0..3u8)
                    .map(|i| KeyImage([0x40 + (index as u8 - 1) * 3 + i; 32]))
                    .collect()
            };
            let (header, contents) = next_block(&ledger, index, spent);
            ledger
                .add_block(&LedgerBlock {
                    block: &header,
                    contents: &contents,
                    timestamp: NOW.0 + index,
                })
                .expect("block");
        }
        let client = connect(verifier, |hello| {
            ledger.accept(hello, PeerKey::UNKNOWN, NOW).expect("auth")
        });
        Mutex::new((ledger, client))
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

const LEDGER_VIEW: LedgerView = LedgerView {
    ledger_blocks: 3,
    max_blocks_behind: 0,
};

fn boundary<A: EnclaveApi>(bytes: &[u8])
where
    A::Request: PartialEq + core::fmt::Debug,
{
    if let Ok(request) = decode_request::<A>(bytes) {
        let again = decode_request::<A>(&request.encode_to_vec());
        assert_eq!(again, Ok(request));
    }
}

fn view_query(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (aad, body) = rest.split_at(n);
    let mut guard = view();
    let (view, client) = &mut *guard;
    let frame = client.seal(aad, body, NOW).expect("seal");
    let host = HostCounters {
        last_known_block_count: 1,
        last_known_block_cumulative_txo_count: 8,
    };
    // Refused (malformed, too many keys) or answered; an answer opens and holds a result for
    // every key asked, each with a ciphertext of the fixed size.
    let Ok(answer) = view.query(&frame, host, NOW) else {
        return;
    };
    let plain = client.open(&answer, NOW).expect("the answer opens");
    let response = QueryResponse::decode(plain.as_slice()).expect("the answer decodes");
    let asked = QueryRequest::decode(body).expect("an answered query decodes");
    let results = &response.fixed_tx_out_search_results;
    assert!(results.len() >= asked.get_txos.len().max(1));
    for r in results {
        assert_eq!(r.ciphertext.len(), FIXED_CIPHERTEXT_LENGTH);
        assert!(r.payload().is_some());
    }
    for key in asked.get_txos.iter().filter(|k| k.len() == 16) {
        assert!(
            results.iter().any(|r| &r.search_key == key),
            "a key went unanswered"
        );
    }
}

fn ledger_call(which: u8, body: &[u8]) {
    let mut guard = ledger();
    let (ledger, client) = &mut *guard;
    match which {
        4 => {
            let frame = client.seal(&[], body, NOW).expect("seal");
            let Ok(outcome) = ledger.check_key_images(&frame, LEDGER_VIEW, NOW) else {
                return;
            };
            let plain = client
                .open(&outcome.response, NOW)
                .expect("the answer opens");
            let response =
                CheckKeyImagesResponse::decode(plain.as_slice()).expect("the answer decodes");
            let asked = CheckKeyImagesRequest::decode(body).expect("an answered request decodes");
            assert_eq!(response.results.len(), asked.queries.len());
            assert_eq!(outcome.key_images, asked.queries.len());
            for (q, r) in asked.queries.iter().zip(&response.results) {
                let asked_bytes = q.key_image.as_ref().map_or(&[][..], |k| k.data.as_slice());
                let echoed = r.key_image.as_ref().map_or(&[][..], |k| k.data.as_slice());
                assert_eq!(asked_bytes, echoed, "results out of order");
            }
        }
        5 => {
            let frame = client.seal(&[], body, NOW).expect("seal");
            let Ok((channel_id, request)) = ledger.open_get_outputs(&frame, NOW) else {
                return;
            };
            assert_eq!(
                GetOutputsRequest::decode(body).ok().as_ref(),
                Some(&request)
            );
            // The host answers (here with nothing); the client reads the sealed answer.
            let sealed = ledger
                .seal_get_outputs(&channel_id, &GetOutputsResponse::default(), NOW)
                .expect("an opened request is answered");
            client.open(&sealed, NOW).expect("the answer opens");
        }
        _ => {
            let frame = client.seal(BLOCK_IDS_AAD, body, NOW).expect("seal");
            let Ok(answer) = ledger.block_ids(&frame, NOW) else {
                return;
            };
            let plain = client.open(&answer, NOW).expect("the answer opens");
            let response = BlockIdsResponse::decode(plain.as_slice()).expect("the answer decodes");
            let asked = BlockIdsRequest::decode(body).expect("an answered request decodes");
            assert_eq!(response.ids.len(), asked.indices.len());
            assert_eq!(response.num_blocks, 3);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => boundary::<IngestApi>(rest),
        1 => boundary::<ViewApi>(rest),
        2 => boundary::<LedgerApi>(rest),
        3 => view_query(rest),
        w => ledger_call(w, rest),
    }
});
