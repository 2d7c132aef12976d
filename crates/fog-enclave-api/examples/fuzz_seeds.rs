//! Writes the boundary part of the seed corpus of the `enclave_requests` fuzz target: every
//! call of the ingest, view and ledger request messages, with real evidence and handshake
//! bytes, behind the target's selector byte (0 ingest, 1 view, 2 ledger). The plaintexts the
//! enclaves read inside a session come from `crates/fog-enclave/examples/fuzz_seeds.rs`.
//!
//! `cargo run -p fog-enclave-api --example fuzz_seeds -- fuzz/seeds` (from the workspace
//! root) writes `fuzz/seeds/enclave_requests/api-*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_attest::{
    ClientHandshake, ConfigId, EnclaveIdentity, IdentityRule, Measurement, Policy, ReportData,
    SignerId, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave_api::ingest::ingest_request;
use fog_enclave_api::ledger::ledger_request;
use fog_enclave_api::messages::{client, ChannelFrame, ChannelHello, SetEvidence};
use fog_enclave_api::view::view_request;
use fog_enclave_api::{IngestRequest, LedgerRequest, ViewRequest};
use prost::Message;

const NOW: u64 = 1_750_000_000;

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("api-{name}.bin")), bytes).expect("write a seed");
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("enclave_requests");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    let identity = EnclaveIdentity {
        measurement: Measurement([1; 32]),
        signer_id: SignerId([2; 32]),
        product_id: 1,
        security_version: 1,
        config_id: ConfigId([0; 64]),
    };
    let provider = SimProvider::from_quoting_key(
        fog_attest::ed25519_dalek::SigningKey::from_bytes(&[0x1d; 32]),
        identity,
    );
    ingest_seeds(&dir, &provider);
    view_seeds(&dir, &provider);
    ledger_seeds(&dir, &provider);
}

/// Every call of the ingest enclave, with real handshake, evidence, sealed-key, TxOut and
/// frame bytes.
fn ingest_seeds(dir: &Path, provider: &SimProvider) {
    use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder};
    use fog_crypto::{crypto_box, RistrettoPrivate};
    use fog_enclave_api::ingest::{
        Create, Empty, IngestBlock, PeerAccept, PeerChannel, PeerFinish, PeerFrame, Restore,
    };
    use fog_transaction::{wire, EncryptedFogHint};
    use ingest_request::Call;

    let mut rng = rand_core::OsRng;
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
    for (name, call) in [
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
    ] {
        let m = IngestRequest { call: Some(call) };
        write(dir, name, 0, &m.encode_to_vec());
    }
}

/// Every call of the view enclave, with real evidence, handshake, frame, event and record
/// bytes.
fn view_seeds(dir: &Path, provider: &SimProvider) {
    use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder};
    use fog_enclave_api::view::{
        AddRecords, AddUserEvents, Auth, BlockMark, Empty, HostCounters, KnownBlocks, LoadBlocks,
        Query, RouterAccept, RouterQuery, RunWorker, UserEvent, UserEventMessage,
    };
    use fog_types::view::{DecommissionedIngestInvocation, QueryRequestAad, RngRecord};
    use view_request::Call;

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
    for (name, call) in [
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
    ] {
        let m = ViewRequest { call: Some(call) };
        write(dir, name, 1, &m.encode_to_vec());
    }
}

/// Every call of the fog ledger enclave, with real evidence, handshake, block and frame bytes.
/// (The ledger router's requests wrap these; the target has no selector for them yet.)
fn ledger_seeds(dir: &Path, provider: &SimProvider) {
    use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder};
    use fog_crypto::CompressedRistrettoPublic;
    use fog_enclave_api::ledger::{
        AddBlock, CheckKeyImages, Empty, LedgerAccept, LedgerView, RouterCheck, SealGetOutputs,
    };
    use fog_transaction::block::{Block, BlockContents};
    use fog_transaction::{EncryptedFogHint, TxOut};
    use fog_types::common::BlockRange;
    use fog_types::ledger::{GetOutputsResponse, OutputResult, OutputResultCode, BLOCK_IDS_AAD};
    use ledger_request::Call;

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
    for (name, call) in [
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
    ] {
        let m = LedgerRequest { call: Some(call) };
        write(dir, name, 2, &m.encode_to_vec());
    }
}
