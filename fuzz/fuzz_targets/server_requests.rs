//! The gRPC requests the servers decode, handed to what each server does with them: view
//! (`Auth`, `Query` into the view enclave, whose partition workers run on threads the server
//! lent), fog ledger (`Auth`, the three attested calls, `GetBlocks`, `GetTxOuts` on a
//! two-block ledger), ingest admin (each call's message, turned into the server's types and
//! applied to an idle server on an in-memory recovery DB, without reaching out to peers),
//! ingest peer (handshakes, and ingress-key frames, both as sent and sealed on a live channel
//! from an attested peer) and report (`GetReports`, and the stored report rows the server
//! decodes). The first byte picks the call.
//!
//! Each server is built as `fogd` builds it: over a simulated enclave behind the byte boundary
//! (`fog_enclave::boundary`), injected as a `SharedEnclave`, with simulated evidence.
//!
//! Every request that decodes re-encodes to the same message; the servers answer or refuse,
//! never panic, and an answer matches its request (one result per item, the ingress key a
//! peer received is the one it holds).
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use fog_api::fog_ingest::{
    ActivateRequest, GetIngressKeyRecordsRequest, GetMissedBlockRangesRequest, GetStatusRequest,
    IngressKeyFrame, NewKeysRequest, PeerHandshakeRequest, ReportLostIngressKeyRequest,
    RotateEgressKeyRequest, SendIngressKeyRequest, SetPeersRequest, SetPubkeyExpiryWindowRequest,
    SetRetiredRequest, SyncKeysFromRemoteRequest,
};
use fog_api::fog_ledger::{BlockRequest, TxOutRequest};
use fog_attest::ed25519_dalek::SigningKey;
use fog_attest::wire::{AuthMessage, NonceMessage, ReportRequest};
use fog_attest::{
    fog_identity, Channel, ClientHandshake, EnclaveResponder, FogEnclave, IdentityRule, Policy,
    Report, SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::{CompressedRistrettoPublic, RistrettoPrivate};
use fog_enclave::boundary::ingest::IngestBoundary;
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig};
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave::ingest_peers::INGRESS_KEY_AAD;
use fog_enclave::sealing::SealingKeyProvider;
use fog_enclave_api::view::{HostCounters, ViewClient};
use fog_ingest_server::admin::{key_records_query, lost_ingress_key};
use fog_ingest_server::cluster::check_peer_uri;
use fog_ingest_server::{IngestConfig, IngestServer, ProviderEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_recovery_db::{BlockIndex, MemoryRecoveryDb, RecoveryDb};
use fog_transaction::amount::{MaskedAmount, MaskedAmountVersion};
use fog_transaction::block::{Block, BlockContents};
use fog_transaction::{EncryptedFogHint, EncryptedMemo, KeyImage, TxOut};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The view enclave's time (its calls take the time; the ledger and ingest servers read the
/// clock).
const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

/// Sessions that neither expire nor idle out during a run.
const LIMITS: SessionLimits = SessionLimits {
    max_age_secs: u64::MAX / 2,
    idle_secs: u64::MAX / 2,
};

/// Runs a future that never waits: the recovery DB here is the in-memory one, whose calls
/// complete at once, so no runtime is needed.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a future waited: the fuzz target has no runtime");
}

/// Decodes a request as tonic does; whatever decodes re-encodes to the same message.
fn decode<M: Message + Default + PartialEq + core::fmt::Debug>(bytes: &[u8]) -> Option<M> {
    let m = M::decode(bytes).ok()?;
    assert_eq!(M::decode(m.encode_to_vec().as_slice()).as_ref(), Ok(&m));
    Some(m)
}

/// The simulated quoting key of every enclave here.
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

fn lock<T>(m: &'static OnceLock<Mutex<T>>, init: impl FnOnce() -> T) -> MutexGuard<'static, T> {
    m.get_or_init(|| Mutex::new(init()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

// --- view -----------------------------------------------------------------------------------

struct View {
    server: fog_view_server::ViewServer<MemoryRecoveryDb>,
    /// The id of a live client session.
    live: Vec<u8>,
}

/// A view server with two partitions (so two lent worker threads) over an empty in-memory
/// recovery DB, its enclave attested with evidence dated `NOW`, and a client session on it.
fn view() -> MutexGuard<'static, View> {
    static V: OnceLock<Mutex<View>> = OnceLock::new();
    lock(&V, || {
        let config = fog_view_server::ViewConfig {
            partitions: 2,
            capacity_per_partition: 1 << 8,
            ..Default::default()
        };
        let enclave = ViewBoundary::simulated(&config.enclave(), None).expect("view enclave");
        ViewClient::new(enclave.clone())
            .attest(&provider(FogEnclave::View).with_clock(|| NOW))
            .expect("attested");
        let server =
            fog_view_server::ViewServer::new(Arc::new(MemoryRecoveryDb::new()), enclave, config);
        let (hs, hello) = ClientHandshake::start(verifier(FogEnclave::View)).expect("hello");
        let answer = server.enclave().auth(&hello, None, NOW).expect("auth");
        let client = hs.finish(&answer, NOW, LIMITS).expect("handshake");
        View {
            server,
            live: client.id().0.clone(),
        }
    })
}

/// A frame from the wire; one without a channel id is sent on the live session.
fn frame(bytes: &[u8], live: &[u8]) -> Option<NonceMessage> {
    let mut f: NonceMessage = decode(bytes)?;
    if f.channel_id.is_empty() {
        f.channel_id = live.to_vec();
    }
    Some(f)
}

fn view_call(which: u8, bytes: &[u8]) {
    let v = view();
    let enclave = v.server.enclave();
    if which == 0 {
        if let Some(m) = decode::<AuthMessage>(bytes) {
            let _ = enclave.auth(&m.data, None, NOW);
        }
    } else if let Some(f) = frame(bytes, &v.live) {
        // The counters the service adds (`host_counters`).
        let status = v.server.status();
        let host = HostCounters {
            last_known_block_count: status.last_known_block_count,
            last_known_block_cumulative_txo_count: status.last_known_cumulative_txo_count,
        };
        let _ = enclave.query(f, host, NOW);
    }
}

// --- fog ledger -------------------------------------------------------------------------------

/// A ledger TxOut of the right sizes (the ledger only hashes and indexes it).
fn tx_out(seed: u8) -> TxOut {
    TxOut {
        masked_amount: Some(MaskedAmount {
            version: MaskedAmountVersion::V2,
            commitment: [seed; 32],
            masked_value: u64::from(seed) * 1000,
            masked_token_id: vec![seed; 8],
        }),
        target_key: CompressedRistrettoPublic([seed ^ 0x11; 32]),
        public_key: CompressedRistrettoPublic([seed; 32]),
        e_fog_hint: EncryptedFogHint([seed; 84]),
        e_memo: Some(EncryptedMemo([seed; 66])),
    }
}

struct Ledger {
    server: LedgerServer,
    live: Vec<u8>,
}

/// A ledger server over two blocks: the origin with TxOuts `[1; 32]` and `[2; 32]` (public
/// keys), then TxOut `[3; 32]` spending key image `[9; 32]`.
fn ledger() -> MutexGuard<'static, Ledger> {
    static L: OnceLock<Mutex<Ledger>> = OnceLock::new();
    lock(&L, || {
        let db = LedgerDb::create_in_memory().expect("ledger");
        let origin = BlockContents {
            key_images: vec![],
            outputs: vec![tx_out(1), tx_out(2)],
        };
        let block0 = Block::new_origin(&origin);
        db.append_block(&block0, &origin, NOW.0).expect("origin");
        let contents = BlockContents {
            key_images: vec![KeyImage([9; 32])],
            outputs: vec![tx_out(3)],
        };
        let block1 = Block::new(
            3,
            block0.id,
            1,
            3,
            db.root_element().expect("root"),
            &contents,
        );
        db.append_block(&block1, &contents, NOW.0 + 5)
            .expect("block 1");
        let enclave = LedgerBoundary::simulated(LedgerConfig {
            key_image_capacity: 1 << 8,
            session_limits: LIMITS,
            ..LedgerConfig::default()
        })
        .expect("ledger enclave");
        // The server reads the clock: its evidence is dated now.
        let server = LedgerServer::new(
            db,
            enclave,
            &provider(FogEnclave::Ledger),
            LedgerServerConfig::default(),
        )
        .expect("ledger server");
        server.catch_up(10).expect("key images");
        let (hs, hello) = ClientHandshake::start(verifier(FogEnclave::Ledger)).expect("hello");
        let answer = server.auth(&hello, None).expect("auth");
        let client = hs
            .finish(&answer, UnixSeconds::now(), LIMITS)
            .expect("handshake");
        Ledger {
            server,
            live: client.id().0.clone(),
        }
    })
}

fn ledger_call(which: u8, bytes: &[u8]) {
    let l = ledger();
    let s = &l.server;
    match which {
        2 => {
            if let Some(m) = decode::<AuthMessage>(bytes) {
                let _ = s.auth(&m.data, None);
            }
        }
        3..=5 => {
            let Some(f) = frame(bytes, &l.live) else {
                return;
            };
            let _ = match which {
                3 => s.check_key_images(f),
                4 => s.block_ids(f),
                _ => s.get_outputs(f),
            };
        }
        6 => {
            let Some(r) = decode::<BlockRequest>(bytes) else {
                return;
            };
            if let Ok(answer) = s.get_blocks(&r.ranges) {
                assert_eq!(answer.num_blocks, 2);
                for b in &answer.blocks {
                    assert!(r.ranges.iter().any(|range| range.contains(b.index)));
                }
            }
        }
        _ => {
            let Some(r) = decode::<TxOutRequest>(bytes) else {
                return;
            };
            if let Ok(answer) = s.get_tx_outs(&r) {
                assert_eq!(answer.results.len(), r.tx_out_pubkeys.len());
            }
        }
    }
}

// --- ingest -----------------------------------------------------------------------------------

struct Ingest {
    server: IngestServer<MemoryRecoveryDb>,
    /// Its state directory (removed at exit).
    _dir: tempfile::TempDir,
}

/// An idle ingest server with attested peer channels (its enclave loaded with a sealing key
/// for this run and the verifier of its simulated peers, as `fogd ingest` loads it; the
/// server installs the peer evidence), its key registered in an in-memory recovery DB.
fn ingest() -> MutexGuard<'static, Ingest> {
    static I: OnceLock<Mutex<Ingest>> = OnceLock::new();
    lock(&I, || {
        let dir = tempfile::tempdir().expect("state dir");
        let state = StateDir::new(dir.path()).expect("state dir");
        let config = IngestConfig {
            user_capacity: 1 << 8,
            ..Default::default()
        };
        let sealing = SealingKeyProvider::simulated_generate(&mut rand_core::OsRng).0;
        let peers = ProviderEvidence::sim_peer_verifier(&provider(FogEnclave::Ingest));
        let enclave = IngestBoundary::simulated(sealing, Some(peers)).expect("ingest enclave");
        let server = block_on(IngestServer::open_idle(
            LedgerDb::create_in_memory().expect("ledger"),
            MemoryRecoveryDb::new(),
            state,
            config,
            Box::new(ProviderEvidence::sim(provider(FogEnclave::Ingest))),
            enclave,
        ))
        .expect("ingest server");
        assert!(server.has_peer_link(), "peer evidence installed");
        block_on(
            server
                .recovery_db()
                .new_ingress_key(&server.ingress_key(), BlockIndex(0)),
        )
        .expect("key registered");
        Ingest { server, _dir: dir }
    })
}

/// A fresh attested channel from a peer enclave to the server; its id.
fn peer_channel(server: &mut IngestServer<MemoryRecoveryDb>) -> Channel {
    let peer = EnclaveResponder::from_provider(&provider(FogEnclave::Ingest)).expect("peer");
    let (hs, hello) = peer
        .peer_initiate(verifier(FogEnclave::Ingest))
        .expect("hello");
    let (id, answer) = server
        .peer_accept(&hello)
        .expect("the server accepts a peer");
    let channel = hs
        .finish(&answer, UnixSeconds::now(), LIMITS)
        .expect("the peer accepts the server");
    assert_eq!(channel.id().0, id);
    channel
}

fn ingest_call(which: u8, bytes: &[u8]) {
    let mut guard = ingest();
    let server = &mut guard.server;
    match which {
        8 => {
            let Some(r) = decode::<ReportLostIngressKeyRequest>(bytes) else {
                return;
            };
            if let Ok(key) = lost_ingress_key(&r) {
                assert_eq!(&key.0[..], &r.key[..]);
                let _ = block_on(server.report_lost_ingress_key(&key));
            }
        }
        9 => {
            if let Some(r) = decode::<SetRetiredRequest>(bytes) {
                let _ = block_on(server.set_retired(r.retired));
            }
        }
        10 => {
            let Some(r) = decode::<SetPeersRequest>(bytes) else {
                return;
            };
            if r.peers.iter().all(|p| check_peer_uri(p).is_ok()) {
                server.set_peers(r.peers);
            }
        }
        11 => {
            // The call would then dial the peer: only the check runs here.
            if let Some(r) = decode::<SyncKeysFromRemoteRequest>(bytes) {
                let _ = check_peer_uri(&r.peer);
            }
        }
        12 => {
            if let Some(r) = decode::<SetPubkeyExpiryWindowRequest>(bytes) {
                let set = server.set_pubkey_expiry_window(r.window);
                assert_eq!(set.is_ok(), r.window > 0);
            }
        }
        13 => {
            if let Some(r) = decode::<GetIngressKeyRecordsRequest>(bytes) {
                let (start, filters) = key_records_query(&r);
                let _ = block_on(
                    server
                        .recovery_db()
                        .get_ingress_key_records(start, &filters),
                );
            }
        }
        14 => {
            // The calls without fields: they decode, and the read-only ones are answered.
            let _ = decode::<GetStatusRequest>(bytes);
            let _ = decode::<RotateEgressKeyRequest>(bytes);
            let _ = decode::<ActivateRequest>(bytes);
            let _ = decode::<NewKeysRequest>(bytes);
            if decode::<GetMissedBlockRangesRequest>(bytes).is_some() {
                let _ = block_on(server.recovery_db().get_missed_block_ranges());
            }
        }
        15 => {
            if let Some(r) = decode::<PeerHandshakeRequest>(bytes) {
                let _ = server.peer_accept(&r.message);
            }
        }
        16 => {
            let Some(r) = decode::<IngressKeyFrame>(bytes) else {
                return;
            };
            if !r.channel_id.is_empty() {
                let _ = block_on(server.receive_ingress_key(&r.channel_id, &r.frame));
                return;
            }
            // No channel id: `frame` is the plaintext an attested peer sends as its key.
            let mut channel = peer_channel(server);
            let sealed = channel
                .seal(INGRESS_KEY_AAD, &r.frame, UnixSeconds::now())
                .expect("seal");
            let id = channel.id().0.clone();
            let got = block_on(server.receive_ingress_key(&id, &sealed.encode_to_vec()));
            let sent = RistrettoPrivate::from_bytes(&r.frame);
            assert_eq!(got.is_ok(), sent.is_ok(), "{got:?}");
            if let Ok(key) = sent {
                assert_eq!(
                    server.ingress_public_key().to_bytes(),
                    key.public_key().to_bytes()
                );
            }
        }
        _ => {
            let Some(r) = decode::<SendIngressKeyRequest>(bytes) else {
                return;
            };
            if !r.channel_id.is_empty() {
                let _ = server.send_ingress_key(&r.channel_id);
                return;
            }
            // No channel id: the server sends its key to an attested peer, which reads it.
            let mut channel = peer_channel(server);
            let id = channel.id().0.clone();
            let frame = server
                .send_ingress_key(&id)
                .expect("a live channel gets the key");
            let frame = NonceMessage::decode(frame.as_slice()).expect("a frame");
            let plain = channel
                .open(&frame, UnixSeconds::now())
                .expect("the frame opens");
            let key = RistrettoPrivate::from_bytes(&plain).expect("an ingress key");
            assert_eq!(
                key.public_key().to_bytes(),
                server.ingress_public_key().to_bytes()
            );
        }
    }
}

// --- report -----------------------------------------------------------------------------------

/// `GetReports` (no fields), and a stored report row: `[id length][id][pubkey_expiry u64
/// LE][evidence]`.
fn report_call(which: u8, bytes: &[u8]) {
    if which == 18 {
        let _ = decode::<ReportRequest>(bytes);
        return;
    }
    let Some((&n, rest)) = bytes.split_first() else {
        return;
    };
    let Some((id, rest)) = rest.split_at_checked(usize::from(n)) else {
        return;
    };
    let Ok(id) = std::str::from_utf8(id) else {
        return;
    };
    let Some((expiry, evidence)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let row = fog_recovery_db::ReportData {
        ingest_invocation_id: None,
        evidence: evidence.to_vec(),
        pubkey_expiry: BlockIndex(u64::from_le_bytes(*expiry)),
    };
    if let Ok(report) = fog_report_server::report_from_row(id, &row) {
        assert_eq!(report.fog_report_id, id);
        assert_eq!(Report::from_wire(&report.to_wire()).as_ref(), Ok(&report));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 20 {
        w @ 0..=1 => view_call(w, rest),
        w @ 2..=7 => ledger_call(w, rest),
        w @ 8..=17 => ingest_call(w, rest),
        w => report_call(w, rest),
    }
});
