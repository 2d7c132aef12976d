//! The fog ledger enclave behind the byte boundary: [`LedgerBoundary`] decodes the host's
//! [`LedgerRequest`] (untrusted bytes), calls [`crate::ledger::LedgerEnclave`] and encodes its
//! answer.
//!
//! What it holds inside. Two channel key pairs, made when it is created: the client sessions'
//! and, when it is loaded with a verifier of ledger routers, its router channels'. The host
//! gets their public halves only (`GetChannelKey`, `GetRouterChannelKey`), binds evidence to
//! them and installs it (`SetEvidence`, `SetRouterEvidence`); the enclave takes evidence only
//! if it binds its own key. The first client evidence starts the enclave (its key-image store
//! is made then); every other call before it answers [`EnclaveError::NotInitialized`]. The
//! first router evidence opens the store to ledger routers (until then the router calls are
//! refused with [`PeerError::UnknownChannel`], as a store without a router link refuses them).
//!
//! What it promises. A request that does not decode, or lacks a field its call needs, answers
//! [`EnclaveError::Malformed`] before anything is touched; the enclave's refusals are answers
//! ([`LedgerEnclaveError`], each changing nothing, as `fog_enclave::ledger` says); nothing
//! panics on any input (a bug that would is caught at the boundary and answered
//! [`EnclaveError::Internal`], as is every later call: the host rebuilds the enclave). Timing
//! and access patterns are those of the typed API: one key-image check is one call, one block
//! is one call.
//!
//! Randomness. The channel keys and the store's ORAM randomness are drawn inside, from the
//! platform's source: in an enclave build the loader is the host, and a seed it chose would
//! let it predict which leaves the ORAM reads.
//!
//! Trust side: trusted. No I/O; the time comes in each call that needs it.

use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::{Mutex, OnceLock};

use fog_attest::{
    wire::NonceMessage, BoundEvidence, ChannelKeypair, EnclaveResponder, PeerKey, SessionLimits,
    UnixSeconds, Verifier,
};
use fog_enclave_api::errors::{PeerError, SessionError};
use fog_enclave_api::ledger::{
    ledger_request::Call, ledger_response::Answer, AddBlock, CheckKeyImages, Checked, Counters,
    Empty, LedgerAccept, LedgerRequest, LedgerResponse, OutputsRequest, PeerFrame, PublicKey,
    RouterAccepted, RouterCheck, SealGetOutputs, Status,
};
use fog_enclave_api::messages::{client, ChannelFrame, ChannelHello};
use fog_enclave_api::{serve, Enclave, EnclaveError, LedgerApi, Refused, SharedEnclave};
use fog_oram::HeapFactory;
use fog_transaction::block::{Block, BlockContents};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::view::Fuse;
use crate::ledger::{
    LedgerBlock, LedgerCounters, LedgerEnclave, LedgerEnclaveError, LedgerView, DEFAULT_CAPACITY,
    KEY_IMAGE_STORE_CHANNEL,
};
use crate::peers::PeerChannels;
use crate::sessions::{ClientSessions, DEFAULT_SESSION_CAPACITY};

/// The enclaves at the other end of channels between enclaves: the verifier that decides
/// which evidence counts (normally exactly the fog ledger enclave's identity under the
/// deployment's trust anchor), and how long a channel lives (the host's router pools them:
/// `fog_router::STORE_SESSION_LIMITS`, which the host passes here).
#[derive(Clone, Debug)]
pub struct PeerLinks {
    /// Accepts the peers' evidence.
    pub verifier: Verifier,
    /// Channel lifetimes.
    pub limits: SessionLimits,
}

impl PeerLinks {
    /// Peers `verifier` accepts, over channels that live as `limits` says.
    pub fn new(verifier: Verifier, limits: SessionLimits) -> Self {
        Self { verifier, limits }
    }
}

/// What a fog ledger enclave is loaded with.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Key images the store has room for (rounded by the oblivious map; plan for about 85 %
    /// of it).
    pub key_image_capacity: u64,
    /// Live client sessions.
    pub session_capacity: usize,
    /// Client session lifetime.
    pub session_limits: SessionLimits,
    /// The ledger routers this store may serve (none: it serves clients only).
    pub routers: Option<PeerLinks>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            key_image_capacity: DEFAULT_CAPACITY,
            session_capacity: DEFAULT_SESSION_CAPACITY,
            session_limits: SessionLimits::default(),
            routers: None,
        }
    }
}

/// The fog ledger enclave as the boundary runs it: its store in (simulated) enclave memory.
pub(crate) type Ledger<M> = LedgerEnclave<HeapFactory, M>;

/// Before the first client evidence: what the enclave is made from.
enum Start<M> {
    /// Waiting for evidence.
    Waiting { keys: ChannelKeypair, rng: M },
    /// The store could not be made (its configuration): every start is refused so.
    Failed(LedgerEnclaveError),
    /// Started.
    Done,
}

/// A fog ledger enclave behind the byte boundary (see the module docs). `M` is its store's
/// randomness: [`ChaCha20Rng`] seeded inside ([`LedgerBoundary::new`]) but for seeded tests.
pub struct LedgerBoundary<M = ChaCha20Rng> {
    capacity: u64,
    session_capacity: usize,
    session_limits: SessionLimits,
    client_key: [u8; 32],
    start: Mutex<Start<M>>,
    enclave: OnceLock<Ledger<M>>,
    routers: Option<Routers>,
    /// Blown by a panic: every call answers `Internal` from then on.
    fuse: Fuse,
}

/// The router side of a store: its channel key, until its first evidence the key pair, and
/// the peers it accepts.
struct Routers {
    key: [u8; 32],
    keys: Mutex<Option<ChannelKeypair>>,
    links: PeerLinks,
}

impl<M> core::fmt::Debug for LedgerBoundary<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerBoundary")
            .field("started", &self.enclave.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LedgerBoundary {
    /// An enclave loaded with `config`: its channel keys, and its store's randomness (which
    /// picks the ORAM's leaves), are made here from the platform's source; nothing the loader
    /// (the untrusted host, in an enclave build) chooses seeds them. It starts at its first
    /// client evidence.
    pub fn new(config: LedgerConfig) -> Result<Self, LedgerEnclaveError> {
        Self::dangerous_with_rng(config, os_seeded()?)
    }

    /// [`LedgerBoundary::new`] as the shared enclave the servers take ("simulation mode":
    /// in-process); `fogd` loads it.
    pub fn simulated(config: LedgerConfig) -> Result<SharedEnclave, LedgerEnclaveError> {
        Ok(Arc::new(Self::new(config)?))
    }
}

impl<M: RngCore + CryptoRng + Send + 'static> LedgerBoundary<M> {
    /// [`LedgerBoundary::new`] with the store's randomness given: for seeded tests and
    /// benchmarks only. Whoever chooses `rng` can predict the ORAM's leaf choices, which an
    /// enclave must keep from its host.
    #[doc(hidden)]
    pub fn dangerous_with_rng(config: LedgerConfig, rng: M) -> Result<Self, LedgerEnclaveError> {
        if config.key_image_capacity == 0 {
            return Err(LedgerEnclaveError::InvalidConfig);
        }
        let keys = fresh_keys()?;
        let routers = match config.routers {
            Some(links) => {
                let keys = fresh_keys()?;
                Some(Routers {
                    key: *keys.public_key(),
                    keys: Mutex::new(Some(keys)),
                    links,
                })
            }
            None => None,
        };
        Ok(Self {
            capacity: config.key_image_capacity,
            session_capacity: config.session_capacity,
            session_limits: config.session_limits,
            client_key: *keys.public_key(),
            start: Mutex::new(Start::Waiting { keys, rng }),
            enclave: OnceLock::new(),
            routers,
            fuse: Fuse::default(),
        })
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        match call {
            Call::GetChannelKey(Empty {}) => Ok(public_key(&self.client_key)),
            Call::SetEvidence(s) => self.set_evidence(&s.evidence),
            Call::GetRouterChannelKey(Empty {}) => {
                let routers = self.routers.as_ref().ok_or(EnclaveError::Unsupported)?;
                Ok(public_key(&routers.key))
            }
            Call::SetRouterEvidence(s) => self.set_router_evidence(&s.evidence),
            call => serve_ledger(self.started()?, call),
        }
    }

    fn started(&self) -> Result<&Ledger<M>, EnclaveError> {
        self.enclave.get().ok_or(EnclaveError::NotInitialized)
    }

    fn set_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let evidence = decode_evidence(bytes)?;
        if !binds(&evidence, &self.client_key) {
            return Ok(refuse(SessionError::Handshake.into()));
        }
        if let Some(enclave) = self.enclave.get() {
            return Ok(done_or(enclave.sessions().set_evidence(evidence)));
        }
        let mut start = self.start.lock().map_err(|_| EnclaveError::Internal)?;
        if let Some(enclave) = self.enclave.get() {
            return Ok(done_or(enclave.sessions().set_evidence(evidence)));
        }
        match core::mem::replace(&mut *start, Start::Done) {
            Start::Waiting { keys, rng } => {
                let responder =
                    EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
                let sessions =
                    ClientSessions::new(responder, self.session_capacity, self.session_limits);
                match LedgerEnclave::new(sessions, self.capacity, HeapFactory, rng) {
                    Ok(enclave) => {
                        self.enclave
                            .set(enclave)
                            .map_err(|_| EnclaveError::Internal)?;
                        Ok(done())
                    }
                    Err(e) => {
                        *start = Start::Failed(e);
                        Ok(refuse(e))
                    }
                }
            }
            Start::Failed(e) => {
                *start = Start::Failed(e);
                Ok(refuse(e))
            }
            Start::Done => Err(EnclaveError::Internal),
        }
    }

    fn set_router_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let routers = self.routers.as_ref().ok_or(EnclaveError::Unsupported)?;
        let evidence = decode_evidence(bytes)?;
        let enclave = self.started()?;
        if !binds(&evidence, &routers.key) {
            return Ok(refuse(PeerError::Handshake.into()));
        }
        let mut keys = routers.keys.lock().map_err(|_| EnclaveError::Internal)?;
        match keys.take() {
            Some(keys) => {
                let responder =
                    EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
                enclave.set_router_link(PeerChannels::new(
                    KEY_IMAGE_STORE_CHANNEL,
                    responder,
                    routers.links.verifier.clone(),
                    routers.links.limits,
                ));
                Ok(done())
            }
            None => Ok(done_or(enclave.set_router_evidence(evidence))),
        }
    }
}

/// A ChaCha20 generator seeded inside from the platform's randomness.
pub(crate) fn os_seeded() -> Result<ChaCha20Rng, LedgerEnclaveError> {
    ChaCha20Rng::from_rng(rand_core::OsRng)
        .map_err(|_| LedgerEnclaveError::Boundary(EnclaveError::Provider))
}

impl<M: RngCore + CryptoRng + Send + 'static> Enclave for LedgerBoundary<M> {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<LedgerApi>(request_bytes, |request| {
            let call = request.call.ok_or(EnclaveError::Malformed)?;
            Ok(LedgerResponse {
                answer: Some(self.fuse.guarded(|| self.handle(call))?),
            })
        })
    }
}

/// A fresh channel key pair from the platform's randomness.
pub(crate) fn fresh_keys() -> Result<ChannelKeypair, LedgerEnclaveError> {
    ChannelKeypair::generate().map_err(|_| LedgerEnclaveError::Boundary(EnclaveError::Provider))
}

/// Evidence from the host (`attest.BoundEvidence` bytes).
pub(crate) fn decode_evidence(bytes: &[u8]) -> Result<BoundEvidence, EnclaveError> {
    BoundEvidence::decode(bytes).map_err(|_| EnclaveError::Malformed)
}

/// Whether `evidence` binds `key` (and nothing else): checked before a key pair is handed to
/// a responder, so evidence that does not bind it never costs the enclave its key.
pub(crate) fn binds(evidence: &BoundEvidence, key: &[u8; 32]) -> bool {
    evidence.channel_key == *key
        && evidence.custom_identity.is_none()
        && evidence.evidence.report_data().ok() == Some(evidence.expected_report_data())
}

pub(crate) fn public_key(key: &[u8; 32]) -> Answer {
    Answer::ChannelKey(PublicKey { key: key.to_vec() })
}

fn done() -> Answer {
    Answer::Done(Empty {})
}

fn refuse(e: LedgerEnclaveError) -> Answer {
    Answer::Refused(e.to_refusal())
}

fn done_or<E: Into<LedgerEnclaveError>>(r: Result<(), E>) -> Answer {
    answer(r.map_err(Into::into), |()| done())
}

/// The answer `ok` makes of a success, or the refusal.
fn answer<T>(r: Result<T, LedgerEnclaveError>, ok: impl FnOnce(T) -> Answer) -> Answer {
    match r {
        Ok(t) => ok(t),
        Err(e) => refuse(e),
    }
}

pub(crate) fn frame_from_wire(frame: ChannelFrame) -> NonceMessage {
    NonceMessage {
        aad: frame.aad,
        channel_id: frame.channel_id,
        data: frame.data,
        nonce: frame.nonce,
    }
}

pub(crate) fn frame_to_wire(frame: NonceMessage) -> ChannelFrame {
    ChannelFrame {
        aad: frame.aad,
        channel_id: frame.channel_id,
        data: frame.data,
        nonce: frame.nonce,
    }
}

/// A client request's frame and time.
pub(crate) fn request_parts(
    request: Option<client::ClientRequest>,
) -> Result<(NonceMessage, UnixSeconds), EnclaveError> {
    let request = request.ok_or(EnclaveError::Malformed)?;
    let frame = request.frame.ok_or(EnclaveError::Malformed)?;
    Ok((frame_from_wire(frame), UnixSeconds(request.now)))
}

/// A key-image check's frame, time and ledger view.
pub(crate) fn check_parts(
    check: CheckKeyImages,
) -> Result<(NonceMessage, UnixSeconds, LedgerView), EnclaveError> {
    let view = check.ledger.ok_or(EnclaveError::Malformed)?;
    let (frame, now) = request_parts(check.request)?;
    Ok((frame, now, ledger_view(view)))
}

fn ledger_view(view: fog_enclave_api::ledger::LedgerView) -> LedgerView {
    LedgerView {
        ledger_blocks: view.ledger_blocks,
        max_blocks_behind: view.max_blocks_behind,
    }
}

fn counters(c: LedgerCounters) -> Counters {
    Counters {
        num_blocks: c.num_blocks,
        global_txo_count: c.global_txo_count,
        latest_block_version: c.latest_block_version,
        last_block_id: c.last_block_id.to_vec(),
    }
}

/// The host's name for a client: its IP address (4 or 16 bytes), or none.
fn peer_key(ip: &[u8]) -> Result<PeerKey, EnclaveError> {
    match ip.len() {
        0 => Ok(PeerKey::UNKNOWN),
        4 => {
            let mut o = [0u8; 4];
            o.copy_from_slice(ip);
            Ok(PeerKey::from_ip(core::net::IpAddr::from(o)))
        }
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(ip);
            Ok(PeerKey::from_ip(core::net::IpAddr::from(o)))
        }
        _ => Err(EnclaveError::Malformed),
    }
}

fn status<M: RngCore + CryptoRng>(enclave: &Ledger<M>) -> Result<Status, LedgerEnclaveError> {
    let (key_images, capacity) = enclave.load()?;
    Ok(Status {
        counters: Some(counters(enclave.counters()?)),
        key_images,
        capacity,
        sessions: enclave.sessions().len() as u64,
        key_image_blocks: Some(enclave.key_image_blocks()?),
    })
}

/// The calls a started fog ledger enclave answers (a store's, or a ledger router's own): all
/// but the evidence calls, which answer [`EnclaveError::Unsupported`] here.
pub(crate) fn serve_ledger<M: RngCore + CryptoRng>(
    enclave: &Ledger<M>,
    call: Call,
) -> Result<Answer, EnclaveError> {
    Ok(match call {
        Call::ClientAccept(LedgerAccept {
            hello,
            peer_ip,
            now,
        }) => {
            let hello = hello.ok_or(EnclaveError::Malformed)?;
            let peer = peer_key(&peer_ip)?;
            answer(
                enclave.accept(&hello.data, peer, UnixSeconds(now)),
                |data| Answer::Hello(ChannelHello { data }),
            )
        }
        Call::CheckKeyImages(check) => {
            let (frame, now, view) = check_parts(check)?;
            answer(enclave.check_key_images(&frame, view, now), |o| {
                Answer::Checked(Checked {
                    frame: Some(frame_to_wire(o.response)),
                    key_images: o.key_images as u64,
                })
            })
        }
        Call::BlockIds(request) => {
            let (frame, now) = request_parts(Some(request))?;
            answer(enclave.block_ids(&frame, now), |f| {
                Answer::Frame(frame_to_wire(f))
            })
        }
        Call::OpenGetOutputs(request) => {
            let (frame, now) = request_parts(Some(request))?;
            answer(
                enclave.open_get_outputs(&frame, now),
                |(channel_id, request)| {
                    Answer::OutputsRequest(OutputsRequest {
                        channel_id,
                        request: Some(request),
                    })
                },
            )
        }
        Call::SealGetOutputs(SealGetOutputs {
            channel_id,
            response,
            now,
        }) => {
            let response = response.ok_or(EnclaveError::Malformed)?;
            answer(
                enclave.seal_get_outputs(&channel_id, &response, UnixSeconds(now)),
                |f| Answer::Frame(frame_to_wire(f)),
            )
        }
        Call::GetStatus(Empty {}) => answer(status(enclave), Answer::Status),
        Call::SetKeyImageBlocks(range) => answer(
            enclave.set_key_image_blocks(range.start_block, range.end_block),
            |()| done(),
        ),
        Call::AddBlock(AddBlock {
            block,
            contents,
            timestamp,
        }) => {
            let block = block.ok_or(EnclaveError::Malformed)?;
            let contents = contents.ok_or(EnclaveError::Malformed)?;
            let block = Block::try_from_wire(&block).map_err(|_| EnclaveError::Malformed)?;
            let contents =
                BlockContents::try_from_wire(&contents).map_err(|_| EnclaveError::Malformed)?;
            answer(
                enclave.add_block(&LedgerBlock {
                    block: &block,
                    contents: &contents,
                    timestamp,
                }),
                |c| Answer::Counters(counters(c)),
            )
        }
        Call::RouterAccept(client::ClientAccept { hello, now }) => {
            let hello = hello.ok_or(EnclaveError::Malformed)?;
            answer(
                enclave.router_accept(&hello.data, UnixSeconds(now)),
                |(channel_id, reply)| Answer::RouterAccepted(RouterAccepted { channel_id, reply }),
            )
        }
        Call::RouterCheck(RouterCheck {
            channel_id,
            frame,
            ledger,
            now,
        }) => {
            let view = ledger.ok_or(EnclaveError::Malformed)?;
            answer(
                enclave.router_check(&channel_id, &frame, ledger_view(view), UnixSeconds(now)),
                |data| Answer::PeerFrame(PeerFrame { data }),
            )
        }
        Call::GetChannelKey(_)
        | Call::SetEvidence(_)
        | Call::GetRouterChannelKey(_)
        | Call::SetRouterEvidence(_) => return Err(EnclaveError::Unsupported),
    })
}

/// A request of the ledger API, for [`serve_ledger`] (the router wraps them).
pub(crate) fn ledger_call(request: LedgerRequest) -> Result<Call, EnclaveError> {
    request.call.ok_or(EnclaveError::Malformed)
}
