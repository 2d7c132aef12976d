//! The enclave boundary and what the enclaves decode inside an attested session. The first
//! byte picks the decoder:
//! - 0, 1, 2: `fog_enclave_api::decode_request` for the ingest, view and ledger APIs (bytes
//!   from the host); whatever decodes re-encodes to the same request;
//! - 3: a view query: `[aad length][QueryRequestAad][QueryRequest]`, sealed on a live client
//!   session and answered by the view enclave;
//! - 4, 5, 6: a `CheckKeyImagesRequest`, `GetOutputsRequest` or `BlockIdsRequest`, sealed on a
//!   live session of the ledger enclave;
//! - 7, 8: `decode_request` for the view router and ledger router APIs, the same round trip;
//! - 9 to 13: the bytes as a whole request to `Enclave::call` of a live boundary
//!   (`fog_enclave::boundary`): 9 the ingest enclave (its ingress key created, its peer
//!   evidence installed), 10 the view enclave (attested, two partitions with their workers
//!   running on lent threads, two user events and one block loaded, a client session), 11 the
//!   view router (attested, a client session, a query held), 12 the fog ledger enclave (client
//!   and router evidence, three blocks, a client session), 13 the ledger router (both
//!   evidences, three blocks in its own ledger enclave, a client session, a check held).
//!
//! The plaintexts come from a client that holds a session, so they are as untrusted as any
//! request: the enclave answers or refuses them, never panics, and stays in step with the
//! client (every answer opens and decodes, one result per item asked). One handshake per
//! enclave for the whole run.
//!
//! The live boundaries get bytes from the host, untrusted too: no input makes them panic; bytes
//! that do not decode as the API's request answer `Err(EnclaveError::Malformed)`; a
//! `Malformed` answer (to bytes that do not decode, or to a request with a field of the wrong
//! shape) leaves everything the host can read unchanged (each boundary's own status calls:
//! ingest `GetMapLoad`, `GetIngressPublicKey`, `GetKexRngPubkey`, `GetChannelKey`; view and
//! view router `GetStatus`, `GetChannelKeys`; ledger `GetStatus` and both channel keys; ledger
//! router `GetRouterStatus`, its own enclave's `GetStatus` and both channel keys); every `Ok`
//! answer decodes as the API's response and names an answer; no input gets
//! `EnclaveError::Internal` (a bug by its definition). Each boundary lives in a
//! `OnceLock<Mutex<..>>` for the whole run, so what one input changes legitimately (a new
//! ingress key, a block, a session, the enclave's clock, which never goes back) the next input
//! meets. A query or check an input opened on a router is dropped right after (`DropQuery`,
//! `Forget`, which must answer `Done`: the handle given is held), as the host drops one it no
//! longer waits for, so the routers' tables keep only the entry from set-up (handle 1, which
//! the seeds name) and never fill. Two kinds of call need care, decided on the decoded request
//! before calling:
//! - calls that would block: the view's `RunWorker` returns only when the enclave stops, but
//!   the live view's partitions already have their workers (lent at set-up, as
//!   `fog_view_server` lends them), so a fuzzed `RunWorker` is refused at once (a partition
//!   has one worker) and is called as is; the ingest enclave's `RunWorker` returns only after
//!   `StopWorkers`, so the live ingest enclave gets one thread at set-up (as the ingest server
//!   lends it) and a fuzzed `RunWorker` is called only once a fuzzed `StopWorkers` stopped the
//!   workers (it then returns at once), and skipped before;
//! - calls that destroy the instance: the view's `Stop` is called, must answer `Done`, the
//!   lent threads must return and every later call answer `NotInitialized`; then the view is
//!   made again (this re-creation is the only one). The ingest enclave's `Create` and `Restore`
//!   replace its keys but leave it live; they are called, except those asking for an RNG store
//!   above `MAX_FUZZ_USER_CAPACITY` entries (valid up to 2^28, but gigabytes of memory a run),
//!   which are skipped. Nothing else blocks or destroys an enclave.
#![no_main]

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

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
use fog_enclave::boundary::ingest::IngestBoundary;
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig, PeerLinks};
use fog_enclave::boundary::ledger_router::{LedgerRouterBoundary, LedgerRouterConfig};
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave::boundary::view_router::ViewRouterBoundary;
use fog_enclave::ledger::{LedgerBlock, LedgerEnclave, LedgerView};
use fog_enclave::sealing::SealingKeyProvider;
use fog_enclave::sessions::ClientSessions;
use fog_enclave::view::ViewStore;
use fog_enclave::view_enclave::{BlockMark, HostCounters, UserEvent, ViewEnclave};
use fog_enclave_api::ingest::{ingest_request, IngestClient};
use fog_enclave_api::ledger::{ledger_request, LedgerClient};
use fog_enclave_api::ledger_router::{
    ledger_router_request, ledger_router_response, LedgerRouterApi, LedgerRouterClient,
    LedgerRouterRequest, LedgerRouterResponse, PendingCheck,
};
use fog_enclave_api::view::{view_request, view_response, ViewClient, ViewEnclaveConfig};
use fog_enclave_api::view_router::{
    view_router_request, view_router_response, PendingQuery, ViewRouterClient, ViewRouterConfig,
    DEFAULT_MAX_PENDING_QUERIES,
};
use fog_enclave_api::{
    decode_request, Enclave, EnclaveApi, EnclaveError, IngestApi, IngestRequest, IngestResponse,
    LedgerApi, LedgerRequest, LedgerResponse, SharedEnclave, ViewApi, ViewRequest, ViewResponse,
    ViewRouterApi, ViewRouterRequest, ViewRouterResponse,
};
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

// --- the boundaries, live ------------------------------------------------------------------

/// The largest RNG store a fuzzed ingest `Create` or `Restore` may ask for; larger ones are
/// skipped (see the header).
const MAX_FUZZ_USER_CAPACITY: u64 = 1 << 10;

/// The partitions of the live view: two, so that it has partition workers.
const VIEW_PARTITIONS: usize = 2;

/// The simulated provider of one kind of enclave, its clock at `NOW`: the quoting key and
/// identities the committed seeds' evidence and handshakes were made with.
fn sim(kind: FogEnclave) -> SimProvider {
    SimProvider::from_quoting_key(SigningKey::from_bytes(&[0x1d; 32]), fog_identity(kind))
        .with_clock(|| NOW)
}

fn verifier_of(kind: FogEnclave) -> Verifier {
    let identity = fog_identity(kind);
    Verifier::new(
        sim(kind).trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    )
}

/// Evidence from `kind`'s provider for a key an enclave made.
fn bind(kind: FogEnclave, key: &[u8; 32]) -> BoundEvidence {
    BoundEvidence::bind(&sim(kind), key, None).expect("evidence")
}

/// What the host can read of an enclave: each of `reads` (encoded requests) answered.
fn snapshot(enclave: &dyn Enclave, reads: &[Vec<u8>]) -> Vec<Result<Vec<u8>, EnclaveError>> {
    reads.iter().map(|r| enclave.call(r)).collect()
}

/// Hands `bytes` to `enclave` and checks the answer (see the header); `answered` says whether a
/// response names an answer. The outcome, for the checks of a particular call.
fn live_call<A: EnclaveApi>(
    enclave: &dyn Enclave,
    bytes: &[u8],
    reads: &[Vec<u8>],
    answered: fn(&A::Response) -> bool,
) -> Result<A::Response, EnclaveError> {
    let decodes = decode_request::<A>(bytes).is_ok();
    let before = snapshot(enclave, reads);
    let outcome = enclave.call(bytes);
    assert_ne!(
        outcome,
        Err(EnclaveError::Internal),
        "an internal error is a bug"
    );
    if !decodes {
        assert_eq!(
            outcome,
            Err(EnclaveError::Malformed),
            "bytes that do not decode"
        );
    }
    if outcome == Err(EnclaveError::Malformed) {
        assert_eq!(
            snapshot(enclave, reads),
            before,
            "a malformed request changed the enclave"
        );
    }
    outcome.map(|answer| {
        let response =
            A::Response::decode(answer.as_slice()).expect("an answer decodes as the response");
        assert!(answered(&response), "an answer names what it answers");
        response
    })
}

fn encoded(m: impl prost::Message) -> Vec<u8> {
    m.encode_to_vec()
}

// The ingest enclave.

struct LiveIngest {
    enclave: SharedEnclave,
    reads: Vec<Vec<u8>>,
}

/// An ingest enclave loaded with a fixed simulated sealing key and the verifier of its peers,
/// its ingress key created (an RNG store of 256), its peer evidence installed.
fn live_ingest() -> MutexGuard<'static, LiveIngest> {
    static I: OnceLock<Mutex<LiveIngest>> = OnceLock::new();
    I.get_or_init(|| {
        let sealing = SealingKeyProvider::simulated_generate(&mut ChaCha20Rng::seed_from_u64(9)).0;
        let enclave: SharedEnclave = Arc::new(
            IngestBoundary::new(sealing, Some(verifier_of(FogEnclave::Ingest)))
                .expect("ingest enclave"),
        );
        let client = IngestClient::new(enclave.clone());
        client.create(256).expect("an ingress key");
        // One lent thread, for the life of the run (a fuzzed `StopWorkers` sends it home).
        let lent = client.clone();
        std::thread::spawn(move || lent.run_worker());
        let key = client.channel_key().expect("a channel key");
        client
            .set_evidence(&bind(FogEnclave::Ingest, &key))
            .expect("peer evidence");
        use ingest_request::Call;
        let empty = fog_enclave_api::ingest::Empty {};
        let reads = [
            Call::GetMapLoad(empty),
            Call::GetIngressPublicKey(empty),
            Call::GetKexRngPubkey(empty),
            Call::GetChannelKey(empty),
        ]
        .into_iter()
        .map(|c| encoded(IngestRequest { call: Some(c) }))
        .collect();
        Mutex::new(LiveIngest { enclave, reads })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn ingest_live(bytes: &[u8]) {
    use ingest_request::Call;
    if let Ok(IngestRequest {
        call:
            Some(
                Call::Create(fog_enclave_api::ingest::Create { user_capacity })
                | Call::Restore(fog_enclave_api::ingest::Restore { user_capacity, .. }),
            ),
    }) = decode_request::<IngestApi>(bytes)
    {
        if user_capacity > MAX_FUZZ_USER_CAPACITY {
            return;
        }
    }
    let live = live_ingest();
    if let Ok(IngestRequest {
        call: Some(Call::RunWorker(_)),
    }) = decode_request::<IngestApi>(bytes)
    {
        let stopped = IngestClient::new(live.enclave.clone())
            .workers()
            .map_or(false, |w| w.stopped);
        if !stopped {
            return;
        }
    }
    let _ = live_call::<IngestApi>(&*live.enclave, bytes, &live.reads, |r: &IngestResponse| {
        r.answer.is_some()
    });
}

// The view enclave.

struct LiveView {
    enclave: SharedEnclave,
    /// The threads lent to the partition workers.
    workers: Vec<JoinHandle<Result<(), fog_enclave_api::errors::ViewError>>>,
    reads: Vec<Vec<u8>>,
}

fn view_reads() -> Vec<Vec<u8>> {
    use view_request::Call;
    let empty = fog_enclave_api::view::Empty {};
    [Call::GetStatus(empty), Call::GetChannelKeys(empty)]
        .into_iter()
        .map(|c| encoded(ViewRequest { call: Some(c) }))
        .collect()
}

/// A view enclave as `fog_view_server` runs it: attested (clients and routers), a thread lent
/// to each partition's worker, two user events and block 0 with records `[1; 16]` to
/// `[8; 16]`, and a client session.
fn make_live_view() -> LiveView {
    let config = ViewEnclaveConfig {
        partitions: VIEW_PARTITIONS,
        capacity_per_partition: 1 << 8,
        session_capacity: 16,
        session_limits: LIMITS,
        store_session_limits: LIMITS,
        blocks: fog_api::fog_view::ALL_BLOCKS,
    };
    let enclave: SharedEnclave = Arc::new(
        ViewBoundary::new(&config, Some(verifier_of(FogEnclave::View))).expect("view enclave"),
    );
    let client = ViewClient::new(enclave.clone());
    client.attest(&sim(FogEnclave::View)).expect("attested");
    let workers = (0..VIEW_PARTITIONS)
        .map(|p| {
            let c = client.clone();
            std::thread::spawn(move || c.run_worker(p))
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !client.status().expect("status").workers_ready {
        assert!(
            std::time::Instant::now() < deadline,
            "the workers never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    client
        .add_user_events(vec![
            fog_enclave_api::view::UserEvent::NewRng(RngRecord {
                ingest_invocation_id: 1,
                pubkey: Some(KexRngPubkey {
                    public_key: vec![0x2a; 32],
                    version: 0,
                }),
                start_block: 0,
            }),
            fog_enclave_api::view::UserEvent::Missing(BlockRange::new(3, 5)),
        ])
        .expect("events");
    let records = (1..=8u8)
        .map(|k| ETxOutRecord {
            search_key: vec![k; 16],
            payload: vec![k; 40 + usize::from(k)],
        })
        .collect();
    let mark = fog_enclave_api::view::BlockMark {
        invocation: 1,
        block_index: 0,
        timestamp: NOW.0,
    };
    client.load_blocks(vec![mark], records).expect("block 0");
    let (hs, hello) = ClientHandshake::start(verifier_of(FogEnclave::View)).expect("hello");
    let answer = client.auth(&hello, None, NOW).expect("auth");
    hs.finish(&answer, NOW, LIMITS).expect("handshake");
    LiveView {
        enclave,
        workers,
        reads: view_reads(),
    }
}

fn live_view() -> MutexGuard<'static, LiveView> {
    static V: OnceLock<Mutex<LiveView>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(make_live_view()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn view_live(bytes: &[u8]) {
    let stop = matches!(
        decode_request::<ViewApi>(bytes),
        Ok(ViewRequest {
            call: Some(view_request::Call::Stop(_))
        })
    );
    let mut live = live_view();
    let outcome = live_call::<ViewApi>(&*live.enclave, bytes, &live.reads, |r: &ViewResponse| {
        r.answer.is_some()
    });
    if !stop {
        return;
    }
    // `Stop`: done, the lent threads return, every call answers `NotInitialized`; then a new
    // view.
    assert!(
        matches!(
            outcome,
            Ok(ViewResponse {
                answer: Some(view_response::Answer::Done(_))
            })
        ),
        "{outcome:?}"
    );
    for w in live.workers.drain(..) {
        assert_eq!(w.join().expect("a worker"), Ok(()));
    }
    for read in &live.reads {
        assert_eq!(live.enclave.call(read), Err(EnclaveError::NotInitialized));
    }
    *live = make_live_view();
}

// The view router enclave.

struct LiveViewRouter {
    enclave: SharedEnclave,
    /// A query held since set-up (handle 1), until an input finishes or drops it.
    _held: PendingQuery,
    reads: Vec<Vec<u8>>,
}

/// A view router, attested (clients and stores), with a client session and a held query.
fn live_view_router() -> MutexGuard<'static, LiveViewRouter> {
    static R: OnceLock<Mutex<LiveViewRouter>> = OnceLock::new();
    R.get_or_init(|| {
        let config = ViewRouterConfig {
            session_capacity: 16,
            session_limits: LIMITS,
            store_session_limits: LIMITS,
            max_pending_queries: DEFAULT_MAX_PENDING_QUERIES,
        };
        let enclave: SharedEnclave = Arc::new(
            ViewRouterBoundary::new(&config, verifier_of(FogEnclave::View))
                .expect("view router enclave"),
        );
        let client = ViewRouterClient::new(enclave.clone());
        client.attest(&sim(FogEnclave::View)).expect("attested");
        let (hs, hello) = ClientHandshake::start(verifier_of(FogEnclave::View)).expect("hello");
        let answer = client.auth(&hello, None, NOW).expect("auth");
        hs.finish(&answer, NOW, LIMITS).expect("handshake");
        let held = client.probe().expect("a held query");
        use view_router_request::Call;
        let empty = fog_enclave_api::view::Empty {};
        let reads = [Call::GetStatus(empty), Call::GetChannelKeys(empty)]
            .into_iter()
            .map(|c| encoded(ViewRouterRequest { call: Some(c) }))
            .collect();
        Mutex::new(LiveViewRouter {
            enclave,
            _held: held,
            reads,
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn view_router_live(bytes: &[u8]) {
    let live = live_view_router();
    let outcome = live_call::<ViewRouterApi>(
        &*live.enclave,
        bytes,
        &live.reads,
        |r: &ViewRouterResponse| r.answer.is_some(),
    );
    // A query the input opened is dropped at once, as the host drops one it no longer
    // waits for: the table of held queries keeps only the one from set-up.
    if let Ok(ViewRouterResponse {
        answer: Some(view_router_response::Answer::Opened(o)),
    }) = outcome
    {
        let drop = ViewRouterRequest {
            call: Some(view_router_request::Call::DropQuery(
                fog_enclave_api::view_router::QueryHandle { handle: o.handle },
            )),
        };
        let answer = live.enclave.call(&drop.encode_to_vec()).expect("a drop");
        assert!(
            matches!(
                ViewRouterResponse::decode(answer.as_slice()),
                Ok(ViewRouterResponse {
                    answer: Some(view_router_response::Answer::Done(_))
                })
            ),
            "the handle an opened query got is held"
        );
    }
}

// The fog ledger enclave, and the ledger router's own.

/// Blocks `0..3` of a chain, block `b` spending key images `[0x40 + 3(b - 1) + i; 32]`
/// (none in the origin), two stand-in TxOuts a block.
fn chain() -> Vec<(Block, BlockContents, u64)> {
    let mut blocks: Vec<(Block, BlockContents, u64)> = Vec::new();
    for index in 0..3u64 {
        let key_images = if index == 0 {
            Vec::new()
        } else {
            (0..3u8)
                .map(|i| KeyImage([0x40 + (index as u8 - 1) * 3 + i; 32]))
                .collect()
        };
        let contents = BlockContents {
            key_images,
            outputs: (0..2u8)
                .map(|i| TxOut {
                    masked_amount: None,
                    target_key: CompressedRistrettoPublic([i; 32]),
                    public_key: CompressedRistrettoPublic([index as u8 ^ 0x5a ^ (i << 4); 32]),
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
        blocks.push((header, contents, NOW.0 + index));
    }
    blocks
}

/// Feeds [`chain`] to `ledger` and opens a client session on it.
fn feed_and_connect(ledger: &LedgerClient) {
    for (header, contents, timestamp) in chain() {
        ledger
            .add_block(&header, &contents, timestamp)
            .expect("a block");
    }
    let (hs, hello) = ClientHandshake::start(verifier_of(FogEnclave::Ledger)).expect("hello");
    let answer = ledger.accept(&hello, None, NOW).expect("accept");
    hs.finish(&answer, NOW, LIMITS).expect("handshake");
}

fn ledger_read(call: ledger_request::Call) -> LedgerRequest {
    LedgerRequest { call: Some(call) }
}

struct LiveLedger {
    enclave: SharedEnclave,
    reads: Vec<Vec<u8>>,
}

/// A fog ledger enclave taking routers, started with its client and router evidence, with
/// three blocks and a client session.
fn live_ledger() -> MutexGuard<'static, LiveLedger> {
    static L: OnceLock<Mutex<LiveLedger>> = OnceLock::new();
    L.get_or_init(|| {
        let config = LedgerConfig {
            key_image_capacity: 1 << 8,
            session_capacity: 16,
            session_limits: LIMITS,
            routers: Some(PeerLinks::new(verifier_of(FogEnclave::Ledger), LIMITS)),
        };
        let enclave: SharedEnclave = Arc::new(LedgerBoundary::new(config).expect("ledger enclave"));
        let client = LedgerClient::new(enclave.clone());
        let key = client.channel_key().expect("a channel key");
        client
            .set_evidence(&bind(FogEnclave::Ledger, &key))
            .expect("client evidence");
        let key = client.router_channel_key().expect("a router key");
        client
            .set_router_evidence(&bind(FogEnclave::Ledger, &key))
            .expect("router evidence");
        feed_and_connect(&client);
        use ledger_request::Call;
        let empty = fog_enclave_api::ledger::Empty {};
        let reads = [
            Call::GetStatus(empty),
            Call::GetChannelKey(empty),
            Call::GetRouterChannelKey(empty),
        ]
        .into_iter()
        .map(|c| encoded(ledger_read(c)))
        .collect();
        Mutex::new(LiveLedger { enclave, reads })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn ledger_live(bytes: &[u8]) {
    let live = live_ledger();
    let _ = live_call::<LedgerApi>(&*live.enclave, bytes, &live.reads, |r: &LedgerResponse| {
        r.answer.is_some()
    });
}

// The ledger router enclave.

struct LiveLedgerRouter {
    enclave: SharedEnclave,
    /// A check open since set-up (handle 1), until an input finishes or forgets it.
    _open: PendingCheck,
    reads: Vec<Vec<u8>>,
}

/// A ledger router, started with both evidences, three blocks in its own fog ledger enclave,
/// a client session and an open check.
fn live_ledger_router() -> MutexGuard<'static, LiveLedgerRouter> {
    static R: OnceLock<Mutex<LiveLedgerRouter>> = OnceLock::new();
    R.get_or_init(|| {
        let config = LedgerRouterConfig {
            session_capacity: 16,
            session_limits: LIMITS,
            ..LedgerRouterConfig::new(PeerLinks::new(verifier_of(FogEnclave::Ledger), LIMITS))
        };
        let enclave: SharedEnclave =
            Arc::new(LedgerRouterBoundary::new(config).expect("ledger router enclave"));
        let router = LedgerRouterClient::new(enclave.clone());
        let ledger = router.ledger();
        let key = ledger.channel_key().expect("a channel key");
        ledger
            .set_evidence(&bind(FogEnclave::Ledger, &key))
            .expect("client evidence");
        let key = router.store_channel_key().expect("a store key");
        router
            .set_store_evidence(&bind(FogEnclave::Ledger, &key))
            .expect("store evidence");
        feed_and_connect(&ledger);
        let open = router.probe().expect("an open check");
        use ledger_router_request::Call;
        let empty = fog_enclave_api::ledger::Empty {};
        let reads = [
            Call::GetRouterStatus(empty),
            Call::Ledger(ledger_read(ledger_request::Call::GetStatus(empty))),
            Call::Ledger(ledger_read(ledger_request::Call::GetChannelKey(empty))),
            Call::GetStoreChannelKey(empty),
        ]
        .into_iter()
        .map(|c| encoded(LedgerRouterRequest { call: Some(c) }))
        .collect();
        Mutex::new(LiveLedgerRouter {
            enclave,
            _open: open,
            reads,
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn ledger_router_live(bytes: &[u8]) {
    let live = live_ledger_router();
    let outcome = live_call::<LedgerRouterApi>(
        &*live.enclave,
        bytes,
        &live.reads,
        |r: &LedgerRouterResponse| r.answer.is_some(),
    );
    // A check the input opened is forgotten at once, as the host forgets one it no longer
    // waits for: the table of open checks keeps only the one from set-up.
    if let Ok(LedgerRouterResponse {
        answer: Some(ledger_router_response::Answer::Check(c)),
    }) = outcome
    {
        let forget = LedgerRouterRequest {
            call: Some(ledger_router_request::Call::Forget(
                fog_enclave_api::ledger_router::CheckHandle { handle: c.handle },
            )),
        };
        let answer = live
            .enclave
            .call(&forget.encode_to_vec())
            .expect("a forget");
        assert!(
            matches!(
                LedgerRouterResponse::decode(answer.as_slice()),
                Ok(LedgerRouterResponse {
                    answer: Some(ledger_router_response::Answer::Done(_))
                })
            ),
            "the handle an opened check got is open"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 14 {
        0 => boundary::<IngestApi>(rest),
        1 => boundary::<ViewApi>(rest),
        2 => boundary::<LedgerApi>(rest),
        3 => view_query(rest),
        w @ 4..=6 => ledger_call(w, rest),
        7 => boundary::<ViewRouterApi>(rest),
        8 => boundary::<LedgerRouterApi>(rest),
        9 => ingest_live(rest),
        10 => view_live(rest),
        11 => view_router_live(rest),
        12 => ledger_live(rest),
        _ => ledger_router_live(rest),
    }
});
