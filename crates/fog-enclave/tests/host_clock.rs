//! The host's clock is an input trusted code cannot check: once an enclave has seen a time, a
//! host that rewinds its clock does not make a peer's stale evidence acceptable again, nor
//! revive an expired client session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fog_attest::{
    fog_identity, BoundEvidence, ChannelKeypair, ClientHandshake, EnclaveResponder, FogEnclave,
    IdentityRule, PeerKey, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave::clock::HostClock;
use fog_enclave::ingest_peers::{IngestPeers, PeerError};
use fog_enclave::sessions::{ClientSessions, SessionError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// When both peers' evidence was made.
const MADE: UnixSeconds = UnixSeconds(1_700_000_000);
/// Evidence is accepted for an hour.
const MAX_AGE: u64 = 3600;

fn provider() -> SimProvider {
    SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(3),
        fog_identity(FogEnclave::Ingest),
    )
}

fn verifier(p: &SimProvider) -> Verifier {
    Verifier::new(
        p.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_identity(FogEnclave::Ingest).measurement,
            )],
            MAX_AGE,
        ),
    )
}

fn responder(p: &SimProvider) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let evidence = BoundEvidence {
        evidence: p.evidence_at(&ReportData::bind(keys.public_key(), None), MADE),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    EnclaveResponder::new(keys, evidence).unwrap()
}

fn peers(p: &SimProvider) -> IngestPeers {
    IngestPeers::new(
        fog_enclave::ingest_peers::INGRESS_KEY,
        responder(p),
        verifier(p),
        SessionLimits::default(),
    )
}

#[test]
fn the_clock_never_goes_back() {
    let c = HostClock::new();
    assert_eq!(c.observe(UnixSeconds(10)), UnixSeconds(10));
    assert_eq!(c.observe(UnixSeconds(5)), UnixSeconds(10));
    assert_eq!(c.observe(UnixSeconds(12)), UnixSeconds(12));
    assert_eq!(c.latest(), UnixSeconds(12));
}

#[test]
fn a_rewound_clock_does_not_make_a_peers_stale_evidence_fresh() {
    let p = provider();
    let fresh = UnixSeconds(MADE.0 + 60);
    let stale = UnixSeconds(MADE.0 + 2 * MAX_AGE);

    // At a fresh time two peers connect.
    let (mut a, mut b) = (peers(&p), peers(&p));
    let (token, hello) = a.initiate().unwrap();
    let (_, reply) = b.accept(&hello, fresh).unwrap();
    assert!(a.finish(token, &reply, fresh).is_ok());

    // Two hours on, the evidence is stale: the responder refuses it...
    let mut b = peers(&p);
    let (_, hello) = peers(&p).initiate().unwrap();
    assert_eq!(b.accept(&hello, stale).unwrap_err(), PeerError::Handshake);
    // ...and a host that then rewinds its clock to when the evidence was fresh gets the same
    // answer for a new hello, which at that time would have passed.
    let (_, hello) = peers(&p).initiate().unwrap();
    assert_eq!(b.accept(&hello, fresh).unwrap_err(), PeerError::Handshake);
    assert!(
        peers(&p).accept(&hello, fresh).is_ok(),
        "fresh on a new enclave"
    );

    // The initiator's side likewise: once it has seen the real time, a reply made at the
    // fresh time does not finish at the rewound one.
    let mut a = peers(&p);
    let (token, hello) = a.initiate().unwrap();
    let (_, reply) = peers(&p).accept(&hello, fresh).unwrap();
    let _ = a.accept(b"not a hello", stale); // any call shows the enclave the time
    assert_eq!(
        a.finish(token, &reply, fresh).unwrap_err(),
        PeerError::Handshake
    );
}

#[test]
fn a_rewound_clock_does_not_revive_an_expired_client_session() {
    let p = provider();
    let limits = SessionLimits {
        max_age_secs: 600,
        idle_secs: 600,
    };
    let sessions = ClientSessions::new(responder(&p), 16, limits);
    let start = UnixSeconds(MADE.0 + 10);
    let later = UnixSeconds(start.0 + 700);
    let connect = |now| {
        let (hs, hello) = ClientHandshake::start(verifier(&p)).unwrap();
        let answer = sessions.accept(&hello, PeerKey::UNKNOWN, now).unwrap();
        hs.finish(&answer, now, limits).unwrap()
    };
    let mut client = connect(start);
    let frame = client.seal(b"", b"first", start).unwrap();
    assert!(sessions.open(&frame, start).is_ok());
    // Another client connects after the first session's lifetime: the enclave sees the time
    // (the first session itself is not touched).
    let _second = connect(later);
    // A frame of the first session at the rewound time: expired all the same.
    let frame = client.seal(b"", b"second", start).unwrap();
    assert_eq!(
        sessions.open(&frame, start).unwrap_err(),
        SessionError::UnknownSession
    );
}
