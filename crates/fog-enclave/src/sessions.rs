//! Client sessions of an attested enclave (view, ledger): the NX responder that proves the
//! enclave's identity, and the table of live channels, shared by every thread that enters
//! the enclave.
//!
//! The host passes handshake messages and frames through; it never holds a session key. The
//! time the host passes in only bounds session lifetime (see `fog_attest::channel`).
//!
//! Trust side: trusted.

use alloc::vec::Vec;
pub use fog_enclave_api::errors::SessionError;
use std::sync::{Mutex, RwLock};

use fog_attest::{
    wire::NonceMessage, BoundEvidence, EnclaveResponder, PeerKey, SessionLimits, SessionTable,
    UnixSeconds,
};
use zeroize::Zeroizing;

/// MobileCoin's client-session cache size (one definition, in the boundary crate, for the
/// enclaves and the hosts that configure them).
pub use fog_enclave_api::view::DEFAULT_SESSION_CAPACITY;

/// Sessions one peer (one client IP address, or IPv6 /64, as the server names it) may hold at
/// once; its next handshake replaces its own least recently used session. A tenth of the
/// default table, so a hundred busy NATs fit, and one flooding address never fills it.
pub const DEFAULT_SESSIONS_PER_PEER: usize = 1_000;

/// The largest request frame the enclave opens (a view query of 4096 keys is ~70 KiB).
pub const MAX_REQUEST_FRAME: usize = 1 << 20;

fn map_err(e: fog_attest::Error) -> SessionError {
    match e {
        fog_attest::Error::UnknownChannel
        | fog_attest::Error::SessionExpired
        | fog_attest::Error::SessionIdle => SessionError::UnknownSession,
        fog_attest::Error::Replayed | fog_attest::Error::Reordered | fog_attest::Error::Decrypt => {
            SessionError::BadFrame
        }
        _ => SessionError::Handshake,
    }
}

/// The responder and the session table.
pub struct ClientSessions {
    responder: RwLock<EnclaveResponder>,
    table: Mutex<SessionTable>,
    limits: SessionLimits,
    /// The host's time, never allowed back (see [`crate::clock`]).
    clock: crate::clock::HostClock,
}

impl core::fmt::Debug for ClientSessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientSessions")
            .field("responder", &*self.responder())
            .finish_non_exhaustive()
    }
}

impl ClientSessions {
    /// Sessions answered by `responder`, at most `capacity` live at once and at most
    /// [`DEFAULT_SESSIONS_PER_PEER`] (or `capacity`, if smaller) for one peer. See
    /// [`SessionTable`] for which session a new one replaces.
    pub fn new(responder: EnclaveResponder, capacity: usize, limits: SessionLimits) -> Self {
        Self::with_per_peer(responder, capacity, DEFAULT_SESSIONS_PER_PEER, limits)
    }

    /// Like [`ClientSessions::new`] with an explicit bound per peer.
    pub fn with_per_peer(
        responder: EnclaveResponder,
        capacity: usize,
        per_peer: usize,
        limits: SessionLimits,
    ) -> Self {
        Self {
            responder: RwLock::new(responder),
            table: Mutex::new(SessionTable::with_per_peer(capacity, per_peer)),
            limits,
            clock: crate::clock::HostClock::new(),
        }
    }

    /// The evidence the enclave presents.
    pub fn evidence(&self) -> BoundEvidence {
        self.responder().evidence().clone()
    }

    /// Replaces the evidence (the host refreshes it before clients' policies find it stale);
    /// it must bind the same channel key.
    pub fn set_evidence(&self, evidence: BoundEvidence) -> Result<(), SessionError> {
        self.responder
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .set_evidence(evidence)
            .map_err(|_| SessionError::Handshake)
    }

    fn responder(&self) -> std::sync::RwLockReadGuard<'_, EnclaveResponder> {
        self.responder
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers a client's NX hello and keeps the new session, counted against `peer` (the
    /// host's name for where the hello came from, see [`PeerKey`]). The handshake's key
    /// agreement runs before the table is locked; the insertion is O(log n).
    pub fn accept(
        &self,
        hello: &[u8],
        peer: PeerKey,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, SessionError> {
        let now = self.clock.observe(now);
        if hello.len() > fog_attest::channel::MAX_HANDSHAKE_MESSAGE {
            return Err(SessionError::TooLarge);
        }
        let (channel, answer) = self
            .responder()
            .accept(hello, now, self.limits)
            .map_err(|_| SessionError::Handshake)?;
        self.lock().insert(peer, channel);
        Ok(answer)
    }

    /// Opens a request frame. The plaintext is zeroized when dropped.
    pub fn open(
        &self,
        frame: &NonceMessage,
        now: UnixSeconds,
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        let now = self.clock.observe(now);
        if frame.data.len() > MAX_REQUEST_FRAME || frame.aad.len() > MAX_REQUEST_FRAME {
            return Err(SessionError::TooLarge);
        }
        self.lock()
            .open(frame, now)
            .map(Zeroizing::new)
            .map_err(map_err)
    }

    /// Seals a response on the session `channel_id` (empty aad, as MobileCoin's enclaves).
    pub fn seal(
        &self,
        channel_id: &[u8],
        plaintext: &[u8],
        now: UnixSeconds,
    ) -> Result<NonceMessage, SessionError> {
        let now = self.clock.observe(now);
        self.lock()
            .seal(channel_id, &[], plaintext, now)
            .map_err(|e| match map_err(e) {
                SessionError::UnknownSession => SessionError::UnknownSession,
                _ => SessionError::Seal,
            })
    }

    /// Drops a session.
    pub fn close(&self, channel_id: &[u8]) -> bool {
        self.lock().close(channel_id)
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionTable> {
        // A panic while holding the table cannot leave it half-updated in a way that matters
        // (each call is one insert/remove/frame), so a poisoned lock is used as is.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
