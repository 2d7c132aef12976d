//! The attested channel: handshakes succeed with valid evidence, and each way evidence or a
//! frame can be wrong is refused with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use fog_attest::*;

fn connect(enclave: &EnclaveResponder, verifier: Verifier) -> Result<(Channel, Channel)> {
    let (hs, hello) = ClientHandshake::start(verifier)?;
    let (server, answer) = enclave.accept(&hello, NOW, SessionLimits::default())?;
    let client = hs.finish(&answer, NOW, SessionLimits::default())?;
    Ok((client, server))
}

/// A responder whose evidence was tampered with after it was made (bypasses the
/// constructor's self-check on purpose by building the evidence for the right key and
/// then changing what the test wants).
fn enclave_with(_p: &SimProvider, f: impl FnOnce(&[u8; 32]) -> BoundEvidence) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let ev = f(keys.public_key());
    EnclaveResponder::new(keys, ev).unwrap()
}

#[test]
fn handshake_and_round_trip() {
    let p = provider(1);
    let e = enclave(&p);
    let (mut client, mut server) = connect(&e, measurement_verifier(&p)).unwrap();
    assert_eq!(client.id(), server.id());
    assert_eq!(client.id().0.len(), 64);
    assert_eq!(client.peer().unwrap(), e.evidence());
    assert!(server.peer().is_none());
    for i in 0..3u8 {
        let req = client.seal(b"aad", &[i; 100], NOW).unwrap();
        assert_eq!(req.nonce, u64::from(i));
        assert_ne!(req.data[..100], [i; 100][..]);
        assert_eq!(server.open(&req, NOW).unwrap(), vec![i; 100]);
        let resp = server.seal(b"", b"answer", NOW).unwrap();
        assert_eq!(client.open(&resp, NOW).unwrap(), b"answer");
    }
    // The signer policy accepts the same enclave.
    connect(&e, signer_verifier(&p, 5)).unwrap();
}

#[test]
fn forged_signature_is_refused() {
    let p = provider(2);
    let e = enclave_with(&p, |k| {
        let mut b = bound(&p, k, None, NOW);
        let fog_attest::Evidence::Simulation(sim) = &mut b.evidence else {
            unreachable!("simulated evidence")
        };
        sim.signature[10] ^= 1;
        b
    });
    let err = connect(&e, measurement_verifier(&p)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::BadSignature));
    // Evidence signed by another quoting key.
    let other = provider(3);
    let e = enclave(&other);
    let err = connect(&e, measurement_verifier(&p)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::BadSignature));
}

#[test]
fn unknown_measurement_is_refused() {
    let p = provider(4);
    let e = enclave_with(&p, |k| {
        let mut id = identity();
        id.measurement = Measurement([0x99; 32]);
        let rd = ReportData::bind(k, None);
        BoundEvidence {
            evidence: p.evidence_for(id, &rd, NOW),
            channel_key: *k,
            custom_identity: None,
        }
    });
    let err = connect(&e, measurement_verifier(&p)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::UnknownMeasurement));
}

#[test]
fn old_security_version_wrong_signer_and_product_are_refused() {
    let p = provider(5);
    let e = enclave(&p); // security version 5
    let err = connect(&e, signer_verifier(&p, 6)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::SecurityVersionTooOld));

    let mut id = identity();
    id.signer_id = SignerId([0x33; 32]);
    let ev = p.evidence_for(id, &ReportData([0; 64]), NOW);
    let v = signer_verifier(&p, 1);
    assert_eq!(
        v.verify(&ev, &ReportData([0; 64]), NOW),
        Err(VerifyError::WrongSigner)
    );
    let mut id = identity();
    id.product_id = 8;
    let ev = p.evidence_for(id, &ReportData([0; 64]), NOW);
    assert_eq!(
        v.verify(&ev, &ReportData([0; 64]), NOW),
        Err(VerifyError::WrongProduct)
    );
    let empty = Verifier::new(p.trust_anchor(), Policy::new(vec![], MAX_AGE));
    assert_eq!(
        empty.verify(&ev, &ReportData([0; 64]), NOW),
        Err(VerifyError::EmptyPolicy)
    );
}

#[test]
fn stale_and_future_evidence_are_refused() {
    let p = provider(6);
    let e = enclave_with(&p, |k| bound(&p, k, None, UnixSeconds(NOW.0 - MAX_AGE - 1)));
    let err = connect(&e, measurement_verifier(&p)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::Stale));
    // Exactly at the limit is still fresh.
    let e = enclave_with(&p, |k| bound(&p, k, None, UnixSeconds(NOW.0 - MAX_AGE)));
    connect(&e, measurement_verifier(&p)).unwrap();
    let e = enclave_with(&p, |k| bound(&p, k, None, UnixSeconds(NOW.0 + 3600)));
    let err = connect(&e, measurement_verifier(&p)).unwrap_err();
    assert_eq!(err, Error::Evidence(VerifyError::FromTheFuture));
}

#[test]
fn report_data_bound_to_another_key_is_refused() {
    let p = provider(7);
    // The evidence binds another channel key than the one it claims.
    let keys = ChannelKeypair::generate().unwrap();
    let other = ChannelKeypair::generate().unwrap();
    let mut ev = bound(&p, other.public_key(), None, NOW);
    ev.channel_key = *keys.public_key();
    // The responder's own check catches the misconfiguration...
    assert_eq!(
        EnclaveResponder::new(ChannelKeypair::generate().unwrap(), ev.clone()).unwrap_err(),
        Error::BadRemoteIdentity
    );
    // ...and the verifier refuses it by name.
    assert_eq!(
        measurement_verifier(&p).verify_bound(&ev, NOW),
        Err(VerifyError::ReportDataMismatch)
    );
    // A responder presenting valid evidence for a key that is not its handshake key: an
    // attacker replaying an enclave's evidence with its own key.
    let honest = enclave(&p);
    let replayed = honest.evidence().clone();
    let attacker_keys = ChannelKeypair::generate().unwrap();
    assert!(EnclaveResponder::new(attacker_keys, replayed).is_err());
}

#[test]
fn evidence_for_another_static_key_is_refused_in_the_handshake() {
    // An attacker holding valid evidence for key A answers the handshake with key B. The
    // responder constructor refuses that, so build the answer by hand with snow.
    let p = provider(8);
    let honest = enclave(&p);
    let payload = honest.evidence().encode_to_vec();
    let mut attacker = snow::Builder::new(fog_attest::channel::NX_PROTOCOL.parse().unwrap());
    let kp = attacker.generate_keypair().unwrap();
    attacker = attacker.local_private_key(&kp.private).unwrap();
    let mut responder = attacker.build_responder().unwrap();
    let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
    let mut buf = vec![0u8; 65535];
    responder.read_message(&hello, &mut buf).unwrap();
    let n = responder.write_message(&payload, &mut buf).unwrap();
    let err = hs
        .finish(&buf[..n], NOW, SessionLimits::default())
        .unwrap_err();
    assert_eq!(err, Error::BadRemoteIdentity);
}

#[test]
fn replayed_frame_is_refused() {
    let p = provider(9);
    let (mut client, mut server) = connect(&enclave(&p), measurement_verifier(&p)).unwrap();
    let f0 = client.seal(b"", b"one", NOW).unwrap();
    assert_eq!(server.open(&f0, NOW).unwrap(), b"one");
    assert_eq!(server.open(&f0, NOW), Err(Error::Replayed));
    // The channel still works after the refusal.
    let f1 = client.seal(b"", b"two", NOW).unwrap();
    assert_eq!(server.open(&f1, NOW).unwrap(), b"two");
}

#[test]
fn reordered_frame_is_refused() {
    let p = provider(10);
    let (mut client, mut server) = connect(&enclave(&p), measurement_verifier(&p)).unwrap();
    let f0 = client.seal(b"", b"one", NOW).unwrap();
    let f1 = client.seal(b"", b"two", NOW).unwrap();
    assert_eq!(server.open(&f1, NOW), Err(Error::Reordered));
    assert_eq!(server.open(&f0, NOW).unwrap(), b"one");
    assert_eq!(server.open(&f1, NOW).unwrap(), b"two");
}

#[test]
fn tampered_frames_are_refused_and_change_nothing() {
    let p = provider(11);
    let (mut client, mut server) = connect(&enclave(&p), measurement_verifier(&p)).unwrap();
    let f = client.seal(b"header", b"body", NOW).unwrap();
    let mut bad_aad = f.clone();
    bad_aad.aad = b"Header".to_vec();
    assert_eq!(server.open(&bad_aad, NOW), Err(Error::Decrypt));
    let mut bad_data = f.clone();
    bad_data.data[0] ^= 1;
    assert_eq!(server.open(&bad_data, NOW), Err(Error::Decrypt));
    let mut bad_id = f.clone();
    bad_id.channel_id[0] ^= 1;
    assert_eq!(server.open(&bad_id, NOW), Err(Error::UnknownChannel));
    // A frame the server sent cannot be reflected back to it.
    let reply = server.seal(b"header", b"body", NOW).unwrap();
    assert_eq!(server.open(&reply, NOW), Err(Error::Decrypt));
    assert_eq!(server.open(&f, NOW).unwrap(), b"body");
}

#[test]
fn expired_and_idle_sessions_are_refused() {
    let p = provider(12);
    let limits = SessionLimits {
        max_age_secs: 100,
        idle_secs: 30,
    };
    let e = enclave(&p);
    let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
    let (mut server, answer) = e.accept(&hello, NOW, limits).unwrap();
    let mut client = hs.finish(&answer, NOW, limits).unwrap();
    let mut t = NOW.0;
    // Keep the session busy so only its age ends it.
    while t + 20 < NOW.0 + 100 {
        t += 20;
        let f = client.seal(b"", b"ping", UnixSeconds(t)).unwrap();
        server.open(&f, UnixSeconds(t)).unwrap();
    }
    let late = UnixSeconds(NOW.0 + 100);
    assert_eq!(
        client.seal(b"", b"x", late).unwrap_err(),
        Error::SessionExpired
    );
    let f = client.seal(b"", b"x", UnixSeconds(t)).unwrap();
    assert_eq!(server.open(&f, late), Err(Error::SessionExpired));

    // Idle: no frame for 30 s.
    let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
    let (mut server, answer) = e.accept(&hello, NOW, limits).unwrap();
    let mut client = hs.finish(&answer, NOW, limits).unwrap();
    let f = client.seal(b"", b"x", NOW).unwrap();
    assert_eq!(
        server.open(&f, UnixSeconds(NOW.0 + 30)),
        Err(Error::SessionIdle)
    );
}

#[test]
fn session_table_routes_by_channel_id_and_evicts() {
    let p = provider(13);
    let e = enclave(&p);
    let mut table = SessionTable::new(2);
    let mut clients = Vec::new();
    for i in 0..3u64 {
        let (hs, hello) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
        let now = UnixSeconds(NOW.0 + i);
        let (server, answer) = e.accept(&hello, now, SessionLimits::default()).unwrap();
        table.insert(PeerKey::UNKNOWN, server);
        clients.push(hs.finish(&answer, now, SessionLimits::default()).unwrap());
    }
    assert_eq!(table.len(), 2);
    let now = UnixSeconds(NOW.0 + 5);
    // The first (least recently used) session was evicted.
    let f = clients[0].seal(b"", b"a", now).unwrap();
    assert_eq!(table.open(&f, now), Err(Error::UnknownChannel));
    for c in &mut clients[1..] {
        let f = c.seal(b"", b"b", now).unwrap();
        assert_eq!(table.open(&f, now).unwrap(), b"b");
        let r = table.seal(&c.id().0, b"", b"c", now).unwrap();
        assert_eq!(c.open(&r, now).unwrap(), b"c");
    }
    assert!(table.close(&clients[1].id().0));
    let f = clients[1].seal(b"", b"a", now).unwrap();
    assert_eq!(table.open(&f, now), Err(Error::UnknownChannel));
}

/// An anonymous NX session of `peer`, made at `now`, kept in `table`; returns the client end.
fn handshake_into(
    table: &mut SessionTable,
    e: &EnclaveResponder,
    p: &SimProvider,
    peer: PeerKey,
    now: UnixSeconds,
) -> Channel {
    let (hs, hello) = ClientHandshake::start(measurement_verifier(p)).unwrap();
    let (server, answer) = e.accept(&hello, now, SessionLimits::default()).unwrap();
    table.insert(peer, server);
    hs.finish(&answer, now, SessionLimits::default()).unwrap()
}

fn ip(s: &str) -> PeerKey {
    PeerKey::from_ip(s.parse().unwrap())
}

/// Attack: one peer (one IP) opens handshake after handshake, three times the table's
/// capacity, as an anonymous client can for free. The other peer's session, made first and
/// not used since (the least recently used of all), must stay live.
#[test]
fn a_handshake_flood_from_one_peer_does_not_evict_another_peers_session() {
    let p = provider(15);
    let e = enclave(&p);
    let capacity = 16;
    let mut table = SessionTable::with_per_peer(capacity, 4);
    let victim = ip("192.0.2.7");
    let attacker = ip("198.51.100.9");
    let mut alice = handshake_into(&mut table, &e, &p, victim, NOW);
    for i in 0..3 * capacity as u64 {
        handshake_into(&mut table, &e, &p, attacker, UnixSeconds(NOW.0 + 1 + i));
    }
    assert_eq!(
        table.peer_len(&attacker),
        4,
        "the flood holds its own budget only"
    );
    assert_eq!(table.peer_len(&victim), 1);
    let now = UnixSeconds(NOW.0 + 100);
    let f = alice.seal(b"", b"balance?", now).unwrap();
    assert_eq!(table.open(&f, now).unwrap(), b"balance?");

    // With no per-peer bound at all, a full table still takes the flood's sessions from the
    // flooding peer (the one holding the most), never from a peer with fewer.
    let mut table = SessionTable::new(capacity);
    let mut alice = handshake_into(&mut table, &e, &p, victim, NOW);
    for i in 0..3 * capacity as u64 {
        handshake_into(&mut table, &e, &p, attacker, UnixSeconds(NOW.0 + 1 + i));
    }
    assert_eq!(table.len(), capacity);
    assert_eq!(table.peer_len(&attacker), capacity - 1);
    let f = alice.seal(b"", b"still here", now).unwrap();
    assert_eq!(table.open(&f, now).unwrap(), b"still here");
}

#[test]
fn a_peer_at_its_bound_replaces_its_own_least_recently_used_session() {
    let p = provider(16);
    let e = enclave(&p);
    let mut table = SessionTable::with_per_peer(8, 2);
    let me = ip("2001:db8:1:2:aaaa::1");
    // Another address of the same /64 is the same peer; an IPv4-mapped address is its IPv4.
    assert_eq!(me, ip("2001:db8:1:2:ffff::9"));
    assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    assert_ne!(me, ip("2001:db8:1:3::1"));
    let mut a = handshake_into(&mut table, &e, &p, me, NOW);
    let mut b = handshake_into(&mut table, &e, &p, me, NOW);
    // `a` is used after `b`, so `b` is the least recently used when a third arrives.
    let f = a.seal(b"", b"1", NOW).unwrap();
    table.open(&f, NOW).unwrap();
    let mut c = handshake_into(&mut table, &e, &p, me, NOW);
    assert_eq!(table.len(), 2);
    let f = b.seal(b"", b"2", NOW).unwrap();
    assert_eq!(table.open(&f, NOW), Err(Error::UnknownChannel));
    for ch in [&mut a, &mut c] {
        let f = ch.seal(b"", b"3", NOW).unwrap();
        assert_eq!(table.open(&f, NOW).unwrap(), b"3");
    }
    // Closing and expiry give the budget back.
    assert!(table.close(&a.id().0));
    assert_eq!(table.peer_len(&me), 1);
    let late = UnixSeconds(NOW.0 + SessionLimits::default().idle_secs + 1);
    let f = c.seal(b"", b"4", NOW).unwrap();
    assert_eq!(table.open(&f, late), Err(Error::SessionIdle));
    assert_eq!(table.peer_len(&me), 0);
    assert!(table.is_empty());
    assert_eq!(
        format!("{me:?}"),
        "PeerKey(…)",
        "addresses are never printed"
    );
}

#[test]
fn ingest_peers_attest_each_other_with_ix() {
    let p = provider(14);
    let ingress = [0x42u8; 32];
    let mk = || {
        let keys = ChannelKeypair::generate().unwrap();
        let ev = bound(&p, keys.public_key(), Some(ingress), NOW);
        EnclaveResponder::new(keys, ev).unwrap()
    };
    let (a, b) = (mk(), mk());
    let (hs, hello) = a.peer_initiate(measurement_verifier(&p)).unwrap();
    let (mut b_ch, answer) = b
        .peer_accept(
            &hello,
            &measurement_verifier(&p),
            NOW,
            SessionLimits::default(),
        )
        .unwrap();
    let mut a_ch = hs.finish(&answer, NOW, SessionLimits::default()).unwrap();
    assert_eq!(a_ch.id(), b_ch.id());
    assert_eq!(a_ch.peer().unwrap().custom_identity, Some(ingress));
    assert_eq!(b_ch.peer().unwrap(), a.evidence());
    let f = a_ch.seal(b"ingress", b"secret key bytes", NOW).unwrap();
    assert_eq!(b_ch.open(&f, NOW).unwrap(), b"secret key bytes");

    // A peer whose evidence fails the policy is refused by the responder.
    let stranger = provider(15);
    let keys = ChannelKeypair::generate().unwrap();
    let ev = bound(&stranger, keys.public_key(), Some(ingress), NOW);
    let c = EnclaveResponder::new(keys, ev).unwrap();
    let (_, hello) = c.peer_initiate(measurement_verifier(&p)).unwrap();
    assert_eq!(
        b.peer_accept(
            &hello,
            &measurement_verifier(&p),
            NOW,
            SessionLimits::default()
        )
        .unwrap_err(),
        Error::Evidence(VerifyError::BadSignature)
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let keys = ChannelKeypair::generate().unwrap();
    let s = format!("{keys:?}");
    assert!(s.starts_with("ChannelKeypair { public: "));
    assert!(!s.contains("private"));
    let p = provider(16);
    let s = format!("{p:?}");
    assert!(s.contains("quoting_public_key"));
    assert!(!s.contains("SigningKey"));
}

#[test]
fn garbage_handshake_messages_are_refused() {
    let p = provider(17);
    let e = enclave(&p);
    for bad in [&b""[..], &[0u8; 10][..], &[0xffu8; 200][..]] {
        assert!(e.accept(bad, NOW, SessionLimits::default()).is_err());
        let (hs, _) = ClientHandshake::start(measurement_verifier(&p)).unwrap();
        assert!(hs.finish(bad, NOW, SessionLimits::default()).is_err());
    }
}
