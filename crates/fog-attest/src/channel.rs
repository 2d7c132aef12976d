//! The attested channel: a Noise handshake whose responder proves, with evidence, that its
//! static key belongs to an attested enclave; then encrypted, authenticated frames.
//!
//! # Handshakes
//! - Client → enclave: `Noise_NX_25519_AESGCM_SHA512`. The client sends `→ e` (empty
//!   payload); the enclave answers `← e, ee, s, es` whose payload is its [`BoundEvidence`].
//!   [`ClientHandshake::finish`] checks that the evidence binds the handshake's remote static
//!   key and passes the verifier's policy *before* it returns a [`Channel`], so no request can
//!   be sent to an unverified peer.
//! - Ingest peer ↔ peer: `Noise_IX_25519_AESGCM_SHA512`. Each side's handshake payload is its
//!   own bound evidence and each side verifies the other's.
//!
//! # Frames
//! After the handshake each direction has its own AES-256-GCM key (Noise's split). A frame is
//! a [`NonceMessage`]: `aad` is GCM associated data, `nonce` the sender's counter (GCM nonce =
//! 4 zero bytes ‖ counter big-endian, as in Noise), `channel_id` the 64-byte handshake hash.
//! The receiver accepts only the counter it expects next: a lower one is
//! [`Error::Replayed`], a higher one [`Error::Reordered`]; the counter only moves after the
//! frame authenticates, so a forged frame changes nothing.
//!
//! # Expiry
//! A session ends `max_age` after it was made and after `idle` without a frame; both are
//! checked against the time the caller passes in. On the enclave side that time comes from
//! the untrusted host, which could keep a session alive longer, but could equally just
//! relay frames: expiry bounds key lifetime for honest hosts, it is not a security boundary.
//!
//! Trust side: both (the client and the enclave run this). Secrets (static keys, the split
//! keys) are zeroized on drop and never printed. Timing: AES-GCM via `aes-gcm` (constant
//! time with its software backend); counters and ids are public.

use crate::error::{Error, Result};
use crate::evidence::{BoundEvidence, UnixSeconds};
use crate::verifier::Verifier;
use crate::wire::NonceMessage;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use snow::{Builder, HandshakeState};
use std::collections::HashMap;
use zeroize::{Zeroize, Zeroizing};

/// The client → enclave protocol.
pub const NX_PROTOCOL: &str = "Noise_NX_25519_AESGCM_SHA512";
/// The ingest peer ↔ peer protocol.
pub const IX_PROTOCOL: &str = "Noise_IX_25519_AESGCM_SHA512";
/// The largest Noise message.
pub const MAX_HANDSHAKE_MESSAGE: usize = 65535;

/// An X25519 static key pair for the channel. The enclave makes it at start and binds its
/// public half in its evidence.
pub struct ChannelKeypair {
    private: Zeroizing<Vec<u8>>,
    public: [u8; 32],
}

impl core::fmt::Debug for ChannelKeypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ChannelKeypair {{ public: ")?;
        for b in &self.public {
            write!(f, "{b:02x}")?;
        }
        write!(f, " }}")
    }
}

impl ChannelKeypair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let params = NX_PROTOCOL.parse().map_err(|_| Error::KeyGeneration)?;
        let mut kp = Builder::new(params)
            .generate_keypair()
            .map_err(|_| Error::KeyGeneration)?;
        let public =
            <[u8; 32]>::try_from(kp.public.as_slice()).map_err(|_| Error::KeyGeneration)?;
        let private = Zeroizing::new(core::mem::take(&mut kp.private));
        kp.private.zeroize();
        Ok(Self { private, public })
    }

    /// The public half.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }
}

/// How long a session may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Seconds from the handshake after which the session is refused.
    pub max_age_secs: u64,
    /// Seconds without a frame after which the session is refused.
    pub idle_secs: u64,
}

impl Default for SessionLimits {
    /// One day, and ten minutes idle.
    fn default() -> Self {
        Self {
            max_age_secs: 24 * 3600,
            idle_secs: 600,
        }
    }
}

/// A channel id: the 64-byte final handshake hash, the same on both ends.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub Vec<u8>);

impl core::fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ChannelId(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

struct Direction {
    cipher: Aes256Gcm,
    counter: u64,
}

impl Direction {
    fn new(mut key: [u8; 32]) -> Self {
        let cipher = Aes256Gcm::new(&key.into());
        key.zeroize();
        Self { cipher, counter: 0 }
    }
}

fn gcm_nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// An established session: seals outgoing frames and opens incoming ones.
pub struct Channel {
    id: ChannelId,
    send: Direction,
    recv: Direction,
    created: UnixSeconds,
    last_used: UnixSeconds,
    limits: SessionLimits,
    peer: Option<BoundEvidence>,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("sent", &self.send.counter)
            .field("received", &self.recv.counter)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl Channel {
    fn from_handshake(
        mut hs: HandshakeState,
        peer: Option<BoundEvidence>,
        now: UnixSeconds,
        limits: SessionLimits,
    ) -> Result<Self> {
        if !hs.is_handshake_finished() {
            return Err(Error::Handshake);
        }
        let id = ChannelId(hs.get_handshake_hash().to_vec());
        let (k1, k2) = hs.dangerously_get_raw_split();
        let (send, recv) = if hs.is_initiator() {
            (k1, k2)
        } else {
            (k2, k1)
        };
        Ok(Self {
            id,
            send: Direction::new(send),
            recv: Direction::new(recv),
            created: now,
            last_used: now,
            limits,
            peer,
        })
    }

    /// The channel id.
    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    /// The peer's verified evidence and bound keys; `None` on the enclave side of NX,
    /// where clients are anonymous.
    pub fn peer(&self) -> Option<&BoundEvidence> {
        self.peer.as_ref()
    }

    fn check_alive(&self, now: UnixSeconds) -> Result<()> {
        if now.0 >= self.created.0.saturating_add(self.limits.max_age_secs) {
            return Err(Error::SessionExpired);
        }
        if now.0 >= self.last_used.0.saturating_add(self.limits.idle_secs) {
            return Err(Error::SessionIdle);
        }
        Ok(())
    }

    /// Encrypts `plaintext` with `aad` as associated data into the next frame.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8], now: UnixSeconds) -> Result<NonceMessage> {
        self.check_alive(now)?;
        let counter = self.send.counter;
        if counter == u64::MAX {
            return Err(Error::CounterExhausted);
        }
        let nonce = gcm_nonce(counter);
        let data = self
            .send
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::CounterExhausted)?;
        self.send.counter = counter + 1;
        self.last_used = now.max(self.last_used);
        Ok(NonceMessage {
            aad: aad.to_vec(),
            channel_id: self.id.0.clone(),
            data,
            nonce: counter,
        })
    }

    /// Checks and decrypts a frame. Refuses replays, reordering, forgeries, frames for
    /// another channel and expired sessions, each with its own error; on any error the
    /// channel's state is unchanged.
    pub fn open(&mut self, frame: &NonceMessage, now: UnixSeconds) -> Result<Vec<u8>> {
        self.check_alive(now)?;
        if frame.channel_id != self.id.0 {
            return Err(Error::UnknownChannel);
        }
        let expected = self.recv.counter;
        if frame.nonce < expected {
            return Err(Error::Replayed);
        }
        if frame.nonce > expected {
            return Err(Error::Reordered);
        }
        if expected == u64::MAX {
            return Err(Error::CounterExhausted);
        }
        let nonce = gcm_nonce(expected);
        let plaintext = self
            .recv
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &frame.data,
                    aad: &frame.aad,
                },
            )
            .map_err(|_| Error::Decrypt)?;
        self.recv.counter = expected + 1;
        self.last_used = now.max(self.last_used);
        Ok(plaintext)
    }
}

fn builder(protocol: &str) -> Result<Builder<'static>> {
    Ok(Builder::new(
        protocol.parse().map_err(|_| Error::Handshake)?,
    ))
}

/// Reads the peer's evidence from a handshake payload and checks it: it must decode, bind
/// the handshake's remote static key, and pass the verifier.
fn check_peer(
    hs: &HandshakeState,
    payload: &[u8],
    verifier: &Verifier,
    now: UnixSeconds,
) -> Result<BoundEvidence> {
    let bound = BoundEvidence::decode(payload)?;
    let remote = hs.get_remote_static().ok_or(Error::Handshake)?;
    if remote != bound.channel_key.as_slice() {
        return Err(Error::BadRemoteIdentity);
    }
    verifier.verify_bound(&bound, now)?;
    Ok(bound)
}

/// The client's side of NX, between its first message and the enclave's answer.
pub struct ClientHandshake {
    hs: HandshakeState,
    verifier: Verifier,
}

impl core::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHandshake").finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake; returns the state and the first message (`AuthMessage.data`).
    pub fn start(verifier: Verifier) -> Result<(Self, Vec<u8>)> {
        let mut hs = builder(NX_PROTOCOL)?
            .build_initiator()
            .map_err(|_| Error::Handshake)?;
        let mut out = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .write_message(&[], &mut out)
            .map_err(|_| Error::Handshake)?;
        out.truncate(n);
        Ok((Self { hs, verifier }, out))
    }

    /// Reads the enclave's answer, verifies its evidence (binding of the remote static key
    /// and policy) and only then returns the channel.
    pub fn finish(
        self,
        response: &[u8],
        now: UnixSeconds,
        limits: SessionLimits,
    ) -> Result<Channel> {
        finish_verified(self.hs, &self.verifier, response, now, limits)
    }
}

/// The last step of an initiator's handshake (NX client or IX peer): read the responder's
/// message, verify the evidence it carries, and only then make the channel.
fn finish_verified(
    mut hs: HandshakeState,
    verifier: &Verifier,
    response: &[u8],
    now: UnixSeconds,
    limits: SessionLimits,
) -> Result<Channel> {
    let mut payload = vec![0u8; MAX_HANDSHAKE_MESSAGE];
    let n = hs
        .read_message(response, &mut payload)
        .map_err(|_| Error::Handshake)?;
    let peer = check_peer(&hs, &payload[..n], verifier, now)?;
    Channel::from_handshake(hs, Some(peer), now, limits)
}

/// The enclave's side of NX: holds the static key and the evidence that binds it.
pub struct EnclaveResponder {
    keypair: ChannelKeypair,
    evidence: BoundEvidence,
    payload: Vec<u8>,
}

impl core::fmt::Debug for EnclaveResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EnclaveResponder")
            .field("keypair", &self.keypair)
            .finish_non_exhaustive()
    }
}

impl EnclaveResponder {
    /// A responder. `evidence` must bind `keypair`'s public key (checked here, so a
    /// misconfigured enclave fails at start, not at its first client).
    pub fn new(keypair: ChannelKeypair, evidence: BoundEvidence) -> Result<Self> {
        if evidence.channel_key != keypair.public
            || evidence.evidence.report_data != evidence.expected_report_data()
        {
            return Err(Error::BadRemoteIdentity);
        }
        let payload = evidence.encode_to_vec();
        Ok(Self {
            keypair,
            evidence,
            payload,
        })
    }

    /// Replaces the evidence (refreshed before it grows stale); it must bind the same key.
    pub fn set_evidence(&mut self, evidence: BoundEvidence) -> Result<()> {
        if evidence.channel_key != self.keypair.public
            || evidence.evidence.report_data != evidence.expected_report_data()
        {
            return Err(Error::BadRemoteIdentity);
        }
        self.payload = evidence.encode_to_vec();
        self.evidence = evidence;
        Ok(())
    }

    /// The evidence this responder presents.
    pub fn evidence(&self) -> &BoundEvidence {
        &self.evidence
    }

    /// Answers a client's first NX message. Returns the session and the answer to send.
    /// The client is anonymous: the channel's [`Channel::peer`] is `None`.
    pub fn accept(
        &self,
        request: &[u8],
        now: UnixSeconds,
        limits: SessionLimits,
    ) -> Result<(Channel, Vec<u8>)> {
        let mut hs = builder(NX_PROTOCOL)?
            .local_private_key(&self.keypair.private)
            .map_err(|_| Error::Handshake)?
            .build_responder()
            .map_err(|_| Error::Handshake)?;
        let mut scratch = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .read_message(request, &mut scratch)
            .map_err(|_| Error::Handshake)?;
        if n != 0 {
            return Err(Error::Handshake);
        }
        let mut out = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .write_message(&self.payload, &mut out)
            .map_err(|_| Error::Handshake)?;
        out.truncate(n);
        let channel = Channel::from_handshake(hs, None, now, limits)?;
        Ok((channel, out))
    }

    /// Starts an IX handshake to a peer enclave (ingest peers).
    pub fn peer_initiate(&self, verifier: Verifier) -> Result<(PeerHandshake, Vec<u8>)> {
        let mut hs = builder(IX_PROTOCOL)?
            .local_private_key(&self.keypair.private)
            .map_err(|_| Error::Handshake)?
            .build_initiator()
            .map_err(|_| Error::Handshake)?;
        let mut out = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .write_message(&self.payload, &mut out)
            .map_err(|_| Error::Handshake)?;
        out.truncate(n);
        Ok((PeerHandshake { hs, verifier }, out))
    }

    /// Answers a peer's first IX message: verifies the peer's evidence, then answers with
    /// ours. Returns the session (whose [`Channel::peer`] is the verified peer) and the
    /// answer.
    pub fn peer_accept(
        &self,
        request: &[u8],
        verifier: &Verifier,
        now: UnixSeconds,
        limits: SessionLimits,
    ) -> Result<(Channel, Vec<u8>)> {
        let mut hs = builder(IX_PROTOCOL)?
            .local_private_key(&self.keypair.private)
            .map_err(|_| Error::Handshake)?
            .build_responder()
            .map_err(|_| Error::Handshake)?;
        let mut payload = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .read_message(request, &mut payload)
            .map_err(|_| Error::Handshake)?;
        let peer = check_peer(&hs, &payload[..n], verifier, now)?;
        let mut out = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = hs
            .write_message(&self.payload, &mut out)
            .map_err(|_| Error::Handshake)?;
        out.truncate(n);
        let channel = Channel::from_handshake(hs, Some(peer), now, limits)?;
        Ok((channel, out))
    }
}

/// The initiator's side of IX, between its first message and the peer's answer.
pub struct PeerHandshake {
    hs: HandshakeState,
    verifier: Verifier,
}

impl core::fmt::Debug for PeerHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerHandshake").finish_non_exhaustive()
    }
}

impl PeerHandshake {
    /// Reads the peer's answer and verifies its evidence before returning the channel.
    pub fn finish(
        self,
        response: &[u8],
        now: UnixSeconds,
        limits: SessionLimits,
    ) -> Result<Channel> {
        finish_verified(self.hs, &self.verifier, response, now, limits)
    }
}

/// The enclave's table of client sessions, keyed by channel id, with a capacity: when full,
/// the least recently used session is dropped (its client must re-authenticate).
pub struct SessionTable {
    sessions: HashMap<ChannelId, Channel>,
    capacity: usize,
}

impl core::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionTable")
            .field("sessions", &self.sessions.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl SessionTable {
    /// A table holding at most `capacity` sessions (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            sessions: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Adds a session, evicting the least recently used one when full.
    pub fn insert(&mut self, channel: Channel) {
        if self.sessions.len() >= self.capacity && !self.sessions.contains_key(&channel.id) {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.sessions.remove(&id);
            }
        }
        self.sessions.insert(channel.id.clone(), channel);
    }

    /// Removes a session; true if it was there.
    pub fn close(&mut self, id: &[u8]) -> bool {
        self.sessions.remove(&ChannelId(id.to_vec())).is_some()
    }

    /// Opens a frame on the session it names. An expired session is dropped.
    pub fn open(&mut self, frame: &NonceMessage, now: UnixSeconds) -> Result<Vec<u8>> {
        let id = ChannelId(frame.channel_id.clone());
        let channel = self.sessions.get_mut(&id).ok_or(Error::UnknownChannel)?;
        let out = channel.open(frame, now);
        if matches!(out, Err(Error::SessionExpired | Error::SessionIdle)) {
            self.sessions.remove(&id);
        }
        out
    }

    /// Seals a reply on session `id`.
    pub fn seal(
        &mut self,
        id: &[u8],
        aad: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
    ) -> Result<NonceMessage> {
        let key = ChannelId(id.to_vec());
        let channel = self.sessions.get_mut(&key).ok_or(Error::UnknownChannel)?;
        let out = channel.seal(aad, plaintext, now);
        if matches!(out, Err(Error::SessionExpired | Error::SessionIdle)) {
            self.sessions.remove(&key);
        }
        out
    }
}
