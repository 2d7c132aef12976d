//! Writes the seed corpus of the `server_requests` fuzz target: one or more valid requests of
//! every gRPC call of the view, fog ledger, ingest admin, ingest peer and report services,
//! and stored report rows, behind the target's selector byte. A frame or ingress-key message
//! without a channel id is sent by the target on a live session of its own; the ledger the
//! target serves holds TxOuts with public keys `[1; 32]` to `[3; 32]` in two blocks.
//!
//! The peer handshake seed carries evidence dated when it was written, which an ingest server
//! accepts for a day; the target still reads it after that, and refuses it.
//!
//! `cargo run -p fogd --example fuzz_seeds -- fuzz/seeds` (from the workspace root) writes
//! `fuzz/seeds/server_requests/*.bin`.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use fog_api::external::CompressedRistretto;
use fog_api::fog_common::BlockRange;
use fog_api::fog_ingest::{
    GetIngressKeyRecordsRequest, GetStatusRequest, IngressKeyFrame, PeerHandshakeRequest,
    ReportLostIngressKeyRequest, SendIngressKeyRequest, SetPeersRequest,
    SetPubkeyExpiryWindowRequest, SetRetiredRequest, SyncKeysFromRemoteRequest,
};
use fog_api::fog_ledger::{BlockRequest, TxOutRequest, BLOCK_IDS_AAD};
use fog_api::fog_view::QueryRequestAad;
use fog_attest::ed25519_dalek::SigningKey;
use fog_attest::wire::{AuthMessage, NonceMessage, ReportRequest};
use fog_attest::{
    fog_identity, BoundEvidence, ClientHandshake, EnclaveResponder, FogEnclave, IdentityRule,
    Policy, SimProvider, Verifier,
};
use fog_crypto::RistrettoPrivate;
use prost::Message;

fn write(dir: &Path, name: &str, selector: u8, body: &[u8]) {
    let mut bytes = vec![selector];
    bytes.extend_from_slice(body);
    std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write a seed");
}

/// The target's simulated quoting key and identities.
fn provider(kind: FogEnclave) -> SimProvider {
    SimProvider::from_quoting_key(SigningKey::from_bytes(&[0x1d; 32]), fog_identity(kind))
}

fn verifier(kind: FogEnclave) -> Verifier {
    Verifier::new(
        provider(kind).trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(fog_identity(kind).measurement)],
            24 * 3600,
        ),
    )
}

fn hello(kind: FogEnclave) -> Vec<u8> {
    let (_, hello) = ClientHandshake::start(verifier(kind)).expect("a client hello");
    AuthMessage { data: hello }.encode_to_vec()
}

/// A frame on the target's live session (no channel id), or on another one.
fn nonce_frame(aad: &[u8], live: bool) -> Vec<u8> {
    NonceMessage {
        aad: aad.to_vec(),
        channel_id: if live { Vec::new() } else { vec![0x33; 64] },
        data: vec![0x44; 64],
        nonce: 0,
    }
    .encode_to_vec()
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let dir = root.join("server_requests");
    std::fs::create_dir_all(&dir).expect("create the seed directory");

    // View: Auth and Query.
    write(&dir, "view-auth", 0, &hello(FogEnclave::View));
    let aad = QueryRequestAad {
        start_from_user_event_id: 3,
        start_from_block_index: 10,
    }
    .encode_to_vec();
    write(&dir, "view-query-live", 1, &nonce_frame(&aad, true));
    write(&dir, "view-query-other", 1, &nonce_frame(&aad, false));

    // Fog ledger: Auth, CheckKeyImages, GetBlockIds, GetOutputs, GetBlocks, GetTxOuts.
    write(&dir, "ledger-auth", 2, &hello(FogEnclave::Ledger));
    write(&dir, "ledger-key-images", 3, &nonce_frame(&[], true));
    write(
        &dir,
        "ledger-block-ids",
        4,
        &nonce_frame(BLOCK_IDS_AAD, true),
    );
    write(&dir, "ledger-get-outputs", 5, &nonce_frame(&[], false));
    for (name, ranges) in [
        ("ledger-blocks", vec![BlockRange::new(0, 2)]),
        (
            "ledger-blocks-ranges",
            vec![BlockRange::new(1, 1), BlockRange::new(1, 9)],
        ),
        ("ledger-blocks-backwards", vec![BlockRange::new(2, 1)]),
    ] {
        write(&dir, name, 6, &BlockRequest { ranges }.encode_to_vec());
    }
    let tx_outs = TxOutRequest {
        tx_out_pubkeys: [[1u8; 32], [3; 32], [0x77; 32]]
            .iter()
            .map(|k| CompressedRistretto { data: k.to_vec() })
            .collect(),
    };
    write(&dir, "ledger-tx-outs", 7, &tx_outs.encode_to_vec());

    // Ingest admin.
    let lost = ReportLostIngressKeyRequest {
        key: RistrettoPrivate::from_bytes_mod_order(&[0x61; 32])
            .public_key()
            .to_bytes()
            .to_vec(),
    };
    write(&dir, "admin-report-lost", 8, &lost.encode_to_vec());
    for (name, retired) in [("admin-retire", true), ("admin-unretire", false)] {
        write(
            &dir,
            name,
            9,
            &SetRetiredRequest { retired }.encode_to_vec(),
        );
    }
    let peers = SetPeersRequest {
        peers: vec![
            "http://127.0.0.1:3226".into(),
            "https://ingest-b.example.com:443".into(),
        ],
    };
    write(&dir, "admin-set-peers", 10, &peers.encode_to_vec());
    let sync = SyncKeysFromRemoteRequest {
        peer: "http://127.0.0.1:3226".into(),
    };
    write(&dir, "admin-sync-keys", 11, &sync.encode_to_vec());
    let window = SetPubkeyExpiryWindowRequest { window: 20 };
    write(&dir, "admin-expiry-window", 12, &window.encode_to_vec());
    let records = GetIngressKeyRecordsRequest {
        start_block_at_least: 0,
        should_include_lost_keys: true,
        should_include_retired_keys: true,
        should_only_include_unexpired_keys: false,
    };
    write(&dir, "admin-key-records", 13, &records.encode_to_vec());
    write(
        &dir,
        "admin-no-fields",
        14,
        &GetStatusRequest {}.encode_to_vec(),
    );

    // Ingest peer.
    let ingest = provider(FogEnclave::Ingest);
    let peer = EnclaveResponder::from_provider(&ingest).expect("a peer enclave");
    let (_, message) = peer
        .peer_initiate(verifier(FogEnclave::Ingest))
        .expect("a peer hello");
    write(
        &dir,
        "peer-handshake",
        15,
        &PeerHandshakeRequest { message }.encode_to_vec(),
    );
    let key = RistrettoPrivate::from_bytes_mod_order(&[0x62; 32]);
    for (name, channel_id, frame) in [
        ("peer-receive-key", Vec::new(), key.to_bytes().to_vec()),
        ("peer-receive-bad-key", Vec::new(), vec![0xff; 32]),
        (
            "peer-receive-other",
            vec![0x33; 64],
            nonce_frame(b"aad", false),
        ),
    ] {
        let m = IngressKeyFrame { channel_id, frame };
        write(&dir, name, 16, &m.encode_to_vec());
    }
    for (name, channel_id) in [
        ("peer-send-key", Vec::new()),
        ("peer-send-other", vec![5; 64]),
    ] {
        let m = SendIngressKeyRequest { channel_id };
        write(&dir, name, 17, &m.encode_to_vec());
    }

    // Report: GetReports, and a stored report row `[id length][id][pubkey_expiry][evidence]`.
    write(&dir, "report-get", 18, &ReportRequest {}.encode_to_vec());
    let ingress = key.public_key().to_bytes();
    let evidence = BoundEvidence::bind(&ingest, &[0x2c; 32], Some(&ingress))
        .expect("evidence")
        .encode_to_vec();
    for (name, id) in [("report-row", ""), ("report-row-named", "fog-1")] {
        let mut row = vec![u8::try_from(id.len()).expect("a short id")];
        row.extend_from_slice(id.as_bytes());
        row.extend_from_slice(&110u64.to_le_bytes());
        row.extend_from_slice(&evidence);
        write(&dir, name, 19, &row);
    }
}
