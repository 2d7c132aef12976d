//! Attested channels between enclaves (IX: both ends present evidence): ingest peers sharing
//! the ingress key ([`crate::ingest_peers`]), and routers talking to the stores of their shards
//! ([`crate::view_router`]). A [`Purpose`] fixes a kind of channel's associated data (so a
//! frame of one kind cannot pass for another), its largest frame and how many channels are
//! kept.
//!
//! Each end proves its identity with evidence bound to its Noise static key, and the
//! [`Verifier`] given at start decides which enclaves count as peers (normally exactly the
//! enclave's own measurement). The host carries the handshake messages and frames, and learns
//! only their sizes.
//!
//! Trust side: trusted. The clock is an input from the host; it only bounds how long a
//! channel lives, and a host that lies about it can only make channels fail.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
pub use fog_enclave_api::errors::PeerError;

use fog_attest::{
    wire::NonceMessage, EnclaveResponder, PeerHandshake, SessionLimits, UnixSeconds, Verifier,
};
use prost::Message;

/// The requests one exchange (a router's query) sealed: which channels, with which frame
/// numbers. Only answers on those channels, with those numbers, are opened for it.
#[derive(Debug, Default)]
pub struct Exchange {
    sealed: std::sync::Mutex<Vec<(Vec<u8>, u64)>>,
}

/// What a kind of channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purpose {
    /// The associated data of every frame (public, authenticated).
    pub aad: &'static [u8],
    /// The largest encoded frame [`PeerChannels::open`] decodes.
    pub max_frame: usize,
    /// Channels kept open at once; the oldest is dropped for a new one.
    pub max_channels: usize,
    /// Handshakes started and not yet finished; the oldest is dropped for a new one.
    pub max_pending: usize,
}

/// An enclave's attested channels of one [`Purpose`].
pub struct PeerChannels {
    purpose: Purpose,
    responder: EnclaveResponder,
    verifier: Verifier,
    limits: SessionLimits,
    pending: VecDeque<(u64, PeerHandshake)>,
    next_token: u64,
    channels: BTreeMap<Vec<u8>, fog_attest::Channel>,
    order: VecDeque<Vec<u8>>,
    /// Per channel, the number of the request sealed with [`PeerChannels::seal_request`] and
    /// not yet answered.
    awaiting: BTreeMap<Vec<u8>, u64>,
    /// The host's time, never allowed back (a rewound clock must not make a peer's stale
    /// evidence fresh again).
    clock: crate::clock::HostClock,
}

impl core::fmt::Debug for PeerChannels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerChannels")
            .field("channels", &self.channels.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl PeerChannels {
    /// Channels for `purpose`, proven by `responder`'s evidence, with the peers `verifier`
    /// accepts.
    pub fn new(
        purpose: Purpose,
        responder: EnclaveResponder,
        verifier: Verifier,
        limits: SessionLimits,
    ) -> Self {
        Self {
            purpose,
            responder,
            verifier,
            limits,
            pending: VecDeque::new(),
            next_token: 0,
            channels: BTreeMap::new(),
            order: VecDeque::new(),
            awaiting: BTreeMap::new(),
            clock: crate::clock::HostClock::new(),
        }
    }

    /// Replaces the evidence this enclave presents (refreshed before it grows stale).
    pub fn set_evidence(&mut self, evidence: fog_attest::BoundEvidence) -> Result<(), PeerError> {
        self.responder
            .set_evidence(evidence)
            .map_err(|_| PeerError::Handshake)
    }

    /// The channel key the evidence must bind.
    pub fn channel_key(&self) -> [u8; 32] {
        *self.responder.channel_key()
    }

    /// Starts a handshake to a peer: a token for [`Self::finish`] and the first message.
    pub fn initiate(&mut self) -> Result<(u64, Vec<u8>), PeerError> {
        let (hs, msg) = self
            .responder
            .peer_initiate(self.verifier.clone())
            .map_err(|_| PeerError::Handshake)?;
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        if self.pending.len() >= self.purpose.max_pending.max(1) {
            self.pending.pop_front();
        }
        self.pending.push_back((token, hs));
        Ok((token, msg))
    }

    /// Finishes a handshake with the peer's answer, verifying its evidence. Returns the
    /// channel id, the same on both ends.
    pub fn finish(
        &mut self,
        token: u64,
        response: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let now = self.clock.observe(now);
        let at = self
            .pending
            .iter()
            .position(|(t, _)| *t == token)
            .ok_or(PeerError::UnknownChannel)?;
        let (_, hs) = self.pending.remove(at).ok_or(PeerError::UnknownChannel)?;
        let channel = hs
            .finish(response, now, self.limits)
            .map_err(|_| PeerError::Handshake)?;
        Ok(self.keep(channel))
    }

    /// Answers a peer's first message, verifying its evidence. Returns the channel id and the
    /// answer to send back.
    pub fn accept(
        &mut self,
        request: &[u8],
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), PeerError> {
        let now = self.clock.observe(now);
        let (channel, reply) = self
            .responder
            .peer_accept(request, &self.verifier, now, self.limits)
            .map_err(|_| PeerError::Handshake)?;
        Ok((self.keep(channel), reply))
    }

    fn keep(&mut self, channel: fog_attest::Channel) -> Vec<u8> {
        let id = channel.id().0.clone();
        while self.channels.len() >= self.purpose.max_channels.max(1) {
            match self.order.pop_front() {
                Some(old) => {
                    self.channels.remove(&old);
                    self.awaiting.remove(&old);
                }
                None => break,
            }
        }
        self.channels.insert(id.clone(), channel);
        self.order.push_back(id.clone());
        id
    }

    /// Closes a channel; true if it was open.
    pub fn close(&mut self, channel_id: &[u8]) -> bool {
        self.order.retain(|c| c != channel_id);
        self.awaiting.remove(channel_id);
        self.channels.remove(channel_id).is_some()
    }

    /// Open channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no channel is open.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Seals `plaintext` on the channel into an encoded frame.
    pub fn seal(
        &mut self,
        channel_id: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        Ok(self.seal_frame(channel_id, plaintext, now)?.encode_to_vec())
    }

    /// Seals `plaintext` on the channel with this purpose's aad, at the host's time as the
    /// enclave takes it.
    fn seal_frame(
        &mut self,
        channel_id: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
    ) -> Result<NonceMessage, PeerError> {
        let now = self.clock.observe(now);
        self.channels
            .get_mut(channel_id)
            .ok_or(PeerError::UnknownChannel)?
            .seal(self.purpose.aad, plaintext, now)
            .map_err(|_| PeerError::UnknownChannel)
    }

    /// Opens an encoded frame received on a channel. The plaintext is the caller's to wipe.
    pub fn open(
        &mut self,
        channel_id: &[u8],
        frame: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let now = self.clock.observe(now);
        if frame.len() > self.purpose.max_frame {
            return Err(PeerError::BadFrame);
        }
        let frame = NonceMessage::decode(frame).map_err(|_| PeerError::BadFrame)?;
        if frame.aad != self.purpose.aad || frame.channel_id != channel_id {
            return Err(PeerError::BadFrame);
        }
        let channel = self
            .channels
            .get_mut(channel_id)
            .ok_or(PeerError::UnknownChannel)?;
        channel.open(&frame, now).map_err(|_| PeerError::BadFrame)
    }

    /// Seals a request on the channel for one exchange `of` (the side that asks, e.g. a
    /// router's query): one request at a time on a channel, and its answer must be the frame
    /// of the same number, opened for the same exchange ([`PeerChannels::open_response`]). A
    /// channel whose last request is still unanswered refuses another
    /// ([`PeerError::UnknownChannel`]: the host makes a new channel).
    pub fn seal_request(
        &mut self,
        channel_id: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
        of: &Exchange,
    ) -> Result<Vec<u8>, PeerError> {
        if self.awaiting.contains_key(channel_id) {
            return Err(PeerError::UnknownChannel);
        }
        let frame = self.seal_frame(channel_id, plaintext, now)?;
        self.awaiting.insert(channel_id.to_vec(), frame.nonce);
        of.sealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((channel_id.to_vec(), frame.nonce));
        Ok(frame.encode_to_vec())
    }

    /// Opens the answer to the request exchange `of` sealed on the channel: the peer answers
    /// each request with the frame of the same number (both ends count from 0, one frame each
    /// way per exchange). An answer the host held back from an earlier exchange, an answer on
    /// a channel this exchange did not use, or one to another request is refused
    /// ([`PeerError::BadFrame`]), and the channel stays unusable.
    pub fn open_response(
        &mut self,
        channel_id: &[u8],
        frame: &[u8],
        now: UnixSeconds,
        of: &Exchange,
    ) -> Result<Vec<u8>, PeerError> {
        let expected = *self.awaiting.get(channel_id).ok_or(PeerError::BadFrame)?;
        let ours = of
            .sealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(c, n)| c.as_slice() == channel_id && *n == expected);
        if !ours {
            return Err(PeerError::BadFrame);
        }
        if frame.len() > self.purpose.max_frame {
            return Err(PeerError::BadFrame);
        }
        let decoded = NonceMessage::decode(frame).map_err(|_| PeerError::BadFrame)?;
        if decoded.nonce != expected {
            return Err(PeerError::BadFrame);
        }
        let plaintext = self.open(channel_id, frame, now)?;
        self.awaiting.remove(channel_id);
        Ok(plaintext)
    }
}

/// A router's attested channels to its stores, shared by every query in flight (the view
/// router's and the ledger router's alike): [`PeerChannels`] behind a lock.
#[derive(Debug)]
pub struct StoreLinks(std::sync::Mutex<PeerChannels>);

impl StoreLinks {
    /// Links over `channels`.
    pub fn new(channels: PeerChannels) -> Self {
        Self(std::sync::Mutex::new(channels))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeerChannels> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a channel to a store: a token for [`StoreLinks::finish`] and the hello.
    pub fn initiate(&self) -> Result<(u64, Vec<u8>), PeerError> {
        self.lock().initiate()
    }

    /// Finishes a channel to a store with its reply (checking its evidence); the channel id.
    pub fn finish(&self, token: u64, reply: &[u8], now: UnixSeconds) -> Result<Vec<u8>, PeerError> {
        self.lock().finish(token, reply, now)
    }

    /// Closes a store channel (after a failed exchange its counters are out of step).
    pub fn close(&self, channel_id: &[u8]) -> bool {
        self.lock().close(channel_id)
    }

    /// Replaces the evidence the channels present.
    pub fn set_evidence(&self, evidence: fog_attest::BoundEvidence) -> Result<(), PeerError> {
        self.lock().set_evidence(evidence)
    }

    /// [`PeerChannels::seal_request`].
    pub(crate) fn seal_request(
        &self,
        channel_id: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
        of: &Exchange,
    ) -> Result<Vec<u8>, PeerError> {
        self.lock().seal_request(channel_id, plaintext, now, of)
    }

    /// [`PeerChannels::open_response`].
    pub(crate) fn open_response(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        now: UnixSeconds,
        of: &Exchange,
    ) -> Result<Vec<u8>, PeerError> {
        self.lock().open_response(channel_id, frame, now, of)
    }
}
