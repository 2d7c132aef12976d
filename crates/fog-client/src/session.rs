//! Attested sessions with view and the fog ledger, sans-IO: what every transport (tonic,
//! grpc-web, a binding's) does around the bytes it moves.
//!
//! A [`Session`] is one service's attested channel (`fog_attest`'s Noise NX channel) and
//! what it takes to open one: the service's URI, the [`Verifier`] of its enclave's evidence
//! and this side's [`SessionLimits`]. It lives across calls: a transport authenticates once
//! and reuses the session until it expires or a call fails.
//!
//! A [`Call`] is one attested request over a session, driven step by step:
//!
//! 1. [`Call::start`] gives a [`Step`]: [`Step::Auth`] (no session yet: send this handshake
//!    message to the service's `Auth`) or [`Step::Send`] (the request, sealed).
//! 2. The transport sends it and hands back what came: an `Auth` answer to
//!    [`Call::authenticated`] (which verifies the enclave's evidence *before* any request is
//!    sealed, then gives the next step); a sealed answer to [`Call::answered`] (which opens
//!    it: the call's result); a failure to [`Call::failed`].
//!
//! The rules, the same for every transport:
//! - A session that cannot seal (expired on this side, counter exhausted) is dropped and a
//!   new one opened before anything is sent.
//! - An UNAUTHENTICATED answer (the server does not know the session, or let it expire)
//!   drops the session, authenticates again and retries once; a second refusal is
//!   [`ClientError::Refused`]. Any other failure, and an answer that does not open, also
//!   drops the session (its counters may no longer match the server's), so the next call
//!   starts a fresh one.
//! - A refused handshake is [`ClientError::Attestation`] naming the session's service and
//!   URI; nothing is sealed for an enclave whose evidence was not accepted.
//!
//! This module does no I/O and keeps no clock of its own: it reads [`UnixSeconds::now`]
//! (the browser's clock on wasm32) to age sessions. Byte and round-trip counts stay with the
//! transport; the session counts the handshakes that succeeded ([`Session::opened`]).

use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    Channel, ClientHandshake, SessionLimits, UnixSeconds, Verdict, Verifier,
};

use crate::error::{ClientError, Result, Service};

/// The gRPC name of the status code that makes a call authenticate again and retry once.
pub const UNAUTHENTICATED_NAME: &str = "Unauthenticated";

/// One service's attested session (module docs).
pub struct Session {
    service: Service,
    uri: String,
    verifier: Verifier,
    limits: SessionLimits,
    channel: Option<Channel>,
    opened: u64,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("service", &self.service)
            .field("uri", &self.uri)
            .field("open", &self.channel.is_some())
            .field("opened", &self.opened)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session with `service` at `uri` (not open yet). `service` is the one whose `Auth`
    /// the handshake goes through ([`Service::View`], or [`Service::KeyImages`] for the fog
    /// ledger's session, which its other attested calls share); refused handshakes name it.
    pub fn new(
        service: Service,
        uri: impl Into<String>,
        verifier: Verifier,
        limits: SessionLimits,
    ) -> Self {
        Self {
            service,
            uri: uri.into(),
            verifier,
            limits,
            channel: None,
            opened: 0,
        }
    }

    /// The service whose `Auth` opens this session.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Where the service is.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether a session is open (it may still turn out expired when sealing).
    pub fn is_open(&self) -> bool {
        self.channel.is_some()
    }

    /// Sessions opened so far: handshakes whose evidence was verified.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// What the verifier said of the enclave, while a session is open.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.channel.as_ref().and_then(Channel::peer_verdict)
    }

    /// Drops the session (the next call authenticates again).
    pub fn close(&mut self) {
        self.channel = None;
    }

    /// The same service, URI, verifier and limits, with no session and no count: another
    /// client's session.
    pub fn fresh(&self) -> Self {
        Self::new(
            self.service,
            self.uri.clone(),
            self.verifier.clone(),
            self.limits,
        )
    }

    fn attestation(&self, source: fog_attest::Error) -> ClientError {
        ClientError::Attestation {
            service: self.service,
            uri: self.uri.clone(),
            source,
        }
    }
}

/// What a transport sends next for a [`Call`].
#[derive(Debug)]
pub enum Step {
    /// The handshake's first message, for the session's service's `Auth`; its answer goes
    /// to [`Call::authenticated`].
    Auth(AuthMessage),
    /// The request, sealed, for the call's RPC; its answer goes to [`Call::answered`], a
    /// failure to [`Call::failed`].
    Send(NonceMessage),
}

/// One attested request (module docs). It borrows its session only within each method, so
/// a transport may hold the session inside itself while it awaits the network.
pub struct Call<'a> {
    which: Service,
    aad: &'a [u8],
    body: &'a [u8],
    /// Sessions given up on so far in this call (at most one is renewed).
    attempt: u8,
    handshake: Option<ClientHandshake>,
}

impl core::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Call")
            .field("which", &self.which)
            .field("attempt", &self.attempt)
            .field("handshake", &self.handshake.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> Call<'a> {
    /// A call of `which`'s RPC: `aad` goes in clear, `body` encrypted.
    pub fn new(which: Service, aad: &'a [u8], body: &'a [u8]) -> Self {
        Self {
            which,
            aad,
            body,
            attempt: 0,
            handshake: None,
        }
    }

    /// The first step.
    pub fn start(&mut self, session: &mut Session) -> Result<Step> {
        self.next(session)
    }

    /// The service's `Auth` answered: verifies the enclave's evidence and keeps the session
    /// (refused: [`ClientError::Attestation`], and nothing is kept), then seals the request.
    pub fn authenticated(&mut self, session: &mut Session, answer: &AuthMessage) -> Result<Step> {
        let handshake = self.handshake.take().ok_or(ClientError::Misuse(
            "an Auth answer with no handshake under way",
        ))?;
        let channel = handshake
            .finish(&answer.data, UnixSeconds::now(), session.limits)
            .map_err(|e| session.attestation(e))?;
        session.channel = Some(channel);
        session.opened += 1;
        self.next(session)
    }

    /// The sealed answer came: opens it (the call's result). One that does not open drops
    /// the session and is [`ClientError::BadResponse`].
    pub fn answered(self, session: &mut Session, reply: &NonceMessage) -> Result<Vec<u8>> {
        let channel = session
            .channel
            .as_mut()
            .ok_or(ClientError::Misuse("session lost during a call"))?;
        channel.open(reply, UnixSeconds::now()).map_err(|e| {
            session.channel = None;
            ClientError::bad(self.which, format!("the answer does not open: {e}"))
        })
    }

    /// The request failed (`error`, as the transport names it). Drops the session; if the
    /// failure was UNAUTHENTICATED and no session was renewed yet in this call, starts again
    /// (a handshake, then the request), otherwise gives the error back.
    pub fn failed(
        &mut self,
        session: &mut Session,
        unauthenticated: bool,
        error: ClientError,
    ) -> Result<Step> {
        session.channel = None;
        if unauthenticated && self.attempt == 0 {
            self.attempt += 1;
            return self.next(session);
        }
        Err(error)
    }

    fn next(&mut self, session: &mut Session) -> Result<Step> {
        while self.attempt < 2 {
            let Some(channel) = session.channel.as_mut() else {
                let (handshake, hello) = ClientHandshake::start(session.verifier.clone())
                    .map_err(|e| session.attestation(e))?;
                self.handshake = Some(handshake);
                return Ok(Step::Auth(AuthMessage { data: hello }));
            };
            match channel.seal(self.aad, self.body, UnixSeconds::now()) {
                Ok(frame) => return Ok(Step::Send(frame)),
                Err(_) => {
                    // Expired on this side or counter exhausted: a new session.
                    session.channel = None;
                    self.attempt += 1;
                }
            }
        }
        Err(ClientError::Refused {
            service: self.which,
            code: UNAUTHENTICATED_NAME.into(),
            message: "the session was refused again after authenticating anew".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use fog_attest::{
        EnclaveResponder, FogEnclave, IdentityRule, Policy, SimProvider, VerifyError,
    };
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    const URI: &str = "http://127.0.0.1:3225";

    fn enclave(seed: u64) -> (EnclaveResponder, Verifier) {
        let identity = fog_attest::fog_identity(FogEnclave::View);
        let p = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
        let v = Verifier::new(
            p.trust_anchor(),
            Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
        );
        (EnclaveResponder::from_provider(&p).unwrap(), v)
    }

    /// The enclave's side of one handshake: its session and the `Auth` answer.
    fn accept(e: &EnclaveResponder, step: Step) -> (Channel, AuthMessage) {
        let Step::Auth(hello) = step else {
            panic!("expected a handshake, got {step:?}")
        };
        let (channel, answer) = e
            .accept(&hello.data, UnixSeconds::now(), SessionLimits::default())
            .unwrap();
        (channel, AuthMessage { data: answer })
    }

    fn sent(step: Step) -> NonceMessage {
        match step {
            Step::Send(frame) => frame,
            Step::Auth(_) => panic!("expected a sealed request"),
        }
    }

    #[test]
    fn a_call_authenticates_once_and_the_session_serves_the_next() {
        let (e, verifier) = enclave(1);
        let mut s = Session::new(Service::View, URI, verifier, SessionLimits::default());
        let mut call = Call::new(Service::View, b"aad", b"question");
        let (mut server, answer) = accept(&e, call.start(&mut s).unwrap());
        let frame = sent(call.authenticated(&mut s, &answer).unwrap());
        assert_eq!(s.opened(), 1);
        assert!(s.verdict().is_some());
        assert_eq!(frame.aad, b"aad");
        assert_eq!(
            server.open(&frame, UnixSeconds::now()).unwrap(),
            b"question"
        );
        let reply = server.seal(&[], b"answer", UnixSeconds::now()).unwrap();
        assert_eq!(call.answered(&mut s, &reply).unwrap(), b"answer");

        // The next call seals at once over the same session.
        let mut call = Call::new(Service::View, &[], b"again");
        let frame = sent(call.start(&mut s).unwrap());
        assert_eq!(server.open(&frame, UnixSeconds::now()).unwrap(), b"again");
        assert_eq!(s.opened(), 1);
    }

    #[test]
    fn unauthenticated_renews_the_session_once_then_gives_up() {
        let (e, verifier) = enclave(2);
        let mut s = Session::new(Service::View, URI, verifier, SessionLimits::default());
        let mut call = Call::new(Service::View, &[], b"q");
        let (_, answer) = accept(&e, call.start(&mut s).unwrap());
        sent(call.authenticated(&mut s, &answer).unwrap());
        let refused = || ClientError::Refused {
            service: Service::View,
            code: UNAUTHENTICATED_NAME.into(),
            message: "unknown session".into(),
        };
        // The first refusal: a new handshake, then the request again.
        let step = call.failed(&mut s, true, refused()).unwrap();
        assert!(!s.is_open());
        let (mut server, answer) = accept(&e, step);
        let frame = sent(call.authenticated(&mut s, &answer).unwrap());
        assert_eq!(server.open(&frame, UnixSeconds::now()).unwrap(), b"q");
        assert_eq!(s.opened(), 2);
        // The second: the error, and no session.
        let e = call.failed(&mut s, true, refused()).unwrap_err();
        assert!(
            matches!(&e, ClientError::Refused { message, .. } if message == "unknown session"),
            "{e}"
        );
        assert!(!s.is_open());
    }

    #[test]
    fn other_failures_and_unopenable_answers_drop_the_session() {
        let (e, verifier) = enclave(3);
        let mut s = Session::new(Service::KeyImages, URI, verifier, SessionLimits::default());
        let mut call = Call::new(Service::BlockIds, &[], b"q");
        let (mut server, answer) = accept(&e, call.start(&mut s).unwrap());
        sent(call.authenticated(&mut s, &answer).unwrap());
        let unavailable = ClientError::Unavailable {
            service: Service::BlockIds,
            uri: URI.into(),
            reason: "timeout".into(),
        };
        assert!(matches!(
            call.failed(&mut s, false, unavailable),
            Err(ClientError::Unavailable { .. })
        ));
        assert!(!s.is_open());

        let mut call = Call::new(Service::BlockIds, &[], b"q");
        let (mut server2, answer) = accept(&e, call.start(&mut s).unwrap());
        let frame = sent(call.authenticated(&mut s, &answer).unwrap());
        server2.open(&frame, UnixSeconds::now()).unwrap();
        // An answer sealed by another session does not open.
        let forged = server.seal(&[], b"x", UnixSeconds::now()).unwrap();
        let e = call.answered(&mut s, &forged).unwrap_err();
        assert!(
            matches!(
                &e,
                ClientError::BadResponse {
                    service: Service::BlockIds,
                    ..
                }
            ),
            "{e}"
        );
        assert!(!s.is_open());
        assert_eq!(s.opened(), 2);
    }

    #[test]
    fn a_stranger_enclave_is_refused_before_anything_is_sealed() {
        let (e, _) = enclave(4);
        let (_, stranger) = enclave(5);
        let mut s = Session::new(Service::View, URI, stranger, SessionLimits::default());
        let mut call = Call::new(Service::View, &[], b"q");
        let (_, answer) = accept(&e, call.start(&mut s).unwrap());
        let err = call.authenticated(&mut s, &answer).unwrap_err();
        assert!(
            matches!(
                &err,
                ClientError::Attestation {
                    service: Service::View,
                    uri,
                    source: fog_attest::Error::Evidence(VerifyError::BadSignature),
                } if uri == URI
            ),
            "{err}"
        );
        assert!(!s.is_open());
        assert_eq!(s.opened(), 0);
        // A second answer without a handshake is a driver bug, not a session.
        assert!(matches!(
            call.authenticated(&mut s, &answer),
            Err(ClientError::Misuse(_))
        ));
    }

    #[test]
    fn a_session_expired_on_this_side_is_renewed_before_sending() {
        let (e, verifier) = enclave(6);
        // Sessions this side considers expired at once.
        let limits = SessionLimits {
            max_age_secs: 0,
            idle_secs: 0,
        };
        let mut s = Session::new(Service::View, URI, verifier, limits);
        let mut call = Call::new(Service::View, &[], b"q");
        let (_, answer) = accept(&e, call.start(&mut s).unwrap());
        // It cannot seal: a second handshake; that one cannot either: the call gives up
        // without sending anything.
        let (_, answer2) = accept(&e, call.authenticated(&mut s, &answer).unwrap());
        let err = call.authenticated(&mut s, &answer2).unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused { code, .. } if code == UNAUTHENTICATED_NAME),
            "{err}"
        );
        assert_eq!(s.opened(), 2);
        assert!(!s.is_open());
    }
}
