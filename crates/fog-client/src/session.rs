//! Attested sessions with view and the fog ledger, sans-IO: what every transport (tonic,
//! grpc-web, a binding's) does around the bytes it moves.
//!
//! A [`Session`] is one service's attested channel (`fog_attest`'s Noise NX channel) and
//! what it takes to open one: the service's URI, the [`Verifier`] of its enclave's evidence
//! and this side's [`SessionLimits`]. It lives across calls: a transport authenticates once
//! and reuses the session until it expires or a call fails.
//!
//! [`attested_call`] is one attested RPC, typed: a request message in, its answer out. It is
//! generic over the RPC, an [`AttestedRequest`] (the request type names its answer type, its
//! service and its gRPC path: the one table of attested RPCs, which every transport reads),
//! and over the transport, an [`AttestedTransport`] (it holds the sessions and moves two
//! kinds of message: a handshake message to the session's `Auth`, a sealed request to the
//! RPC's path). Fog's tonic and grpc-web transports both call it.
//!
//! Under it, a [`Call`] is one attested request over a session, driven step by step (a
//! transport that cannot use [`attested_call`] drives it itself):
//!
//! 1. [`Call::start`] gives a [`Step`]: [`Step::Auth`] (no session yet: send this handshake
//!    message to the service's `Auth`) or [`Step::Send`] (the request, sealed).
//! 2. The transport sends it and hands back what came: an `Auth` answer to
//!    [`Call::authenticated`] (which verifies the enclave's evidence *before* any request is
//!    sealed, then gives the next step); a sealed answer to [`Call::answered`] (which opens
//!    it: [`Step::Done`] with the call's result, or the next step of a retry); a failure to
//!    [`Call::failed`].
//!
//! The rules, the same for every transport:
//! - A session that cannot seal (expired on this side, counter exhausted) is dropped and a
//!   new one opened before anything is sent.
//! - A session whose last call was abandoned between sealing its request and opening the
//!   answer (the call's future was dropped: a cancelled task, a timeout) is dropped and a new
//!   one opened before anything is sent. Its counters may no longer match the server's (the
//!   server may or may not have received that request), so anything sealed on it could be
//!   refused as out of order, or its answer fail to open.
//! - An UNAUTHENTICATED answer (the server does not know the session, or let it expire), and
//!   a sealed answer that does not open because its counter is out of step with this side's
//!   (replayed or reordered) or because the session expired here meanwhile, drop the
//!   session, authenticate again and retry once; a second such failure is the call's error
//!   ([`ClientError::Refused`], [`ClientError::BadResponse`]). Any other failure, and an
//!   answer that does not open otherwise (forged, another session's), also drops the session
//!   (its counters may no longer match the server's), so the next call starts a fresh one.
//!   The counter is checked before the frame is authenticated, so a forged answer with a
//!   wrong counter counts as out of step: it costs at most one more handshake and one resend.
//!   Every attested RPC is a read (a query, a check, proofs, block ids): a retry asks the
//!   same question again and changes nothing on the server.
//! - A refused handshake is [`ClientError::Attestation`] naming the session's service and
//!   URI; nothing is sealed for an enclave whose evidence was not accepted.
//!
//! This module does no I/O and keeps no clock of its own: it reads [`UnixSeconds::now`]
//! (the browser's clock on wasm32) to age sessions. Byte and round-trip counts stay with the
//! transport; the session counts the handshakes that succeeded ([`Session::opened`]).

use core::future::Future;

use fog_attest::{
    wire::{AuthMessage, NonceMessage},
    Channel, ClientHandshake, SessionLimits, UnixSeconds, Verdict, Verifier,
};
use fog_types::{
    ledger::{
        BlockIdsRequest, BlockIdsResponse, CheckKeyImagesRequest, CheckKeyImagesResponse,
        GetOutputsRequest, GetOutputsResponse,
    },
    view::{QueryRequest, QueryResponse},
};
use prost::Message;

use crate::error::{ClientError, Result, Service};

/// The gRPC name of the status code that makes a call authenticate again and retry once.
pub const UNAUTHENTICATED_NAME: &str = "Unauthenticated";

/// The `Auth` that opens a view session.
const VIEW_AUTH_PATH: &str = "/fog_view.FogViewAPI/Auth";
/// The `Auth` that opens the fog ledger's session, which its three attested RPCs share.
const LEDGER_AUTH_PATH: &str = "/fog_ledger.FogKeyImageAPI/Auth";

/// One service's attested session (module docs).
pub struct Session {
    service: Service,
    uri: String,
    verifier: Verifier,
    limits: SessionLimits,
    channel: Option<Channel>,
    /// A request was sealed on `channel` and its answer not opened yet. Set while a call is
    /// under way; still set when the next call starts if that call was abandoned.
    awaiting: bool,
    opened: u64,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("service", &self.service)
            .field("uri", &self.uri)
            .field("open", &self.channel.is_some())
            .field("awaiting", &self.awaiting)
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
            awaiting: false,
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

    /// The gRPC path of the `Auth` that opens this session: view's, or for any other
    /// service the fog ledger's (`FogKeyImageAPI.Auth`).
    pub fn auth_path(&self) -> &'static str {
        if self.service == Service::View {
            VIEW_AUTH_PATH
        } else {
            LEDGER_AUTH_PATH
        }
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
        self.awaiting = false;
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

/// The two attested sessions a client transport keeps: view's, and the fog ledger's (which its
/// attested RPCs share). [`AttestedTransport::session`] is [`Sessions::get`].
#[derive(Debug)]
pub struct Sessions {
    view: Session,
    ledger: Session,
}

impl Sessions {
    /// No session open yet: view's at `view_uri`, the fog ledger's at `ledger_uri`, each
    /// accepting the enclaves its verifier accepts.
    pub fn new(
        view_uri: impl Into<String>,
        view_verifier: Verifier,
        ledger_uri: impl Into<String>,
        ledger_verifier: Verifier,
        limits: SessionLimits,
    ) -> Self {
        Self {
            view: Session::new(Service::View, view_uri, view_verifier, limits),
            ledger: Session::new(Service::KeyImages, ledger_uri, ledger_verifier, limits),
        }
    }

    /// The session of `which`: view's for [`Service::View`], the fog ledger's otherwise.
    pub fn get(&mut self, which: Service) -> &mut Session {
        if which == Service::View {
            &mut self.view
        } else {
            &mut self.ledger
        }
    }

    /// Both sessions, view's first.
    pub fn both(&self) -> [&Session; 2] {
        [&self.view, &self.ledger]
    }

    /// Handshakes that succeeded, both sessions together.
    pub fn opened(&self) -> u64 {
        self.view.opened() + self.ledger.opened()
    }

    /// Drops both sessions (the next call authenticates again).
    pub fn close(&mut self) {
        self.view.close();
        self.ledger.close();
    }

    /// The same services, URIs, verifiers and limits, no session and no count (see
    /// [`Session::fresh`]).
    pub fn fresh(&self) -> Self {
        Self {
            view: self.view.fresh(),
            ledger: self.ledger.fresh(),
        }
    }
}

/// The request of an attested RPC, and what every transport needs to call it: its answer's
/// type, its service and its gRPC path. The impls below are the one table of attested RPCs.
pub trait AttestedRequest: Message {
    /// The answer.
    type Response: Message + Default;
    /// The service it is a call of (errors name it). Its session is view's for
    /// [`Service::View`] and the fog ledger's for the others.
    const SERVICE: Service;
    /// The gRPC path, `/package.Service/Method`.
    const PATH: &'static str;
}

impl AttestedRequest for QueryRequest {
    type Response = QueryResponse;
    const SERVICE: Service = Service::View;
    const PATH: &'static str = "/fog_view.FogViewAPI/Query";
}

impl AttestedRequest for CheckKeyImagesRequest {
    type Response = CheckKeyImagesResponse;
    const SERVICE: Service = Service::KeyImages;
    const PATH: &'static str = "/fog_ledger.FogKeyImageAPI/CheckKeyImages";
}

impl AttestedRequest for BlockIdsRequest {
    type Response = BlockIdsResponse;
    const SERVICE: Service = Service::BlockIds;
    const PATH: &'static str = "/fog_ledger.FogKeyImageAPI/GetBlockIds";
}

impl AttestedRequest for GetOutputsRequest {
    type Response = GetOutputsResponse;
    const SERVICE: Service = Service::MerkleProofs;
    const PATH: &'static str = "/fog_ledger.FogMerkleProofAPI/GetOutputs";
}

/// A sealed request that got no sealed answer back.
#[derive(Debug)]
pub struct SendFailure {
    /// The error the call ends with, unless it is retried.
    pub error: ClientError,
    /// The service answered UNAUTHENTICATED (it does not know the session): the call
    /// authenticates again and retries once (module docs).
    pub unauthenticated: bool,
}

/// What a transport does for [`attested_call`]: it holds the sessions and moves the
/// messages. Its futures need not be `Send` (a browser's are not); a caller that needs them
/// `Send` gets that from the concrete transport.
pub trait AttestedTransport {
    /// The session the calls of `which` go over: view's for [`Service::View`], the fog
    /// ledger's for the others.
    fn session(&mut self, which: Service) -> &mut Session;

    /// Sends `hello` to `path` (the `Auth` of the session of `which`, at its URI) and gives
    /// the answer. A failure is the call's error: nothing was sealed yet.
    fn auth(
        &mut self,
        which: Service,
        path: &'static str,
        hello: AuthMessage,
    ) -> impl Future<Output = Result<AuthMessage>>;

    /// Sends `frame`, a sealed request, to `path` at the service of `which` and gives the
    /// sealed answer, or how the call failed.
    fn send(
        &mut self,
        which: Service,
        path: &'static str,
        frame: NonceMessage,
    ) -> impl Future<Output = core::result::Result<NonceMessage, SendFailure>>;
}

/// One attested RPC over `transport` (module docs): `request` sealed with `aad` in clear
/// over the session of `Req::SERVICE` (opened first when there is none, or none usable),
/// the answer opened and decoded. An answer that does not decode is
/// [`ClientError::BadResponse`].
pub async fn attested_call<T, Req>(
    transport: &mut T,
    aad: &[u8],
    request: &Req,
) -> Result<Req::Response>
where
    T: AttestedTransport + ?Sized,
    Req: AttestedRequest,
{
    let which = Req::SERVICE;
    let body = request.encode_to_vec();
    let mut call = Call::new(which, aad, &body);
    let mut step = call.start(transport.session(which))?;
    loop {
        step = match step {
            Step::Auth(hello) => {
                let path = transport.session(which).auth_path();
                let answer = transport.auth(which, path, hello).await?;
                call.authenticated(transport.session(which), &answer)?
            }
            Step::Send(frame) => match transport.send(which, Req::PATH, frame).await {
                Ok(reply) => call.answered(transport.session(which), &reply)?,
                Err(failure) => call.failed(
                    transport.session(which),
                    failure.unauthenticated,
                    failure.error,
                )?,
            },
            Step::Done(plain) => {
                return Req::Response::decode(plain.as_slice())
                    .map_err(|_| ClientError::bad(which, "the answer does not decode"));
            }
        };
    }
}

/// What a transport does next for a [`Call`].
pub enum Step {
    /// The handshake's first message, for the session's service's `Auth`; its answer goes
    /// to [`Call::authenticated`].
    Auth(AuthMessage),
    /// The request, sealed, for the call's RPC; its answer goes to [`Call::answered`], a
    /// failure to [`Call::failed`].
    Send(NonceMessage),
    /// The call's result: the answer, opened.
    Done(Vec<u8>),
}

impl core::fmt::Debug for Step {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Auth(hello) => f.debug_tuple("Auth").field(hello).finish(),
            Self::Send(frame) => f.debug_tuple("Send").field(frame).finish(),
            // The plaintext answer is the account's business: its size only.
            Self::Done(plain) => write!(f, "Done({} bytes)", plain.len()),
        }
    }
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
        session.awaiting = false;
        session.opened += 1;
        self.next(session)
    }

    /// The sealed answer came: opens it, [`Step::Done`] with the call's result. One whose
    /// counter is out of step with this side's (replayed, reordered), or that came after the
    /// session expired here, is a failure a new session cures: as UNAUTHENTICATED
    /// ([`Self::failed`]), it renews the session and retries once. Any other that does not
    /// open drops the session and is [`ClientError::BadResponse`].
    pub fn answered(&mut self, session: &mut Session, reply: &NonceMessage) -> Result<Step> {
        let channel = session
            .channel
            .as_mut()
            .ok_or(ClientError::Misuse("session lost during a call"))?;
        match channel.open(reply, UnixSeconds::now()) {
            Ok(plain) => {
                session.awaiting = false;
                Ok(Step::Done(plain))
            }
            Err(e) => {
                let renew = matches!(
                    e,
                    fog_attest::Error::Replayed
                        | fog_attest::Error::Reordered
                        | fog_attest::Error::SessionExpired
                        | fog_attest::Error::SessionIdle
                );
                let error = ClientError::bad(self.which, format!("the answer does not open: {e}"));
                self.failed(session, renew, error)
            }
        }
    }

    /// The request failed (`error`, as the transport names it). Drops the session; if a new
    /// session cures the failure (`renew`: UNAUTHENTICATED) and none was renewed yet in this
    /// call, starts again (a handshake, then the request), otherwise gives the error back.
    pub fn failed(
        &mut self,
        session: &mut Session,
        renew: bool,
        error: ClientError,
    ) -> Result<Step> {
        session.close();
        if renew && self.attempt == 0 {
            self.attempt += 1;
            return self.next(session);
        }
        Err(error)
    }

    fn next(&mut self, session: &mut Session) -> Result<Step> {
        while self.attempt < 2 {
            if session.awaiting {
                // The last call over this session sealed a request and never opened its
                // answer: the counters may not match the server's. A new session, before
                // anything is sent; not a refusal, so not this call's renewal.
                session.close();
            }
            let Some(channel) = session.channel.as_mut() else {
                let (handshake, hello) = ClientHandshake::start(session.verifier.clone())
                    .map_err(|e| session.attestation(e))?;
                self.handshake = Some(handshake);
                return Ok(Step::Auth(AuthMessage { data: hello }));
            };
            match channel.seal(self.aad, self.body, UnixSeconds::now()) {
                Ok(frame) => {
                    session.awaiting = true;
                    return Ok(Step::Send(frame));
                }
                Err(_) => {
                    // Expired on this side or counter exhausted: a new session.
                    session.close();
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
            other => panic!("expected a sealed request, got {other:?}"),
        }
    }

    fn done(step: Step) -> Vec<u8> {
        match step {
            Step::Done(plain) => plain,
            other => panic!("expected the answer, got {other:?}"),
        }
    }

    fn now() -> UnixSeconds {
        UnixSeconds::now()
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
        assert_eq!(done(call.answered(&mut s, &reply).unwrap()), b"answer");

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

    /// A session with one call answered; the enclave's side of it.
    fn one_call_answered(s: &mut Session, e: &EnclaveResponder) -> Channel {
        let mut call = Call::new(Service::View, &[], b"first");
        let (mut server, answer) = accept(e, call.start(s).unwrap());
        let frame = sent(call.authenticated(s, &answer).unwrap());
        assert_eq!(server.open(&frame, now()).unwrap(), b"first");
        let reply = server.seal(&[], b"one", now()).unwrap();
        assert_eq!(done(call.answered(s, &reply).unwrap()), b"one");
        server
    }

    #[test]
    fn a_call_abandoned_after_sealing_does_not_desync_the_next() {
        let (e, verifier) = enclave(7);
        // Abandoned before its request was sent, and after the server answered it (the
        // answer never read): either way the counters no longer match.
        for delivered in [false, true] {
            let mut s = Session::new(Service::View, URI, verifier.clone(), Default::default());
            let mut server = one_call_answered(&mut s, &e);
            let mut lost = Call::new(Service::View, &[], b"lost");
            let frame = sent(lost.start(&mut s).unwrap());
            if delivered {
                assert_eq!(server.open(&frame, now()).unwrap(), b"lost");
                server.seal(&[], b"never read", now()).unwrap();
            }
            drop(lost);
            // The next call opens a new session before it seals anything.
            let mut call = Call::new(Service::View, &[], b"next");
            let step = call.start(&mut s).unwrap();
            assert!(!s.is_open(), "{delivered}: {step:?}");
            let (mut server2, answer) = accept(&e, step);
            let frame = sent(call.authenticated(&mut s, &answer).unwrap());
            assert_eq!(server2.open(&frame, now()).unwrap(), b"next");
            let reply = server2.seal(&[], b"two", now()).unwrap();
            assert_eq!(done(call.answered(&mut s, &reply).unwrap()), b"two");
            assert_eq!(s.opened(), 2);
            // And that session serves the call after.
            let mut call = Call::new(Service::View, &[], b"third");
            let frame = sent(call.start(&mut s).unwrap());
            assert_eq!(server2.open(&frame, now()).unwrap(), b"third");
        }
    }

    #[test]
    fn an_answer_out_of_step_renews_the_session_and_retries() {
        let (e, verifier) = enclave(8);
        let mut s = Session::new(Service::View, URI, verifier, SessionLimits::default());
        let mut server = one_call_answered(&mut s, &e);
        let mut call = Call::new(Service::View, &[], b"q");
        let frame = sent(call.start(&mut s).unwrap());
        server.open(&frame, now()).unwrap();
        // The server's counter is one ahead of this side's (an answer this side never
        // read): its answer is refused as reordered.
        server.seal(&[], b"lost", now()).unwrap();
        let ahead = server.seal(&[], b"a", now()).unwrap();
        let step = call.answered(&mut s, &ahead).unwrap();
        assert!(!s.is_open());
        // A new session, and the request again.
        let (mut server2, answer) = accept(&e, step);
        let frame = sent(call.authenticated(&mut s, &answer).unwrap());
        assert_eq!(server2.open(&frame, now()).unwrap(), b"q");
        let reply = server2.seal(&[], b"a", now()).unwrap();
        assert_eq!(done(call.answered(&mut s, &reply).unwrap()), b"a");
        assert_eq!(s.opened(), 2);
        assert!(s.is_open());
    }

    #[test]
    fn a_second_answer_out_of_step_is_a_bad_response() {
        let (e, verifier) = enclave(9);
        let mut s = Session::new(Service::View, URI, verifier, SessionLimits::default());
        let mut call = Call::new(Service::View, &[], b"q");
        let (mut server, answer) = accept(&e, call.start(&mut s).unwrap());
        sent(call.authenticated(&mut s, &answer).unwrap());
        server.seal(&[], b"skipped", now()).unwrap();
        let ahead = server.seal(&[], b"a", now()).unwrap();
        let (mut server2, answer) = accept(&e, call.answered(&mut s, &ahead).unwrap());
        sent(call.authenticated(&mut s, &answer).unwrap());
        server2.seal(&[], b"skipped", now()).unwrap();
        let ahead = server2.seal(&[], b"a", now()).unwrap();
        let err = call.answered(&mut s, &ahead).unwrap_err();
        assert!(
            matches!(&err, ClientError::BadResponse { service: Service::View, what }
                if what.contains("out of order")),
            "{err}"
        );
        assert!(!s.is_open());
        assert_eq!(s.opened(), 2);
    }

    /// An enclave behind a function call: the transport of [`attested_call`]'s tests. It
    /// answers a view query with the number of keys asked as its block count.
    struct Loopback {
        enclave: EnclaveResponder,
        session: Session,
        server: Option<Channel>,
        /// Never answer the next request (a call that hangs until it is cancelled).
        hang: bool,
        paths: Vec<&'static str>,
    }

    impl AttestedTransport for Loopback {
        fn session(&mut self, _: Service) -> &mut Session {
            &mut self.session
        }

        async fn auth(
            &mut self,
            _: Service,
            path: &'static str,
            hello: AuthMessage,
        ) -> Result<AuthMessage> {
            self.paths.push(path);
            let (channel, answer) = self
                .enclave
                .accept(&hello.data, now(), SessionLimits::default())
                .unwrap();
            self.server = Some(channel);
            Ok(AuthMessage { data: answer })
        }

        async fn send(
            &mut self,
            which: Service,
            path: &'static str,
            frame: NonceMessage,
        ) -> core::result::Result<NonceMessage, SendFailure> {
            self.paths.push(path);
            let server = self.server.as_mut().unwrap();
            let refused = |e: fog_attest::Error| SendFailure {
                error: ClientError::Refused {
                    service: which,
                    code: "InvalidArgument".into(),
                    message: e.to_string(),
                },
                unauthenticated: false,
            };
            let plain = server.open(&frame, now()).map_err(refused)?;
            if std::mem::take(&mut self.hang) {
                std::future::pending::<()>().await;
            }
            let query = QueryRequest::decode(plain.as_slice()).unwrap();
            assert_eq!(frame.aad, b"aad");
            let answer = QueryResponse {
                highest_processed_block_count: query.get_txos.len() as u64,
                ..QueryResponse::default()
            };
            Ok(server.seal(&[], &answer.encode_to_vec(), now()).unwrap())
        }
    }

    async fn ask(t: &mut Loopback, keys: usize) -> Result<u64> {
        let request = QueryRequest {
            get_txos: vec![vec![7; 32]; keys],
        };
        let answer = attested_call(t, b"aad", &request).await?;
        Ok(answer.highest_processed_block_count)
    }

    #[tokio::test]
    async fn attested_call_moves_typed_messages_and_survives_a_cancelled_call() {
        let (enclave, verifier) = enclave(10);
        let mut t = Loopback {
            enclave,
            session: Session::new(Service::View, URI, verifier, SessionLimits::default()),
            server: None,
            hang: false,
            paths: vec![],
        };
        assert_eq!(ask(&mut t, 3).await.unwrap(), 3);
        assert_eq!(ask(&mut t, 2).await.unwrap(), 2);
        assert_eq!(
            t.paths,
            [VIEW_AUTH_PATH, QueryRequest::PATH, QueryRequest::PATH]
        );
        // A call whose answer never comes, cancelled; the next one opens a new session.
        t.hang = true;
        let cancelled =
            tokio::time::timeout(std::time::Duration::from_millis(10), ask(&mut t, 1)).await;
        assert!(cancelled.is_err(), "{cancelled:?}");
        assert_eq!(t.session.opened(), 1);
        assert_eq!(ask(&mut t, 4).await.unwrap(), 4);
        assert_eq!(t.session.opened(), 2);
        assert_eq!(t.paths[4..], [VIEW_AUTH_PATH, QueryRequest::PATH]);
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
