//! Writes the boundary part of the seed corpus of the `enclave_requests` fuzz target: every
//! call of the ingest, view, view router, ledger and ledger router request messages, with real
//! evidence and handshake bytes, each twice: behind the selector byte of the API's decoder
//! (`api-*.bin`: 0 ingest, 1 view, 2 ledger, 7 view router, 8 ledger router) and behind the
//! selector of the target's live boundary of that kind (`live-*.bin`: 9 ingest, 10 view, 11
//! view router, 12 ledger, 13 ledger router). The evidence and handshakes are made with the
//! target's simulated providers (quoting key `[0x1d; 32]`, `fog_identity` of each kind, at
//! the target's `NOW`), so the live enclaves' verifiers accept them. The plaintexts the
//! enclaves read inside a session come from `crates/fog-enclave/examples/fuzz_seeds.rs`.
//!
//! Names: `api-` or `live-`, then the call (`ingest-`, `view-`, `ledger-`, `vrouter-` for the
//! view router, `lrouter-` for the ledger router, `lrouter-ledger-` for the ledger calls the
//! ledger router forwards to its own fog ledger enclave).
//!
//! `cargo run -p fog-enclave-api --example fuzz_seeds -- fuzz/seeds` (from the workspace
//! root) writes `fuzz/seeds/enclave_requests/api-*.bin` and `live-*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_attest::{
    fog_identity, ClientHandshake, FogEnclave, IdentityRule, Policy, ReportData, SimProvider,
    UnixSeconds, Verifier,
};
use fog_enclave_api::ingest::ingest_request;
use fog_enclave_api::ledger::ledger_request;
use fog_enclave_api::ledger_router::{ledger_router_request, LedgerRouterRequest};
use fog_enclave_api::messages::{client, ChannelFrame, ChannelHello, SetEvidence};
use fog_enclave_api::view::view_request;
use fog_enclave_api::view_router::view_router_request;
use fog_enclave_api::{IngestRequest, LedgerRequest, ViewRequest, ViewRouterRequest};
use prost::Message;

/// The target's time.
const NOW: u64 = 1_750_000_000;

/// The selector bytes of one API in the target: its decoder, and its live boundary.
#[derive(Clone, Copy)]
struct Selectors {
    decode: u8,
    live: u8,
}

const INGEST: Selectors = Selectors { decode: 0, live: 9 };
const VIEW: Selectors = Selectors {
    decode: 1,
    live: 10,
};
const LEDGER: Selectors = Selectors {
    decode: 2,
    live: 12,
};
const VIEW_ROUTER: Selectors = Selectors {
    decode: 7,
    live: 11,
};
const LEDGER_ROUTER: Selectors = Selectors {
    decode: 8,
    live: 13,
};

/// `body` behind both selectors: `api-NAME.bin` and `live-NAME.bin`.
fn write(dir: &Path, name: &str, selectors: Selectors, body: &[u8]) {
    for (prefix, selector) in [("api", selectors.decode), ("live", selectors.live)] {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(body);
        std::fs::write(dir.join(format!("{prefix}-{name}.bin")), bytes).expect("write a seed");
    }
}

/// The target's simulated provider of `kind`.
fn provider(kind: FogEnclave) -> SimProvider {
    SimProvider::from_quoting_key(
        fog_attest::ed25519_dalek::SigningKey::from_bytes(&[0x1d; 32]),
        fog_identity(kind),
    )
}

/// Evidence of `kind` for a fresh channel key (not the live enclave's: refused there, as
/// evidence for another key must be), its encoding, a responder holding it, and the verifier
/// of `kind`'s enclaves.
fn attested(kind: FogEnclave) -> (Vec<u8>, fog_attest::EnclaveResponder, Verifier) {
    use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder};
    let provider = provider(kind);
    let keys = ChannelKeypair::generate().expect("channel keys");
    let bound = BoundEvidence {
        evidence: provider
            .evidence_at(&ReportData::bind(keys.public_key(), None), UnixSeconds(NOW)),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let evidence = bound.encode_to_vec();
    let responder = EnclaveResponder::new(keys, bound).expect("a responder");
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(provider.identity().measurement)],
            3600,
        ),
    );
    (evidence, responder, verifier)
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("enclave_requests");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    for (name, call) in ingest_calls() {
        let m = IngestRequest { call: Some(call) };
        write(&dir, name, INGEST, &m.encode_to_vec());
    }
    for (name, call) in view_calls() {
        let m = ViewRequest { call: Some(call) };
        write(&dir, name, VIEW, &m.encode_to_vec());
    }
    for (name, call) in view_router_calls() {
        let m = ViewRouterRequest { call: Some(call) };
        write(&dir, name, VIEW_ROUTER, &m.encode_to_vec());
    }
    for (name, call) in ledger_calls() {
        let m = LedgerRequest { call: Some(call) };
        write(&dir, name, LEDGER, &m.encode_to_vec());
        // The ledger router forwards its own fog ledger enclave's calls.
        let wrapped = LedgerRouterRequest {
            call: Some(ledger_router_request::Call::Ledger(m)),
        };
        let name = format!("lrouter-{name}");
        write(&dir, &name, LEDGER_ROUTER, &wrapped.encode_to_vec());
    }
    for (name, call) in ledger_router_calls() {
        let m = LedgerRouterRequest { call: Some(call) };
        write(&dir, name, LEDGER_ROUTER, &m.encode_to_vec());
    }
}

/// Every call of the ingest enclave, with real handshake, evidence, sealed-key, TxOut and
/// frame bytes.
fn ingest_calls() -> Vec<(&'static str, ingest_request::Call)> {
    use fog_crypto::{crypto_box, RistrettoPrivate};
    use fog_enclave_api::ingest::{
        Create, Empty, IngestBlock, PeerAccept, PeerChannel, PeerFinish, PeerFrame, Restore,
    };
    use fog_transaction::{wire, EncryptedFogHint};
    use ingest_request::Call;

    let mut rng = rand_core::OsRng;
    let (evidence, responder, verifier) = attested(FogEnclave::Ingest);
    let (_, hello) = responder.peer_initiate(verifier).expect("an IX hello");
    let platform = RistrettoPrivate::random(&mut rng);
    let ingress = RistrettoPrivate::random(&mut rng);
    let sealed = crypto_box::encrypt(&mut rng, &platform.public_key(), &ingress.to_bytes()[..]);
    let point = |seed: u8| wire::CompressedRistretto {
        data: RistrettoPrivate::from_bytes_mod_order(&[seed; 32])
            .public_key()
            .to_bytes()
            .to_vec(),
    };
    let tx_outs: Vec<wire::TxOut> = (1..=3u8)
        .map(|i| wire::TxOut {
            masked_amount: Some(wire::MaskedAmountVersion::MaskedAmountV2(
                wire::MaskedAmount {
                    commitment: Some(point(i)),
                    masked_value: 5,
                    masked_token_id: vec![0; 8],
                },
            )),
            target_key: Some(point(i + 10)),
            public_key: Some(point(i + 20)),
            e_fog_hint: Some(wire::EncryptedFogHint {
                data: EncryptedFogHint::fake_onetime_hint(&mut rng).0.to_vec(),
            }),
            e_memo: Some(wire::EncryptedMemo { data: vec![0; 66] }),
        })
        .collect();
    let channel_id = vec![0x33; 64];
    let frame = fog_attest::wire::NonceMessage {
        aad: b"fog-ingest-ingress-key-v1".to_vec(),
        channel_id: channel_id.clone(),
        data: vec![0x44; 48],
        nonce: 0,
    }
    .encode_to_vec();
    vec![
        ("ingest-create", Call::Create(Create { user_capacity: 256 })),
        (
            "ingest-restore",
            Call::Restore(Restore {
                sealed,
                user_capacity: 256,
            }),
        ),
        ("ingest-ingress-key", Call::GetIngressPublicKey(Empty {})),
        ("ingest-kex-rng-pubkey", Call::GetKexRngPubkey(Empty {})),
        ("ingest-map-load", Call::GetMapLoad(Empty {})),
        ("ingest-rotate", Call::Rotate(Empty {})),
        (
            "ingest-block",
            Call::IngestBlock(IngestBlock {
                block_index: 3,
                first_global_index: 10,
                timestamp: NOW,
                tx_outs,
            }),
        ),
        ("ingest-new-ingress-key", Call::NewIngressKey(Empty {})),
        ("ingest-seal", Call::Seal(Empty {})),
        ("ingest-channel-key", Call::GetChannelKey(Empty {})),
        (
            "ingest-set-evidence",
            Call::SetEvidence(SetEvidence { evidence }),
        ),
        ("ingest-peer-initiate", Call::PeerInitiate(Empty {})),
        (
            "ingest-peer-finish",
            Call::PeerFinish(PeerFinish {
                token: 0,
                message: hello.clone(),
                now: NOW,
            }),
        ),
        (
            "ingest-peer-accept",
            Call::PeerAccept(PeerAccept {
                message: hello,
                now: NOW,
            }),
        ),
        (
            "ingest-peer-close",
            Call::PeerClose(PeerChannel {
                channel_id: channel_id.clone(),
                now: 0,
            }),
        ),
        (
            "ingest-send-ingress-key",
            Call::SendIngressKey(PeerChannel {
                channel_id: channel_id.clone(),
                now: NOW,
            }),
        ),
        (
            "ingest-receive-ingress-key",
            Call::ReceiveIngressKey(PeerFrame {
                channel_id,
                frame,
                now: NOW,
            }),
        ),
        ("ingest-run-worker", Call::RunWorker(Empty {})),
        ("ingest-stop-workers", Call::StopWorkers(Empty {})),
        ("ingest-workers", Call::GetWorkers(Empty {})),
    ]
}

/// Every call of the view enclave, with real evidence, handshake, frame, event and record
/// bytes.
fn view_calls() -> Vec<(&'static str, view_request::Call)> {
    use fog_enclave_api::view::{
        AddRecords, AddUserEvents, Auth, BlockMark, Empty, HostCounters, KnownBlocks, LoadBlocks,
        Query, RouterAccept, RouterQuery, RunWorker, UserEvent, UserEventMessage,
    };
    use fog_types::view::{DecommissionedIngestInvocation, QueryRequestAad, RngRecord};
    use view_request::Call;

    let (evidence, responder, verifier) = attested(FogEnclave::View);
    let (_, client_hello) = ClientHandshake::start(verifier.clone()).expect("a client hello");
    let (_, router_hello) = responder.peer_initiate(verifier).expect("an IX hello");
    let channel_id = vec![0x33; 64];
    let frame = fog_attest::wire::NonceMessage {
        aad: QueryRequestAad {
            start_from_user_event_id: 0,
            start_from_block_index: 0,
        }
        .encode_to_vec(),
        channel_id: channel_id.clone(),
        data: vec![0x44; 48],
        nonce: 0,
    };
    let router_frame = fog_attest::wire::NonceMessage {
        aad: b"fog-view-store-query-v1".to_vec(),
        channel_id: channel_id.clone(),
        data: vec![0x55; 64],
        nonce: 0,
    }
    .encode_to_vec();
    let host = Some(HostCounters {
        last_known_block_count: 3,
        last_known_block_cumulative_txo_count: 30,
    });
    let records: Vec<fog_transaction::wire::ETxOutRecord> = (1..=4u8)
        .map(|k| fog_transaction::wire::ETxOutRecord {
            search_key: vec![k; 16],
            payload: vec![k; 40],
        })
        .collect();
    let events = [
        UserEvent::NewRng(RngRecord {
            ingest_invocation_id: 1,
            pubkey: Some(fog_crypto::kex_rng::KexRngPubkey {
                public_key: vec![0x2a; 32],
                version: 0,
            }),
            start_block: 0,
        }),
        UserEvent::Decommission(DecommissionedIngestInvocation {
            ingest_invocation_id: 1,
            last_ingested_block: 2,
        }),
        UserEvent::Missing(fog_types::common::BlockRange::new(3, 5)),
    ]
    .into_iter()
    .map(|e| UserEventMessage { event: Some(e) })
    .collect();
    vec![
        ("view-channel-keys", Call::GetChannelKeys(Empty {})),
        (
            "view-set-evidence",
            Call::SetEvidence(SetEvidence {
                evidence: evidence.clone(),
            }),
        ),
        (
            "view-set-router-evidence",
            Call::SetRouterEvidence(SetEvidence { evidence }),
        ),
        (
            "view-auth",
            Call::Auth(Auth {
                hello: client_hello,
                peer: vec![127, 0, 0, 1],
                now: NOW,
            }),
        ),
        (
            "view-query",
            Call::Query(Query {
                frame: Some(frame),
                host,
                now: NOW,
            }),
        ),
        (
            "view-add-user-events",
            Call::AddUserEvents(AddUserEvents { events }),
        ),
        (
            "view-load-blocks",
            Call::LoadBlocks(LoadBlocks {
                marks: vec![BlockMark {
                    invocation: 1,
                    block_index: 0,
                    timestamp: NOW,
                }],
                records: records.clone(),
            }),
        ),
        (
            "view-add-records",
            Call::AddRecords(AddRecords {
                records,
                parallel: true,
            }),
        ),
        (
            "view-set-known-blocks",
            Call::SetKnownBlocks(KnownBlocks { blocks: 3 }),
        ),
        ("view-status", Call::GetStatus(Empty {})),
        (
            "view-router-accept",
            Call::RouterAccept(RouterAccept {
                hello: router_hello,
                now: NOW,
            }),
        ),
        (
            "view-router-query",
            Call::RouterQuery(RouterQuery {
                channel_id,
                frame: router_frame,
                host,
                now: NOW,
            }),
        ),
        (
            "view-run-worker",
            Call::RunWorker(RunWorker { partition: 1 }),
        ),
        ("view-stop", Call::Stop(Empty {})),
    ]
}

/// Every call of the fog ledger enclave, with real evidence, handshake, block and frame bytes
/// (the ledger router's `Ledger` requests wrap these too).
fn ledger_calls() -> Vec<(&'static str, ledger_request::Call)> {
    use fog_crypto::CompressedRistrettoPublic;
    use fog_enclave_api::ledger::{
        AddBlock, CheckKeyImages, Empty, LedgerAccept, LedgerView, RouterCheck, SealGetOutputs,
    };
    use fog_transaction::block::{Block, BlockContents};
    use fog_transaction::{EncryptedFogHint, TxOut};
    use fog_types::common::BlockRange;
    use fog_types::ledger::{GetOutputsResponse, OutputResult, OutputResultCode, BLOCK_IDS_AAD};
    use ledger_request::Call;

    let (evidence, responder, verifier) = attested(FogEnclave::Ledger);
    let (_, client_hello) = ClientHandshake::start(verifier.clone()).expect("a client hello");
    let (_, router_hello) = responder.peer_initiate(verifier).expect("an IX hello");
    let channel_id = vec![0x33; 64];
    let frame = |aad: &[u8]| ChannelFrame {
        aad: aad.to_vec(),
        channel_id: channel_id.clone(),
        data: vec![0x44; 48],
        nonce: 0,
    };
    let request = |aad: &[u8]| client::ClientRequest {
        frame: Some(frame(aad)),
        now: NOW,
    };
    let ledger = Some(LedgerView {
        ledger_blocks: 3,
        max_blocks_behind: 0,
    });
    // The origin block: two stand-in TxOuts, no key image.
    let contents = BlockContents {
        key_images: Vec::new(),
        outputs: (0..2u8)
            .map(|i| TxOut {
                masked_amount: None,
                target_key: CompressedRistrettoPublic([i; 32]),
                public_key: CompressedRistrettoPublic([i ^ 0x5a; 32]),
                e_fog_hint: EncryptedFogHint::default(),
                e_memo: None,
            })
            .collect(),
    };
    let block = Block::new_origin(&contents);
    let router_frame = fog_attest::wire::NonceMessage {
        aad: b"fog-ledger-key-image-store-v1".to_vec(),
        channel_id: channel_id.clone(),
        data: vec![0x55; 64],
        nonce: 0,
    }
    .encode_to_vec();
    vec![
        ("ledger-channel-key", Call::GetChannelKey(Empty {})),
        (
            "ledger-set-evidence",
            Call::SetEvidence(SetEvidence {
                evidence: evidence.clone(),
            }),
        ),
        (
            "ledger-accept",
            Call::ClientAccept(LedgerAccept {
                hello: Some(ChannelHello { data: client_hello }),
                peer_ip: vec![127, 0, 0, 1],
                now: NOW,
            }),
        ),
        (
            "ledger-check",
            Call::CheckKeyImages(CheckKeyImages {
                request: Some(request(&[])),
                ledger,
            }),
        ),
        ("ledger-block-ids", Call::BlockIds(request(BLOCK_IDS_AAD))),
        (
            "ledger-open-get-outputs",
            Call::OpenGetOutputs(request(&[])),
        ),
        (
            "ledger-seal-get-outputs",
            Call::SealGetOutputs(SealGetOutputs {
                channel_id: channel_id.clone(),
                response: Some(GetOutputsResponse {
                    results: vec![OutputResult {
                        index: 9,
                        result_code: OutputResultCode::DoesNotExist as u32,
                        output: None,
                        proof: None,
                    }],
                    num_blocks: 1,
                    global_txo_count: 2,
                    latest_block_version: 0,
                    max_block_version: 3,
                }),
                now: NOW,
            }),
        ),
        ("ledger-status", Call::GetStatus(Empty {})),
        (
            "ledger-key-image-blocks",
            Call::SetKeyImageBlocks(BlockRange::new(2, u64::MAX)),
        ),
        (
            "ledger-add-block",
            Call::AddBlock(AddBlock {
                block: Some(block.to_wire()),
                contents: Some(contents.to_wire()),
                timestamp: NOW,
            }),
        ),
        ("ledger-router-key", Call::GetRouterChannelKey(Empty {})),
        (
            "ledger-router-evidence",
            Call::SetRouterEvidence(SetEvidence { evidence }),
        ),
        (
            "ledger-router-accept",
            Call::RouterAccept(client::ClientAccept {
                hello: Some(ChannelHello { data: router_hello }),
                now: NOW,
            }),
        ),
        (
            "ledger-router-check",
            Call::RouterCheck(RouterCheck {
                channel_id: channel_id.clone(),
                frame: router_frame,
                ledger,
                now: NOW,
            }),
        ),
    ]
}

/// A client's frame on channel `[0x33; 64]` (not one of the live enclave's sessions).
fn wire_frame(aad: &[u8], fill: u8) -> fog_attest::wire::NonceMessage {
    fog_attest::wire::NonceMessage {
        aad: aad.to_vec(),
        channel_id: vec![0x33; 64],
        data: vec![fill; 48],
        nonce: 0,
    }
}

/// Every call of the view router enclave, with real evidence and handshake bytes; handles
/// name 1, the query the target's live router holds.
fn view_router_calls() -> Vec<(&'static str, view_router_request::Call)> {
    use fog_enclave_api::view::{Auth, Empty};
    use fog_enclave_api::view_router::{
        Finish, OpenQuery, QueryHandle, StoreAnswer, StoreChannel, StoreFinish, StoreRequest,
    };
    use fog_types::view::QueryRequestAad;
    use view_router_request::Call;

    let (evidence, responder, verifier) = attested(FogEnclave::View);
    let (_, client_hello) = ClientHandshake::start(verifier.clone()).expect("a client hello");
    let (_, store_hello) = responder.peer_initiate(verifier).expect("an IX hello");
    let channel_id = vec![0x33; 64];
    let aad = QueryRequestAad {
        start_from_user_event_id: 0,
        start_from_block_index: 0,
    }
    .encode_to_vec();
    let store_frame = wire_frame(b"fog-view-store-query-v1", 0x55).encode_to_vec();
    vec![
        ("vrouter-channel-keys", Call::GetChannelKeys(Empty {})),
        (
            "vrouter-set-evidence",
            Call::SetEvidence(SetEvidence {
                evidence: evidence.clone(),
            }),
        ),
        (
            "vrouter-set-store-evidence",
            Call::SetStoreEvidence(SetEvidence { evidence }),
        ),
        (
            "vrouter-auth",
            Call::Auth(Auth {
                hello: client_hello,
                peer: vec![127, 0, 0, 1],
                now: NOW,
            }),
        ),
        (
            "vrouter-open-query",
            Call::OpenQuery(OpenQuery {
                frame: Some(wire_frame(&aad, 0x44)),
                now: NOW,
            }),
        ),
        ("vrouter-probe", Call::Probe(Empty {})),
        (
            "vrouter-store-request",
            Call::StoreRequest(StoreRequest {
                handle: 1,
                channel_id: channel_id.clone(),
                now: NOW,
            }),
        ),
        (
            "vrouter-finish",
            Call::Finish(Finish {
                handle: 1,
                answers: vec![
                    StoreAnswer {
                        answered: true,
                        channel_id: channel_id.clone(),
                        frame: store_frame,
                    },
                    StoreAnswer::default(),
                ],
                now: NOW,
            }),
        ),
        (
            "vrouter-drop-query",
            Call::DropQuery(QueryHandle { handle: 1 }),
        ),
        ("vrouter-store-initiate", Call::StoreInitiate(Empty {})),
        (
            "vrouter-store-finish",
            Call::StoreFinish(StoreFinish {
                token: 0,
                reply: store_hello,
                now: NOW,
            }),
        ),
        (
            "vrouter-store-close",
            Call::StoreClose(StoreChannel { channel_id }),
        ),
        ("vrouter-status", Call::GetStatus(Empty {})),
    ]
}

/// The ledger router's own calls (its `Ledger` calls are [`ledger_calls`], wrapped), with real
/// evidence and handshake bytes; handles name 1, the check the target's live router holds.
fn ledger_router_calls() -> Vec<(&'static str, ledger_router_request::Call)> {
    use fog_enclave_api::ledger::{CheckKeyImages, Empty, LedgerView};
    use fog_enclave_api::ledger_router::{
        CheckHandle, Finish, StoreAnswer, StoreFinish, StoreRequest,
    };
    use ledger_router_request::Call;

    let (evidence, responder, verifier) = attested(FogEnclave::Ledger);
    let (_, store_hello) = responder.peer_initiate(verifier).expect("an IX hello");
    let channel_id = vec![0x33; 64];
    let store_frame = wire_frame(b"fog-ledger-key-image-store-v1", 0x55).encode_to_vec();
    let frame = wire_frame(&[], 0x44);
    vec![
        ("lrouter-store-key", Call::GetStoreChannelKey(Empty {})),
        (
            "lrouter-set-store-evidence",
            Call::SetStoreEvidence(SetEvidence { evidence }),
        ),
        ("lrouter-store-initiate", Call::StoreInitiate(Empty {})),
        (
            "lrouter-store-finish",
            Call::StoreFinish(StoreFinish {
                token: 0,
                reply: store_hello,
                now: NOW,
            }),
        ),
        (
            "lrouter-store-close",
            Call::StoreClose(client::ClientClose {
                channel_id: channel_id.clone(),
            }),
        ),
        (
            "lrouter-open-check",
            Call::OpenCheck(CheckKeyImages {
                request: Some(client::ClientRequest {
                    frame: Some(ChannelFrame {
                        aad: frame.aad,
                        channel_id: frame.channel_id,
                        data: frame.data,
                        nonce: frame.nonce,
                    }),
                    now: NOW,
                }),
                ledger: Some(LedgerView {
                    ledger_blocks: 3,
                    max_blocks_behind: 0,
                }),
            }),
        ),
        ("lrouter-probe", Call::Probe(Empty {})),
        (
            "lrouter-store-request",
            Call::StoreRequest(StoreRequest {
                handle: 1,
                channel_id: channel_id.clone(),
                now: NOW,
            }),
        ),
        (
            "lrouter-finish",
            Call::Finish(Finish {
                handle: 1,
                answers: vec![
                    StoreAnswer {
                        answered: true,
                        channel_id,
                        frame: store_frame,
                    },
                    StoreAnswer::default(),
                ],
                now: NOW,
            }),
        ),
        ("lrouter-forget", Call::Forget(CheckHandle { handle: 1 })),
        ("lrouter-status", Call::GetRouterStatus(Empty {})),
    ]
}
