//! The ingest enclave driven only through its byte boundary (`Enclave::call`), as the ingest
//! server drives it: through `IngestClient`, and with raw bytes. The happy path (create,
//! ingest, rotate, seal and restore, a new key, the key shared with a peer enclave), and every
//! kind of bad request (garbage, an empty call, a truncated request, unknown handles, refused
//! values), each of which answers `Malformed` or a refusal and changes nothing the boundary's
//! own read calls can see. Every answer is scanned for the ingress private key: it never
//! crosses; nor does the RNG store's exact size, only its load in steps of 10 %.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use fog_account::AccountKey;
use fog_attest::{
    fog_identity, BoundEvidence, FogEnclave, IdentityRule, Policy, ReportData, SimProvider,
    UnixSeconds, Verifier,
};
use fog_crypto::{crypto_box, kex_rng::KexRng, RistrettoPrivate, RistrettoPublic};
use fog_enclave::boundary::ingest::IngestBoundary;
use fog_enclave::sealing::SealingKeyProvider;
use fog_enclave_api::errors::{IngestError, PeerError};
use fog_enclave_api::ingest::{
    ingest_request::Call, ingest_response::Answer, CoarseMapLoad, Empty, IngestBlock, IngestClient,
    IngestRequest, IngestResponse, MapLoad, PeerChannel, PeerFinish, PeerFrame, Restore,
};
use fog_enclave_api::messages::SetEvidence;
use fog_enclave_api::{Enclave, EnclaveError, Refused, SharedEnclave};
use fog_transaction::{
    wire, Amount, BlockVersion, EncryptedFogHint, FogHint, TokenId, TxOut, TxOutRecord,
};
use prost::Message;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

fn seeded(seed: u8) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::from_seed([seed; 32])
}

/// Records every answer that crosses, to scan them afterwards.
struct Recording {
    inner: SharedEnclave,
    answers: Mutex<Vec<Vec<u8>>>,
}

impl Enclave for Recording {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        let answer = self.inner.call(request)?;
        self.answers.lock().unwrap().push(answer.clone());
        Ok(answer)
    }
}

/// A platform: its sealing key's bytes (the simulated `platform.key`), and the simulated
/// attestation of its ingest enclaves.
struct Platform {
    key: [u8; 32],
    attest: SimProvider,
}

impl Platform {
    fn new(seed: u8) -> Self {
        let mut rng = seeded(seed);
        let (_, key) = SealingKeyProvider::simulated_generate(&mut rng);
        let attest = SimProvider::generate(&mut rng, fog_identity(FogEnclave::Ingest));
        Self { key: *key, attest }
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(
            self.attest.trust_anchor(),
            Policy::new(
                vec![IdentityRule::Measurement(
                    self.attest.identity().measurement,
                )],
                3600,
            ),
        )
    }

    /// A freshly loaded enclave of this platform, with peers, its answers recorded.
    fn load(&self) -> (IngestClient, Arc<Recording>) {
        let sealing = SealingKeyProvider::simulated_from_bytes(&self.key).unwrap();
        let inner = IngestBoundary::simulated(sealing, Some(self.verifier())).unwrap();
        let recording = Arc::new(Recording {
            inner,
            answers: Mutex::new(Vec::new()),
        });
        (IngestClient::new(recording.clone()), recording)
    }

    /// Evidence of this platform binding `key` (as the host's provider makes it).
    fn evidence(&self, key: &[u8; 32]) -> BoundEvidence {
        BoundEvidence {
            evidence: self.attest.evidence_at(&ReportData::bind(key, None), NOW),
            channel_key: *key,
            custom_identity: None,
        }
    }

    /// The ingress private key in sealed bytes: what the simulated platform key opens (in
    /// this test only, to check that no answer carries it).
    fn open_sealed(&self, sealed: &[u8]) -> RistrettoPrivate {
        let platform = RistrettoPrivate::from_bytes(&self.key).unwrap();
        RistrettoPrivate::from_bytes(&crypto_box::decrypt(&platform, sealed).unwrap()).unwrap()
    }
}

/// Every answer the recording saw is free of `secret`'s bytes.
fn never_crossed(recording: &Recording, secret: &RistrettoPrivate) {
    let bytes = secret.to_bytes();
    for answer in recording.answers.lock().unwrap().iter() {
        assert!(
            !answer.windows(32).any(|w| w == &bytes[..]),
            "an answer carries the ingress private key"
        );
    }
}

/// `n` TxOuts, every other one to `user` with a hint to `ingress`, the rest fake.
fn block(
    user: &AccountKey,
    ingress: &RistrettoPublic,
    n: usize,
    rng: &mut ChaCha20Rng,
) -> Vec<TxOut> {
    (0..n)
        .map(|i| {
            let to = user.default_subaddress();
            let hint = if i % 2 == 0 {
                FogHint::from_address(&to).encrypt(ingress, rng)
            } else {
                EncryptedFogHint::fake_onetime_hint(rng)
            };
            let r = RistrettoPrivate::random(rng);
            TxOut::new(
                BlockVersion::THREE,
                Amount::new(5, TokenId::MOB),
                &to,
                &r,
                hint,
            )
            .unwrap()
        })
        .collect()
}

/// What the user finds in `records` with the RNG of `egress`: the global indices.
fn found(
    user: &AccountKey,
    egress: &fog_crypto::kex_rng::KexRngPubkey,
    records: &[wire::ETxOutRecord],
) -> Vec<u64> {
    let c0 = user.default_subaddress_view_private();
    let mut rng = KexRng::from_kex_pubkey(egress, &c0).unwrap();
    let mut out = Vec::new();
    while let Some(r) = records
        .iter()
        .find(|r| r.search_key.as_slice() == rng.peek().as_slice())
    {
        out.push(TxOutRecord::decrypt(&c0, &r.payload).unwrap().global_index);
        rng.advance();
    }
    out
}

/// A connects to B (A initiates, B accepts): the channel id.
fn connect(a: &IngestClient, b: &IngestClient) -> Vec<u8> {
    let (token, hello) = a.peer_initiate().unwrap();
    let (id_b, reply) = b.peer_accept(&hello, NOW).unwrap();
    let id_a = a.peer_finish(token, &reply, NOW).unwrap();
    assert_eq!(id_a, id_b);
    id_a
}

fn attest(platform: &Platform, client: &IngestClient) {
    let key = client.channel_key().unwrap();
    client.set_evidence(&platform.evidence(&key)).unwrap();
}

#[test]
fn the_ingest_enclave_works_through_its_bytes_alone() {
    let platform = Platform::new(1);
    let mut rng = seeded(2);
    let user = AccountKey::random(&mut rng);
    let (a, recorded) = platform.load();

    // Nothing but the channel key before `Create`.
    assert_eq!(
        a.ingress_public_key(),
        Err(IngestError::Boundary(EnclaveError::NotInitialized))
    );
    assert_eq!(
        a.rotate(),
        Err(IngestError::Boundary(EnclaveError::NotInitialized))
    );
    let channel_key = a.channel_key().unwrap();

    let (ingress, sealed) = a.create(1 << 8).unwrap();
    assert_eq!(a.ingress_public_key().unwrap(), ingress);
    assert_eq!(
        a.map_load().unwrap(),
        CoarseMapLoad {
            percent: 0,
            capacity: 1 << 8
        }
    );
    let egress = a.kex_rng_pubkey().unwrap();

    // A block: one record per TxOut; the user finds exactly the outputs with real hints.
    let outs = block(&user, &ingress, 10, &mut rng);
    let done = a.ingest_block(7, 100, 1_700_000_000, &outs).unwrap();
    assert_eq!(done.records.len(), 10);
    assert_eq!(done.rotated_to, None);
    assert_eq!(
        found(&user, &egress, &done.records),
        [100, 102, 104, 106, 108]
    );

    // The RNG store's load crosses in steps of 10 % only: 6 entries (the user and five
    // strangers) and 8 (two strangers more) answer the same bytes; 28 (of 256) is a step up.
    let six = map_load_bytes(&*recorded);
    assert_eq!(
        raw(&*recorded, Call::GetMapLoad(Empty {})),
        Ok(Answer::MapLoad(MapLoad {
            capacity: 1 << 8,
            load_percent: 0,
        }))
    );
    a.ingest_block(8, 110, 1_700_000_001, &block(&user, &ingress, 4, &mut rng))
        .unwrap();
    assert_eq!(map_load_bytes(&*recorded), six, "the exact count crossed");
    a.ingest_block(9, 114, 1_700_000_002, &block(&user, &ingress, 40, &mut rng))
        .unwrap();
    assert_eq!(a.map_load().unwrap().percent, 10);

    // Rotation: a new egress key and an empty store; records stay findable from the new one.
    let rotated = a.rotate().unwrap();
    assert_ne!(rotated, egress);
    assert_eq!(a.kex_rng_pubkey().unwrap(), rotated);
    assert_eq!(a.map_load().unwrap().percent, 0);
    let outs = block(&user, &ingress, 4, &mut rng);
    let done = a.ingest_block(10, 154, 1_700_000_003, &outs).unwrap();
    assert_eq!(found(&user, &rotated, &done.records), [154, 156]);

    // Sealed bytes restore the same key on this platform, in another enclave.
    let (b, recorded_b) = platform.load();
    assert_eq!(b.restore(&sealed, 1 << 8).unwrap(), ingress);
    assert_eq!(
        b.restore(&a.seal_ingress_key().unwrap(), 1 << 8).unwrap(),
        ingress
    );
    assert_ne!(b.kex_rng_pubkey().unwrap(), a.kex_rng_pubkey().unwrap());
    // Not on another platform.
    let (elsewhere, _) = Platform::new(3).load();
    assert_eq!(
        elsewhere.restore(&sealed, 1 << 8),
        Err(IngestError::BadSealedKey)
    );

    // A new ingress key, sealed again.
    let fresh = b.new_ingress_key().unwrap();
    assert_ne!(fresh, ingress);
    let (c, recorded_c) = platform.load();
    assert_eq!(
        c.restore(&b.seal_ingress_key().unwrap(), 1 << 8).unwrap(),
        fresh
    );

    // The peer channel: evidence the host binds to the key the enclave made, then the key
    // moves enclave to enclave in one frame.
    attest(&platform, &a);
    attest(&platform, &c);
    assert_eq!(
        a.channel_key().unwrap(),
        channel_key,
        "the same key, attested"
    );
    let channel = connect(&a, &c);
    let frame = a.send_ingress_key(&channel, NOW).unwrap();
    assert_eq!(
        c.receive_ingress_key(&channel, &frame, NOW).unwrap(),
        ingress
    );
    assert_eq!(c.ingress_public_key().unwrap(), ingress);
    assert_eq!(
        c.receive_ingress_key(&channel, &frame, NOW),
        Err(PeerError::BadFrame),
        "a replayed frame"
    );
    assert_eq!(a.peer_close(&channel), Ok(true));
    assert_eq!(a.peer_close(&channel), Ok(false));
    // Refreshed evidence is taken too.
    attest(&platform, &a);

    // Nothing that crossed holds either ingress private key.
    let first = platform.open_sealed(&sealed);
    assert_eq!(first.public_key(), ingress);
    let second = platform.open_sealed(&b.seal_ingress_key().unwrap());
    for recording in [&recorded, &recorded_b, &recorded_c] {
        never_crossed(recording, &first);
        never_crossed(recording, &second);
    }
}

/// What the boundary's read calls show.
#[derive(Debug, PartialEq)]
struct Seen {
    ingress: RistrettoPublic,
    egress: fog_crypto::kex_rng::KexRngPubkey,
    load: CoarseMapLoad,
    channel_key: [u8; 32],
}

fn seen(client: &IngestClient) -> Seen {
    Seen {
        ingress: client.ingress_public_key().unwrap(),
        egress: client.kex_rng_pubkey().unwrap(),
        load: client.map_load().unwrap(),
        channel_key: client.channel_key().unwrap(),
    }
}

/// Sends `call` as bytes; the decoded answer.
fn raw(enclave: &dyn Enclave, call: Call) -> Result<Answer, EnclaveError> {
    let bytes = enclave.call(&IngestRequest { call: Some(call) }.encode_to_vec())?;
    Ok(IngestResponse::decode(bytes.as_slice())
        .unwrap()
        .answer
        .unwrap())
}

/// The raw answer to `GetMapLoad`.
fn map_load_bytes(enclave: &dyn Enclave) -> Vec<u8> {
    let request = IngestRequest {
        call: Some(Call::GetMapLoad(Empty {})),
    };
    enclave.call(&request.encode_to_vec()).unwrap()
}

fn refused<E: Refused>(answer: Result<Answer, EnclaveError>) -> E {
    match answer {
        Ok(Answer::Refused(r)) => E::from_refusal(r).unwrap(),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn bad_requests_answer_malformed_or_a_refusal_and_change_nothing() {
    let platform = Platform::new(4);
    let mut rng = seeded(5);
    let user = AccountKey::random(&mut rng);
    let (client, recording) = platform.load();
    let enclave: &dyn Enclave = &*recording;
    let (ingress, _) = client.create(1 << 8).unwrap();
    client
        .ingest_block(0, 0, 0, &block(&user, &ingress, 6, &mut rng))
        .unwrap();
    attest(&platform, &client);
    let before = seen(&client);

    // Bytes that are no request.
    let good = IngestRequest {
        call: Some(Call::IngestBlock(IngestBlock {
            block_index: 1,
            first_global_index: 6,
            timestamp: 0,
            tx_outs: block(&user, &ingress, 3, &mut rng)
                .iter()
                .map(TxOut::to_wire)
                .collect(),
        })),
    }
    .encode_to_vec();
    let mut bad: Vec<Vec<u8>> = vec![
        vec![],                 // no call at all
        vec![0xff; 16],         // not protobuf
        vec![0x3a, 0x05, 0x01], // a length past the end
        vec![0x38, 0x01],       // the block call as a varint
        vec![0x0a, 0x02, 0x08], // a truncated `Create`
        good[..good.len() - 1].to_vec(),
        good[..good.len() / 2].to_vec(),
        vec![0xc2, 0x3e, 0x00], // an unknown call only
    ];
    for _ in 0..200 {
        let mut b = vec![0u8; (rng.next_u32() % 64) as usize];
        rng.fill_bytes(&mut b);
        // Random bytes that happen to be a real call are not a bad request.
        if IngestRequest::decode(b.as_slice()).is_ok_and(|r| r.call.is_some()) {
            continue;
        }
        bad.push(b);
    }
    for b in &bad {
        assert_eq!(enclave.call(b), Err(EnclaveError::Malformed), "{b:02x?}");
    }
    assert_eq!(seen(&client), before);

    // Requests that decode, with values the enclave refuses.
    let broken_tx_out = wire::TxOut {
        e_fog_hint: None,
        ..TxOut::to_wire(&block(&user, &ingress, 1, &mut rng)[0])
    };
    let refusals: Vec<(Call, IngestError)> = vec![
        (
            Call::IngestBlock(IngestBlock {
                block_index: 1,
                first_global_index: 6,
                timestamp: 0,
                tx_outs: vec![broken_tx_out],
            }),
            IngestError::InvalidBlockData,
        ),
        (
            Call::IngestBlock(IngestBlock {
                block_index: 1,
                first_global_index: u64::MAX,
                timestamp: 0,
                tx_outs: block(&user, &ingress, 2, &mut rng)
                    .iter()
                    .map(TxOut::to_wire)
                    .collect(),
            }),
            IngestError::InvalidBlockData,
        ),
        (
            Call::Create(fog_enclave_api::ingest::Create { user_capacity: 3 }),
            IngestError::InvalidConfig,
        ),
        (
            Call::Restore(Restore {
                sealed: vec![7; 82],
                user_capacity: 1 << 8,
            }),
            IngestError::BadSealedKey,
        ),
        (
            Call::Restore(Restore {
                sealed: vec![],
                user_capacity: 1 << 8,
            }),
            IngestError::BadSealedKey,
        ),
    ];
    for (call, want) in refusals {
        assert_eq!(refused::<IngestError>(raw(enclave, call)), want);
    }
    assert_eq!(seen(&client), before);

    // Unknown handles and bad frames on the peer channel.
    let unknown = vec![0x33; 64];
    let peer_refusals: Vec<(Call, PeerError)> = vec![
        (
            Call::PeerFinish(PeerFinish {
                token: 99,
                message: vec![1; 48],
                now: NOW.0,
            }),
            PeerError::UnknownChannel,
        ),
        (
            Call::SendIngressKey(PeerChannel {
                channel_id: unknown.clone(),
                now: NOW.0,
            }),
            PeerError::UnknownChannel,
        ),
        (
            Call::ReceiveIngressKey(PeerFrame {
                channel_id: unknown.clone(),
                frame: vec![],
                now: NOW.0,
            }),
            PeerError::BadFrame,
        ),
        (
            Call::PeerAccept(fog_enclave_api::ingest::PeerAccept {
                message: vec![9; 40],
                now: NOW.0,
            }),
            PeerError::Handshake,
        ),
        (
            // Evidence that binds another key.
            Call::SetEvidence(SetEvidence {
                evidence: platform.evidence(&[5; 32]).encode_to_vec(),
            }),
            PeerError::Handshake,
        ),
    ];
    for (call, want) in peer_refusals {
        assert_eq!(refused::<PeerError>(raw(enclave, call)), want);
    }
    assert_eq!(
        raw(
            enclave,
            Call::PeerClose(PeerChannel {
                channel_id: unknown,
                now: 0
            })
        ),
        Ok(Answer::Closed(fog_enclave_api::ingest::Closed {
            was_open: false
        }))
    );
    assert_eq!(
        raw(
            enclave,
            Call::SetEvidence(SetEvidence {
                evidence: vec![0xff; 9]
            })
        ),
        Err(EnclaveError::Malformed)
    );
    assert_eq!(seen(&client), before);

    // The peer channel still works after all that, with the key it had.
    let (other, _) = platform.load();
    other.create(1 << 8).unwrap();
    attest(&platform, &other);
    let channel = connect(&other, &client);
    let frame = client.send_ingress_key(&channel, NOW).unwrap();
    assert_eq!(
        other.receive_ingress_key(&channel, &frame, NOW).unwrap(),
        ingress
    );
}

#[test]
fn calls_out_of_order_go_nowhere() {
    let platform = Platform::new(6);
    // Before `Create` and before evidence.
    let (client, recording) = platform.load();
    let not_yet = Err(EnclaveError::NotInitialized);
    for call in [
        Call::GetIngressPublicKey(Empty {}),
        Call::GetKexRngPubkey(Empty {}),
        Call::GetMapLoad(Empty {}),
        Call::Rotate(Empty {}),
        Call::NewIngressKey(Empty {}),
        Call::Seal(Empty {}),
        Call::IngestBlock(IngestBlock::default()),
        Call::PeerInitiate(Empty {}),
        Call::SendIngressKey(PeerChannel::default()),
    ] {
        assert_eq!(raw(&*recording, call), not_yet);
    }
    client.create(1 << 8).unwrap();
    assert_eq!(
        client.peer_initiate(),
        Err(PeerError::Boundary(EnclaveError::NotInitialized))
    );

    // An enclave loaded without peers takes no peer call, but has a channel key (its report
    // evidence binds it).
    let sealing = SealingKeyProvider::simulated_from_bytes(&platform.key).unwrap();
    let lone = IngestClient::new(IngestBoundary::simulated(sealing, None).unwrap());
    lone.create(1 << 8).unwrap();
    let key = lone.channel_key().unwrap();
    assert_eq!(
        lone.set_evidence(&platform.evidence(&key)),
        Err(PeerError::Boundary(EnclaveError::Unsupported))
    );
    assert_eq!(
        lone.peer_initiate(),
        Err(PeerError::Boundary(EnclaveError::Unsupported))
    );
}

/// An "enclave" whose answers are wrong in each way a host could meet.
struct Liar(fn(&IngestRequest) -> Vec<u8>);

impl Enclave for Liar {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        Ok((self.0)(&IngestRequest::decode(request).unwrap()))
    }
}

fn answer(a: Answer) -> Vec<u8> {
    IngestResponse { answer: Some(a) }.encode_to_vec()
}

#[test]
fn answers_of_the_wrong_kind_are_malformed_at_the_host() {
    let malformed = Some(IngestError::Boundary(EnclaveError::Malformed));
    let peer_malformed = Some(PeerError::Boundary(EnclaveError::Malformed));
    let liars: [fn(&IngestRequest) -> Vec<u8>; 7] = [
        // Always "done".
        |_| answer(Answer::Done(Empty {})),
        // Bytes that are no response.
        |_| vec![0xff; 5],
        // No answer.
        |_| Vec::new(),
        // A refusal this version does not know.
        |_| {
            answer(Answer::Refused(fog_enclave_api::Refusal {
                code: 77,
                detail: 0,
                value: 0,
            }))
        },
        // A load that is not a step of 10 %, and one past 100 %.
        |_| {
            answer(Answer::MapLoad(MapLoad {
                capacity: 1 << 8,
                load_percent: 7,
            }))
        },
        |_| {
            answer(Answer::MapLoad(MapLoad {
                capacity: 1 << 8,
                load_percent: 110,
            }))
        },
        // A key that is no key, for every key-returning call.
        |_| {
            answer(Answer::IngressPublicKey(
                fog_enclave_api::ingest::PublicKey {
                    key: vec![0xff; 32],
                },
            ))
        },
    ];
    for liar in liars {
        let client = IngestClient::new(Arc::new(Liar(liar)));
        assert_eq!(client.ingress_public_key().err(), malformed);
        assert_eq!(client.create(1 << 8).err(), malformed);
        assert_eq!(client.restore(&[1], 1 << 8).err(), malformed);
        assert_eq!(client.kex_rng_pubkey().err(), malformed);
        assert_eq!(client.map_load().err(), malformed);
        assert_eq!(client.rotate().err(), malformed);
        assert_eq!(client.ingest_block(0, 0, 0, &[]).err(), malformed);
        assert_eq!(client.new_ingress_key().err(), malformed);
        assert_eq!(client.seal_ingress_key().err(), malformed);
        assert_eq!(client.channel_key().err(), peer_malformed);
        assert_eq!(client.peer_initiate().err(), peer_malformed);
        assert_eq!(client.peer_finish(0, &[], NOW).err(), peer_malformed);
        assert_eq!(client.peer_accept(&[], NOW).err(), peer_malformed);
        assert_eq!(client.peer_close(&[]).err(), peer_malformed);
        assert_eq!(client.send_ingress_key(&[], NOW).err(), peer_malformed);
        assert_eq!(
            client.receive_ingress_key(&[], &[], NOW).err(),
            peer_malformed
        );
    }
    // `Done` answers `SetEvidence` right, so only the other liars fail it.
    let client = IngestClient::new(Arc::new(Liar(|_| vec![0xff; 5])));
    let platform = Platform::new(7);
    assert_eq!(
        client.set_evidence(&platform.evidence(&[1; 32])).err(),
        peer_malformed
    );
    // Records that do not match the TxOuts in number are refused too.
    let client = IngestClient::new(Arc::new(Liar(|_| {
        answer(Answer::Ingested(fog_enclave_api::ingest::Ingested {
            records: vec![wire::ETxOutRecord::default()],
            rotated_to: None,
        }))
    })));
    assert_eq!(client.ingest_block(0, 0, 0, &[]).err(), malformed);
}

/// Threads lent through the boundary (`RunWorker`) serve blocks, also across a `Create` that
/// replaces the enclave, while the other calls go on (a lent thread holds no lock);
/// `GetWorkers` counts them; `StopWorkers` sends them home, after which a lent thread returns
/// at once and blocks are still ingested, on the caller's thread.
#[test]
fn lent_threads_serve_blocks_until_stopped() {
    let platform = Platform::new(9);
    let mut rng = seeded(10);
    let user = AccountKey::random(&mut rng).with_fog("fog://f", "", b"k");
    let (a, _) = platform.load();
    let w = a.workers().unwrap();
    assert_eq!((w.lent, w.tasks, w.stopped), (0, 0, false));
    // Lent before `Create`: the pool belongs to the loaded enclave, not to one key.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || a.run_worker())
        })
        .collect();
    while a.workers().unwrap().lent < 2 {
        std::thread::yield_now();
    }
    let mut egress = None;
    let mut records = Vec::new();
    let mut global = 0u64;
    for round in 0..2u64 {
        let (ingress, _) = a.create(1 << 10).unwrap();
        egress = Some(a.kex_rng_pubkey().unwrap());
        records.clear();
        global = 0;
        for index in 0..3u64 {
            let txs = block(&user, &ingress, 120, &mut rng);
            let out = a.ingest_block(index, global, 0, &txs).unwrap();
            assert_eq!(out.records.len(), 120, "round {round}");
            records.extend(out.records);
            global += 120;
        }
    }
    // Every other TxOut carries a valid hint: the user finds those of the last key's blocks.
    let want: Vec<u64> = (0..global).step_by(2).collect();
    assert_eq!(found(&user, egress.as_ref().unwrap(), &records), want);
    let w = a.workers().unwrap();
    assert_eq!(w.lent, 2);
    assert!(w.tasks > 0, "the lent threads ran no task of six blocks");
    assert!(!w.stopped);

    a.stop_workers().unwrap();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(()));
    }
    let w = a.workers().unwrap();
    assert_eq!((w.lent, w.stopped), (0, true));
    // A thread lent now comes back at once; blocks run on the caller's thread.
    assert_eq!(a.run_worker(), Ok(()));
    let ingress = a.ingress_public_key().unwrap();
    let txs = block(&user, &ingress, 60, &mut rng);
    let out = a.ingest_block(3, global, 0, &txs).unwrap();
    assert_eq!(out.records.len(), 60);
    assert_eq!(a.workers().unwrap().tasks, w.tasks);
}
