//! Ingest enclaves share the ingress key over attested IX channels: the key moves only
//! between enclaves the verifier accepts, a frame opens once and on its own channel, and a
//! refused frame changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    fog_identity, BoundEvidence, ChannelKeypair, EnclaveIdentity, EnclaveResponder, FogEnclave,
    IdentityRule, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave::ingest::IngestEnclave;
use fog_enclave::ingest_peers::{IngestPeers, PeerError};
use fog_oram::HeapFactory;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const NOW: UnixSeconds = UnixSeconds(1_700_000_000);

type Enclave = IngestEnclave<
    HeapFactory,
    ChaCha20Rng,
    ChaCha20Rng,
    Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng) + Send + Sync>,
>;

fn enclave(seed: u64) -> Enclave {
    let make: Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng) + Send + Sync> =
        Box::new(move || (HeapFactory, ChaCha20Rng::seed_from_u64(seed + 100)));
    IngestEnclave::new(1 << 8, ChaCha20Rng::seed_from_u64(seed), make).unwrap()
}

/// Peers proven by `provider` with `identity`, trusting `trusted`.
fn peers(provider: &SimProvider, identity: EnclaveIdentity, trusted: &Verifier) -> IngestPeers {
    let _ = identity;
    let keys = ChannelKeypair::generate().unwrap();
    let evidence = BoundEvidence {
        evidence: provider.evidence_at(&ReportData::bind(keys.public_key(), None), NOW),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let responder = EnclaveResponder::new(keys, evidence).unwrap();
    IngestPeers::new(
        fog_enclave::ingest_peers::INGRESS_KEY,
        responder,
        trusted.clone(),
        SessionLimits::default(),
    )
}

fn setup(seed: u64) -> (SimProvider, Verifier) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = fog_identity(FogEnclave::Ingest);
    let provider = SimProvider::generate(&mut rng, identity);
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (provider, verifier)
}

/// A connects to B (A initiates, B accepts): the channel id on both ends.
fn connect(a: &mut IngestPeers, b: &mut IngestPeers) -> Vec<u8> {
    let (token, hello) = a.initiate().unwrap();
    let (id_b, reply) = b.accept(&hello, NOW).unwrap();
    let id_a = a.finish(token, &reply, NOW).unwrap();
    assert_eq!(id_a, id_b);
    id_a
}

#[test]
fn key_moves_between_attested_enclaves_both_ways() {
    let (provider, verifier) = setup(1);
    let identity = fog_identity(FogEnclave::Ingest);
    let mut pa = peers(&provider, identity, &verifier);
    let mut pb = peers(&provider, identity, &verifier);
    let active = enclave(1);
    let mut idle = enclave(2);
    assert_ne!(active.ingress_public_key(), idle.ingress_public_key());

    // Push: the active server's enclave seals its key; the peer's enclave takes it.
    let channel = connect(&mut pa, &mut pb);
    let frame = active.send_ingress_key(&mut pa, &channel, NOW).unwrap();
    let key = active.ingress_public_key();
    assert!(
        !frame
            .windows(32)
            .any(|w| w == key.to_bytes().as_slice() || w == [0u8; 32]),
        "the frame is ciphertext"
    );
    let got = idle
        .receive_ingress_key(&mut pb, &channel, &frame, NOW)
        .unwrap();
    assert_eq!(got, key);
    assert_eq!(idle.ingress_public_key(), key);
    // The same frame again is a replay.
    assert_eq!(
        idle.receive_ingress_key(&mut pb, &channel, &frame, NOW),
        Err(PeerError::BadFrame)
    );

    // Pull: a fresh idle server starts the channel and the key holder sends on it.
    let mut fresh = enclave(3);
    let mut pc = peers(&provider, identity, &verifier);
    let channel = connect(&mut pc, &mut pa);
    let frame = active.send_ingress_key(&mut pa, &channel, NOW).unwrap();
    assert_eq!(
        fresh
            .receive_ingress_key(&mut pc, &channel, &frame, NOW)
            .unwrap(),
        key
    );
}

#[test]
fn untrusted_enclaves_get_no_channel() {
    let (provider, verifier) = setup(2);
    let identity = fog_identity(FogEnclave::Ingest);
    // Another enclave (the view's measurement) signed by the same quoting key, which itself
    // trusts ingest enclaves: only the measurement tells them apart.
    let view = SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(2),
        fog_identity(FogEnclave::View),
    );
    assert_eq!(view.trust_anchor(), provider.trust_anchor());
    let mut ingest = peers(&provider, identity, &verifier);
    let mut other = peers(&view, fog_identity(FogEnclave::View), &verifier);
    // The other enclave starts: the ingest enclave refuses its evidence.
    let (_, hello) = other.initiate().unwrap();
    assert_eq!(
        ingest.accept(&hello, NOW).map(|_| ()),
        Err(PeerError::Handshake)
    );
    // The ingest enclave starts: the other answers, and the ingest enclave refuses it.
    let (token, hello) = ingest.initiate().unwrap();
    let (_, reply) = other.accept(&hello, NOW).unwrap();
    assert_eq!(
        ingest.finish(token, &reply, NOW).map(|_| ()),
        Err(PeerError::Handshake)
    );
    assert!(ingest.is_empty());
}

#[test]
fn bad_frames_change_nothing() {
    let (provider, verifier) = setup(3);
    let identity = fog_identity(FogEnclave::Ingest);
    let mut pa = peers(&provider, identity, &verifier);
    let mut pb = peers(&provider, identity, &verifier);
    let active = enclave(1);
    let mut idle = enclave(2);
    let before = idle.ingress_public_key();
    let channel = connect(&mut pa, &mut pb);
    let frame = active.send_ingress_key(&mut pa, &channel, NOW).unwrap();

    // A flipped bit anywhere, garbage, an unknown channel, an empty frame.
    for i in 0..frame.len() {
        let mut bad = frame.clone();
        bad[i] ^= 1;
        assert!(idle
            .receive_ingress_key(&mut pb, &channel, &bad, NOW)
            .is_err());
        assert_eq!(idle.ingress_public_key(), before);
    }
    assert_eq!(
        idle.receive_ingress_key(&mut pb, &[7u8; 64], &frame, NOW),
        Err(PeerError::BadFrame),
        "a frame names its channel"
    );
    assert_eq!(
        idle.receive_ingress_key(&mut pb, &channel, &[], NOW),
        Err(PeerError::BadFrame)
    );
    assert_eq!(
        idle.receive_ingress_key(&mut pb, &channel, &vec![0xff; 5000], NOW),
        Err(PeerError::BadFrame)
    );
    assert_eq!(idle.ingress_public_key(), before);
    // The good frame still opens: the failures consumed nothing.
    assert_eq!(
        idle.receive_ingress_key(&mut pb, &channel, &frame, NOW)
            .unwrap(),
        active.ingress_public_key()
    );
}

#[test]
fn new_ingress_key_replaces_the_key() {
    let mut e = enclave(5);
    let old = e.ingress_public_key();
    let new = e.new_ingress_key();
    assert_ne!(old, new);
    assert_eq!(e.ingress_public_key(), new);
}
