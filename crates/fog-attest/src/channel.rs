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
use crate::verifier::{Verdict, Verifier};
use crate::wire::NonceMessage;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use snow::{Builder, HandshakeState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    peer: Option<(BoundEvidence, Verdict)>,
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
        peer: Option<(BoundEvidence, Verdict)>,
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
        self.peer.as_ref().map(|(bound, _)| bound)
    }

    /// What the verifier said of the peer's evidence (its kind and TCB status: a TCB the
    /// policy accepts although it is not up to date shows here); `None` where
    /// [`Channel::peer`] is.
    pub fn peer_verdict(&self) -> Option<&Verdict> {
        self.peer.as_ref().map(|(_, verdict)| verdict)
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
) -> Result<(BoundEvidence, Verdict)> {
    let bound = BoundEvidence::decode(payload)?;
    let remote = hs.get_remote_static().ok_or(Error::Handshake)?;
    if remote != bound.channel_key.as_slice() {
        return Err(Error::BadRemoteIdentity);
    }
    let verdict = verifier.verify_bound(&bound, now)?;
    Ok((bound, verdict))
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
    /// A responder with fresh channel keys, its evidence from `provider` binding them (and
    /// no custom identity): how every enclave that serves sessions starts. Renew the evidence
    /// later with [`BoundEvidence::bind`] on the same [`Self::channel_key`].
    pub fn from_provider(provider: &impl crate::sim::Provider) -> Result<Self> {
        let keypair = ChannelKeypair::generate()?;
        let evidence = BoundEvidence::bind(provider, keypair.public_key(), None)?;
        Self::new(keypair, evidence)
    }

    /// The channel public key the evidence binds.
    pub fn channel_key(&self) -> &[u8; 32] {
        self.keypair.public_key()
    }

    /// A responder. `evidence` must bind `keypair`'s public key (checked here, so a
    /// misconfigured enclave fails at start, not at its first client).
    pub fn new(keypair: ChannelKeypair, evidence: BoundEvidence) -> Result<Self> {
        if evidence.channel_key != keypair.public
            || evidence.evidence.report_data().ok() != Some(evidence.expected_report_data())
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
            || evidence.evidence.report_data().ok() != Some(evidence.expected_report_data())
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

/// Who a session came from, as the host names it: the session table bounds sessions per
/// peer with it, so one peer's handshakes can only push out that peer's own sessions (and,
/// once the table is full, those of peers holding at least as many).
///
/// Clients are anonymous in the Noise sense (NX), so the enclave cannot know who a peer is:
/// the server chooses the key from what its transport sees, normally the client's IP address
/// ([`PeerKey::from_ip`]). It is a scheduling hint, not an identity: a hostile host can give
/// every session the same key or a fresh one (it can drop every session anyway), and a client
/// with many addresses counts as many peers. The enclave never returns it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey([u8; 16]);

impl PeerKey {
    /// Sessions whose transport gave no address (in-process tests, Unix sockets). All of them
    /// share one per-peer budget.
    pub const UNKNOWN: PeerKey = PeerKey([0xff; 16]);

    /// The key for a client at `ip`: an IPv4 address as its IPv4-mapped IPv6 form, an IPv6
    /// address cut to its /64 prefix (one host or site normally holds a whole /64, so its
    /// addresses count as one peer).
    pub fn from_ip(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(v4) => PeerKey(v4.to_ipv6_mapped().octets()),
            std::net::IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return PeerKey(v4.to_ipv6_mapped().octets());
                }
                let mut o = v6.octets();
                o[8..].fill(0);
                PeerKey(o)
            }
        }
    }

    /// The key for a transport's remote address: [`PeerKey::from_ip`], or
    /// [`PeerKey::UNKNOWN`] when the transport gives none.
    pub fn from_remote(addr: Option<std::net::SocketAddr>) -> Self {
        addr.map_or(Self::UNKNOWN, |a| Self::from_ip(a.ip()))
    }
}

impl core::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A client's address is user-identifying: never printed.
        f.write_str("PeerKey(…)")
    }
}

/// A session in the table, with its owner and its place in the owner's recency order.
struct Held {
    channel: Channel,
    peer: PeerKey,
    tick: u64,
}

/// The enclave's table of client sessions, keyed by channel id.
///
/// Bounds: at most `capacity` sessions in all and at most `per_peer` for one [`PeerKey`].
/// A new session from a peer at its bound replaces that peer's least recently used session.
/// When the whole table is full, the new session replaces the least recently used session of
/// the peer holding the most sessions (the newcomer's own when it holds as many as anyone):
/// a flood of handshakes from one peer only ever displaces sessions of that peer, or of peers
/// holding more, so a peer with one session is displaced only when every live peer holds at
/// most one (ties between equal peers are broken by key order). An evicted client must
/// authenticate again.
///
/// Cost: every operation is O(log n) (hash lookups and ordered-set updates); nothing scans
/// the table.
pub struct SessionTable {
    sessions: HashMap<ChannelId, Held>,
    /// Each peer's sessions by last use (tick → id), oldest first.
    peers: HashMap<PeerKey, BTreeMap<u64, ChannelId>>,
    /// Peers by how many sessions they hold.
    by_count: BTreeSet<(usize, PeerKey)>,
    capacity: usize,
    per_peer: usize,
    tick: u64,
}

impl core::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionTable")
            .field("sessions", &self.sessions.len())
            .field("peers", &self.peers.len())
            .field("capacity", &self.capacity)
            .field("per_peer", &self.per_peer)
            .finish()
    }
}

impl SessionTable {
    /// A table holding at most `capacity` sessions (at least one), with no bound per peer
    /// beyond the fair share of a full table.
    pub fn new(capacity: usize) -> Self {
        Self::with_per_peer(capacity, capacity)
    }

    /// A table holding at most `capacity` sessions and at most `per_peer` for one peer (both
    /// at least one).
    pub fn with_per_peer(capacity: usize, per_peer: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            sessions: HashMap::new(),
            peers: HashMap::new(),
            by_count: BTreeSet::new(),
            capacity,
            per_peer: per_peer.clamp(1, capacity),
            tick: 0,
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

    /// How many sessions `peer` holds.
    pub fn peer_len(&self, peer: &PeerKey) -> usize {
        self.peers.get(peer).map_or(0, BTreeMap::len)
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Adds `peer`'s new session, first making room as the type's documentation says.
    pub fn insert(&mut self, peer: PeerKey, channel: Channel) {
        // A handshake hash repeats only if the same handshake is inserted twice: replace it.
        self.remove(&channel.id);
        let own = self.peer_len(&peer);
        if own >= self.per_peer {
            self.evict_oldest_of(peer);
        } else if self.sessions.len() >= self.capacity {
            let victim = match self.by_count.last() {
                Some(&(most, p)) if most > own => p,
                _ => peer,
            };
            self.evict_oldest_of(victim);
        }
        let tick = self.next_tick();
        let id = channel.id.clone();
        let before = self.peer_len(&peer);
        self.peers.entry(peer).or_default().insert(tick, id.clone());
        self.recount(peer, before);
        self.sessions.insert(
            id,
            Held {
                channel,
                peer,
                tick,
            },
        );
    }

    /// Moves `peer`'s entry in `by_count` from `before` sessions to what it holds now.
    fn recount(&mut self, peer: PeerKey, before: usize) {
        let now = self.peer_len(&peer);
        if before > 0 {
            self.by_count.remove(&(before, peer));
        }
        if now > 0 {
            self.by_count.insert((now, peer));
        } else {
            self.peers.remove(&peer);
        }
    }

    fn evict_oldest_of(&mut self, peer: PeerKey) {
        let oldest = self
            .peers
            .get(&peer)
            .and_then(|s| s.first_key_value())
            .map(|(_, id)| id.clone());
        if let Some(id) = oldest {
            self.remove(&id);
        }
    }

    /// Removes session `id`; true if it was there.
    fn remove(&mut self, id: &ChannelId) -> bool {
        let Some(held) = self.sessions.remove(id) else {
            return false;
        };
        let before = self.peer_len(&held.peer);
        if let Some(s) = self.peers.get_mut(&held.peer) {
            s.remove(&held.tick);
        }
        self.recount(held.peer, before);
        true
    }

    /// Marks session `id` as just used.
    fn touch(&mut self, id: &ChannelId) {
        let tick = self.next_tick();
        if let Some(held) = self.sessions.get_mut(id) {
            if let Some(s) = self.peers.get_mut(&held.peer) {
                s.remove(&held.tick);
                s.insert(tick, id.clone());
            }
            held.tick = tick;
        }
    }

    /// Removes a session; true if it was there.
    pub fn close(&mut self, id: &[u8]) -> bool {
        self.remove(&ChannelId(id.to_vec()))
    }

    /// Opens a frame on the session it names. An expired session is dropped.
    pub fn open(&mut self, frame: &NonceMessage, now: UnixSeconds) -> Result<Vec<u8>> {
        let id = ChannelId(frame.channel_id.clone());
        let held = self.sessions.get_mut(&id).ok_or(Error::UnknownChannel)?;
        let out = held.channel.open(frame, now);
        self.after_use(&id, &out);
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
        let held = self.sessions.get_mut(&key).ok_or(Error::UnknownChannel)?;
        let out = held.channel.seal(aad, plaintext, now);
        self.after_use(&key, &out);
        out
    }

    /// Drops an expired session; moves a live one that carried a frame to the recent end.
    fn after_use<T>(&mut self, id: &ChannelId, out: &Result<T>) {
        match out {
            Err(Error::SessionExpired | Error::SessionIdle) => {
                self.remove(id);
            }
            Ok(_) => self.touch(id),
            Err(_) => {}
        }
    }
}
