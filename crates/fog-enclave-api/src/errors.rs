//! The enclaves' refusals, as the host sees them: payload-free enums (no variant carries
//! anything that depends on a secret; `StoreBehind` carries public block counts), each with a
//! stable [`Refusal`] code so that a refusal crosses the boundary inside a response message.
//!
//! Two kinds of failure cross the boundary. An [`crate::EnclaveError`] says the call itself
//! did not go through (a request that does not decode, a call the enclave does not know, an
//! enclave not yet initialized). A refusal says the enclave took the call and declined it for
//! a reason the host acts on (a block out of order, a full store, an unknown session): it is
//! a response like any other, so the host maps it as it always has.
//!
//! Trust side: both.

use thiserror::Error;

/// The most search keys one view query may carry.
pub const MAX_SEARCH_KEYS: usize = 4096;

/// A refusal on the wire: which variant (`code`), the nested enum's variant (`detail`) and
/// a public number (`value`, `StoreBehind`'s block count).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Refusal {
    /// The variant.
    #[prost(uint32, tag = "1")]
    pub code: u32,
    /// The nested variant, for a variant that wraps another refusal.
    #[prost(uint32, tag = "2")]
    pub detail: u32,
    /// A public count.
    #[prost(uint64, tag = "3")]
    pub value: u64,
}

/// A refusal enum that crosses the boundary.
pub trait Refused: Sized + Copy {
    /// The wire form.
    fn to_refusal(self) -> Refusal;
    /// From the wire; `None` for a code this version does not know.
    fn from_refusal(refusal: Refusal) -> Option<Self>;
}

/// The code bit of [`crate::EnclaveError`] wrapped as a refusal's `Boundary` variant.
const BOUNDARY: u32 = 0x100;

fn is_boundary(code: u32) -> bool {
    code > BOUNDARY && code <= BOUNDARY | 0xff
}

fn boundary(code: u32) -> crate::EnclaveError {
    crate::EnclaveError::from_code(code & 0xff)
}

/// Codes of a flat enum: `code` is the variant's index from 1.
macro_rules! flat_codes {
    ($ty:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        impl $ty {
            /// The variant's code.
            pub fn code(self) -> u32 {
                match self {
                    $(Self::$variant => $code,)+
                    Self::Boundary(e) => BOUNDARY | e.to_code(),
                }
            }
            /// The variant of a code.
            pub fn from_code(code: u32) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)+
                    c if is_boundary(c) => Some(Self::Boundary(boundary(c))),
                    _ => None,
                }
            }
        }
        impl Refused for $ty {
            fn to_refusal(self) -> Refusal {
                Refusal { code: self.code(), detail: 0, value: 0 }
            }
            fn from_refusal(refusal: Refusal) -> Option<Self> {
                Self::from_code(refusal.code)
            }
        }
    };
}

/// Why a session call failed. Payload-free; safe to show the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The handshake message was malformed or failed.
    #[error("handshake failed")]
    Handshake,
    /// The frame names no live session (unknown, evicted or expired): authenticate again.
    #[error("unknown or expired session; authenticate again")]
    UnknownSession,
    /// The frame did not open (tampered, replayed or reordered).
    #[error("frame rejected")]
    BadFrame,
    /// The frame is larger than the enclave's request frame limit (1 MiB).
    #[error("request too large")]
    TooLarge,
    /// The session could not seal the answer (counter exhausted).
    #[error("cannot seal the response")]
    Seal,
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why a peer-channel call failed. Payload-free: nothing here depends on a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The handshake failed: malformed, or the peer's evidence was refused by the verifier.
    #[error("peer handshake failed or the peer's evidence was refused")]
    Handshake,
    /// No channel (or pending handshake) with this id: expired, dropped or never made.
    #[error("unknown peer channel; authenticate again")]
    UnknownChannel,
    /// The frame did not decode or open (tampered, replayed, wrong channel).
    #[error("peer frame rejected")]
    BadFrame,
    /// The frame opened but does not hold an ingress key.
    #[error("the frame does not hold a valid ingress key")]
    BadKey,
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why the view store refused. Payload-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ViewError {
    /// A capacity of zero or beyond the ORAM's limits.
    #[error("invalid configuration")]
    InvalidConfig,
    /// A record whose search key is not 16 bytes or whose payload is too long (public data
    /// from the recovery DB: nothing was stored).
    #[error("malformed record")]
    MalformedRecord,
    /// The store has no room for this record.
    #[error("view store full")]
    Full,
    /// The ORAM failed (integrity or stash); the store must be rebuilt.
    #[error("oblivious storage failed")]
    Storage,
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why the enclave refused an event or block mark. Nothing was taken of the call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// An RNG record without a key, for an invocation already announced, or with an
    /// invocation id not above every earlier one.
    #[error("RNG record refused (no key, repeated or out of order)")]
    BadRngRecord,
    /// A decommission of an invocation no RNG record announced, or decommissioned before.
    #[error("decommission of an unknown or already decommissioned invocation")]
    BadDecommission,
    /// A decommission whose last block is below a block already loaded for the invocation.
    #[error("decommission below the blocks loaded for its invocation")]
    DecommissionBelowLoaded,
    /// A missed range that ends before it starts.
    #[error("missed range ends before it starts")]
    BadRange,
    /// A block of an invocation no RNG record announced.
    #[error("block of an unknown invocation")]
    UnknownInvocation,
    /// A block that is not the next one of its invocation (a gap, a repeat or out of order).
    #[error("block out of order for its invocation")]
    OutOfOrder,
    /// A block after its invocation's decommission.
    #[error("block after its invocation was decommissioned")]
    AfterDecommission,
    /// A block outside the store's configured range.
    #[error("block outside the store's range")]
    OutOfRange,
    /// The range can only be set before anything is loaded, and must hold a block.
    #[error("the block range is set before loading and must not be empty")]
    BadBlockRange,
    /// A record of the batch is malformed (nothing was stored).
    #[error("malformed record")]
    Malformed,
    /// A partition filled up halfway through the batch; every later load is refused (the
    /// host rebuilds the enclave with a larger capacity).
    #[error("view store full")]
    Full,
    /// The store failed, now or in an earlier batch; every later load is refused.
    #[error("view store failed")]
    Store,
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why a view call failed. Payload-free: safe to show the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ViewEnclaveError {
    /// The attested session refused (handshake, unknown session, bad frame).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The decrypted request is not a `QueryRequest`.
    #[error("malformed query")]
    Malformed,
    /// More than [`MAX_SEARCH_KEYS`] keys.
    #[error("too many search keys (at most {MAX_SEARCH_KEYS})")]
    TooManyKeys,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] ViewError),
    /// A client asked a store whose range starts after block 0: it holds records it cannot
    /// vouch for from block 0, so only routers may ask it.
    #[error("this view store serves a block range after block 0: ask its view router")]
    RangeStore,
    /// A router: no store answered.
    #[error("no view store answered")]
    Unavailable,
    /// A router channel refused (handshake, unknown channel, bad frame) or none is enabled.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why the ingest enclave refused. Payload-free: nothing here depends on a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A capacity that is zero, not a power of two, or too large.
    #[error("invalid configuration")]
    InvalidConfig,
    /// A TxOut of the block has no masked amount or bad fields.
    #[error("invalid block data")]
    InvalidBlockData,
    /// The block does not fit in an empty map even after rotating.
    #[error("block too big for the RNG store")]
    BlockTooBig,
    /// The ORAM failed (integrity or stash); the enclave must be restarted.
    #[error("oblivious storage failed")]
    Storage,
    /// A sealed key that does not open with this platform's sealing key.
    #[error("sealed key rejected")]
    BadSealedKey,
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

/// Why the ledger enclave refused. Payload-free: nothing here depends on a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LedgerEnclaveError {
    /// A capacity of zero or beyond the ORAM's limits.
    #[error("invalid configuration")]
    InvalidConfig,
    /// The attested session refused (handshake, unknown session, bad frame, seal).
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// The opened request is not a well-formed request message.
    #[error("malformed request")]
    MalformedRequest,
    /// The request carries more items than allowed.
    #[error("request too large")]
    TooManyItems,
    /// A block other than the next one was offered (the store holds blocks `0..n` only).
    #[error("block out of order")]
    BlockOutOfOrder,
    /// The offered block does not extend the chain the store verified: its id does not
    /// match its fields, its parent is not the last block taken, its contents do not hash
    /// to its contents hash, or its TxOut count does not follow (nothing was stored).
    #[error("block not in the verified chain")]
    NotInChain,
    /// The store has no room for the block's key images (nothing of the block was stored).
    #[error("key-image store full")]
    Full,
    /// The store lacks more of the ledger than the host allows (public block counts only).
    #[error("the key-image store is {behind} blocks behind the ledger")]
    StoreBehind {
        /// Blocks of the ledger the store lacks.
        behind: u64,
    },
    /// The ORAM failed (integrity or stash), or an earlier failure poisoned the store; it
    /// must be rebuilt.
    #[error("oblivious storage failed")]
    Storage,
    /// A key-image block range whose start is past its end, or set after a block was added.
    #[error("invalid key-image block range")]
    BadBlockRange,
    /// A channel between a router and a store refused (handshake, unknown channel, bad
    /// frame), or none is enabled.
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// The call did not go through the boundary (the host's view; the enclave never
    /// answers this).
    #[error("enclave boundary: {0}")]
    Boundary(#[from] crate::EnclaveError),
}

flat_codes!(SessionError { Handshake = 1, UnknownSession = 2, BadFrame = 3, TooLarge = 4, Seal = 5 });
flat_codes!(PeerError { Handshake = 1, UnknownChannel = 2, BadFrame = 3, BadKey = 4 });
flat_codes!(ViewError { InvalidConfig = 1, MalformedRecord = 2, Full = 3, Storage = 4 });
flat_codes!(LoadError {
    BadRngRecord = 1,
    BadDecommission = 2,
    DecommissionBelowLoaded = 3,
    BadRange = 4,
    UnknownInvocation = 5,
    OutOfOrder = 6,
    AfterDecommission = 7,
    OutOfRange = 8,
    BadBlockRange = 9,
    Malformed = 10,
    Full = 11,
    Store = 12,
});
flat_codes!(IngestError {
    InvalidConfig = 1,
    InvalidBlockData = 2,
    BlockTooBig = 3,
    Storage = 4,
    BadSealedKey = 5,
});

impl Refused for ViewEnclaveError {
    fn to_refusal(self) -> Refusal {
        let (code, detail) = match self {
            Self::Session(e) => (1, e.code()),
            Self::Malformed => (2, 0),
            Self::TooManyKeys => (3, 0),
            Self::Store(e) => (4, e.code()),
            Self::RangeStore => (5, 0),
            Self::Unavailable => (6, 0),
            Self::Peer(e) => (7, e.code()),
            Self::Boundary(e) => (BOUNDARY | e.to_code(), 0),
        };
        Refusal {
            code,
            detail,
            value: 0,
        }
    }

    fn from_refusal(r: Refusal) -> Option<Self> {
        Some(match r.code {
            1 => Self::Session(SessionError::from_code(r.detail)?),
            2 => Self::Malformed,
            3 => Self::TooManyKeys,
            4 => Self::Store(ViewError::from_code(r.detail)?),
            5 => Self::RangeStore,
            6 => Self::Unavailable,
            7 => Self::Peer(PeerError::from_code(r.detail)?),
            c if is_boundary(c) => Self::Boundary(boundary(c)),
            _ => return None,
        })
    }
}

impl Refused for LedgerEnclaveError {
    fn to_refusal(self) -> Refusal {
        let (code, detail, value) = match self {
            Self::InvalidConfig => (1, 0, 0),
            Self::Session(e) => (2, e.code(), 0),
            Self::MalformedRequest => (3, 0, 0),
            Self::TooManyItems => (4, 0, 0),
            Self::BlockOutOfOrder => (5, 0, 0),
            Self::NotInChain => (6, 0, 0),
            Self::Full => (7, 0, 0),
            Self::StoreBehind { behind } => (8, 0, behind),
            Self::Storage => (9, 0, 0),
            Self::BadBlockRange => (10, 0, 0),
            Self::Peer(e) => (11, e.code(), 0),
            Self::Boundary(e) => (BOUNDARY | e.to_code(), 0, 0),
        };
        Refusal {
            code,
            detail,
            value,
        }
    }

    fn from_refusal(r: Refusal) -> Option<Self> {
        Some(match r.code {
            1 => Self::InvalidConfig,
            2 => Self::Session(SessionError::from_code(r.detail)?),
            3 => Self::MalformedRequest,
            4 => Self::TooManyItems,
            5 => Self::BlockOutOfOrder,
            6 => Self::NotInChain,
            7 => Self::Full,
            8 => Self::StoreBehind { behind: r.value },
            9 => Self::Storage,
            10 => Self::BadBlockRange,
            11 => Self::Peer(PeerError::from_code(r.detail)?),
            c if is_boundary(c) => Self::Boundary(boundary(c)),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<E: Refused + PartialEq + core::fmt::Debug>(all: &[E]) {
        let mut seen = std::collections::BTreeSet::new();
        for &e in all {
            let r = e.to_refusal();
            assert!(
                seen.insert((r.code, r.detail, r.value)),
                "{e:?} shares a code"
            );
            assert_eq!(E::from_refusal(r), Some(e));
        }
        assert_eq!(
            E::from_refusal(Refusal {
                code: 999,
                detail: 0,
                value: 0
            }),
            None
        );
    }

    #[test]
    fn every_refusal_crosses_and_comes_back() {
        use PeerError as P;
        use SessionError as S;
        use ViewError as V;
        let sessions = [
            S::Handshake,
            S::UnknownSession,
            S::BadFrame,
            S::TooLarge,
            S::Seal,
        ];
        let peers = [P::Handshake, P::UnknownChannel, P::BadFrame, P::BadKey];
        let views = [V::InvalidConfig, V::MalformedRecord, V::Full, V::Storage];
        round_trip(&sessions);
        round_trip(&peers);
        round_trip(&views);
        round_trip(
            &(1..=12)
                .map(|c| LoadError::from_code(c).unwrap())
                .collect::<Vec<_>>(),
        );
        round_trip(
            &(1..=5)
                .map(|c| IngestError::from_code(c).unwrap())
                .collect::<Vec<_>>(),
        );
        let mut view_enclave = vec![
            ViewEnclaveError::Malformed,
            ViewEnclaveError::TooManyKeys,
            ViewEnclaveError::RangeStore,
            ViewEnclaveError::Unavailable,
        ];
        view_enclave.extend(sessions.iter().map(|&e| ViewEnclaveError::Session(e)));
        view_enclave.extend(views.iter().map(|&e| ViewEnclaveError::Store(e)));
        view_enclave.extend(peers.iter().map(|&e| ViewEnclaveError::Peer(e)));
        round_trip(&view_enclave);
        let mut ledger = vec![
            LedgerEnclaveError::InvalidConfig,
            LedgerEnclaveError::MalformedRequest,
            LedgerEnclaveError::TooManyItems,
            LedgerEnclaveError::BlockOutOfOrder,
            LedgerEnclaveError::NotInChain,
            LedgerEnclaveError::Full,
            LedgerEnclaveError::StoreBehind { behind: 7 },
            LedgerEnclaveError::StoreBehind { behind: u64::MAX },
            LedgerEnclaveError::Storage,
            LedgerEnclaveError::BadBlockRange,
        ];
        ledger.extend(sessions.iter().map(|&e| LedgerEnclaveError::Session(e)));
        ledger.extend(peers.iter().map(|&e| LedgerEnclaveError::Peer(e)));
        ledger.push(LedgerEnclaveError::Boundary(crate::EnclaveError::Malformed));
        ledger.push(LedgerEnclaveError::Session(SessionError::Boundary(
            crate::EnclaveError::Internal,
        )));
        round_trip(&ledger);
        round_trip(&[
            IngestError::Boundary(crate::EnclaveError::Unsupported),
            IngestError::Storage,
        ]);
    }
}
