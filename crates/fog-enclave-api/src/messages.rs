//! The boundary's messages: for each enclave a request `oneof` and a response `oneof`, with
//! the attestation and channel calls defined now and room (new tags) for the enclave's own
//! calls in later issues. Encoded with prost; every byte string is opaque here and checked
//! by the side that reads it.
//!
//! Trust side: both. Nothing in a message is a secret the host may not see: channel frames
//! are ciphertext, evidence and handshake messages are public.

/// A payload-free error from the enclave. No variant carries data, so nothing that depends
/// on a secret (a key, a plaintext, a timing-dependent count) leaves the enclave through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EnclaveError {
    /// A request, or a response, did not decode.
    #[error("malformed message across the enclave boundary")]
    Malformed,
    /// The enclave does not handle this request (wrong kind, or not yet implemented).
    #[error("request not supported by this enclave")]
    Unsupported,
    /// The enclave is not initialized yet (no keys, no evidence).
    #[error("enclave not initialized")]
    NotInitialized,
    /// A handshake failed or the peer's evidence was refused.
    #[error("attestation or handshake failed")]
    Attestation,
    /// A frame names a channel the enclave does not hold: the client must re-authenticate.
    #[error("unknown channel")]
    UnknownChannel,
    /// A frame was refused (replayed, reordered, forged or the session expired).
    #[error("channel frame refused")]
    Channel,
    /// The enclave's providers (evidence, randomness) failed.
    #[error("enclave provider failure")]
    Provider,
    /// An internal invariant failed; a bug.
    #[error("internal enclave error")]
    Internal,
}

impl EnclaveError {
    /// A stable wire code.
    pub fn to_code(self) -> u32 {
        match self {
            Self::Malformed => 1,
            Self::Unsupported => 2,
            Self::NotInitialized => 3,
            Self::Attestation => 4,
            Self::UnknownChannel => 5,
            Self::Channel => 6,
            Self::Provider => 7,
            Self::Internal => 8,
        }
    }

    /// From a wire code; unknown codes are `Internal`.
    pub fn from_code(code: u32) -> Self {
        match code {
            1 => Self::Malformed,
            2 => Self::Unsupported,
            3 => Self::NotInitialized,
            4 => Self::Attestation,
            5 => Self::UnknownChannel,
            6 => Self::Channel,
            7 => Self::Provider,
            _ => Self::Internal,
        }
    }
}

/// A raw Noise handshake message (`attest.AuthMessage`'s content).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ChannelHello {
    /// The handshake bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// An encrypted channel frame (`attest.NonceMessage`'s content).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ChannelFrame {
    /// Associated data.
    #[prost(bytes = "vec", tag = "1")]
    pub aad: Vec<u8>,
    /// The channel id.
    #[prost(bytes = "vec", tag = "2")]
    pub channel_id: Vec<u8>,
    /// Ciphertext and tag.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
    /// The sender's counter.
    #[prost(fixed64, tag = "4")]
    pub nonce: u64,
}

/// Requests both channel-serving enclaves (view, ledger) share.
pub mod client {
    use super::{ChannelFrame, ChannelHello};

    /// A client's first handshake message, with the host's time.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct ClientAccept {
        /// The client's `→ e`.
        #[prost(message, optional, tag = "1")]
        pub hello: Option<ChannelHello>,
        /// The host's time.
        #[prost(fixed64, tag = "2")]
        pub now: u64,
    }

    /// A client's encrypted request, with the host's time.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct ClientRequest {
        /// The frame.
        #[prost(message, optional, tag = "1")]
        pub frame: Option<ChannelFrame>,
        /// The host's time.
        #[prost(fixed64, tag = "2")]
        pub now: u64,
    }

    /// Drops a client session.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct ClientClose {
        /// The channel id.
        #[prost(bytes = "vec", tag = "1")]
        pub channel_id: Vec<u8>,
    }
}

/// Hands the enclave fresh evidence the host's provider made for the report data the
/// enclave asked for (the provider, like SGX's quoting enclave, sits outside).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SetEvidence {
    /// `attest.BoundEvidence` bytes: the provider's evidence and the public keys it binds,
    /// which the enclave checks are its own.
    #[prost(bytes = "vec", tag = "1")]
    pub evidence: Vec<u8>,
}

/// A call without arguments, or an answer without content.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Empty {}

/// Whether a channel the host asked to close was open.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Closed {
    /// True if it was.
    #[prost(bool, tag = "1")]
    pub was_open: bool,
}

/// What both routers (view and ledger) share: their store channels and the queries they hold
/// inside behind a handle.
pub mod router {
    /// Names a query (or key-image check) the router holds inside.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Handle {
        /// The handle the router gave when it opened the query.
        #[prost(uint64, tag = "1")]
        pub handle: u64,
    }

    /// Seals a held query for one store, on one of the store's channels.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct StoreRequest {
        /// The query.
        #[prost(uint64, tag = "1")]
        pub handle: u64,
        /// The store channel to seal it on (one the host lends to this query alone).
        #[prost(bytes = "vec", tag = "2")]
        pub channel_id: Vec<u8>,
        /// The host's time (seconds since the Unix epoch).
        #[prost(fixed64, tag = "3")]
        pub now: u64,
    }

    /// One store's answer to a held query, or its absence.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct StoreAnswer {
        /// Whether the store answered (the other fields are empty when not).
        #[prost(bool, tag = "1")]
        pub answered: bool,
        /// The channel the request went on.
        #[prost(bytes = "vec", tag = "2")]
        pub channel_id: Vec<u8>,
        /// The encoded answer frame.
        #[prost(bytes = "vec", tag = "3")]
        pub frame: Vec<u8>,
    }

    /// The stores' answers to a held query: merge them, seal the client's answer, forget the
    /// query.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Finish {
        /// The query.
        #[prost(uint64, tag = "1")]
        pub handle: u64,
        /// One per store asked, in order.
        #[prost(message, repeated, tag = "2")]
        pub answers: Vec<StoreAnswer>,
        /// The host's time (seconds since the Unix epoch).
        #[prost(fixed64, tag = "3")]
        pub now: u64,
    }

    /// Finishes a store channel this router started, with the store's reply.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct StoreFinish {
        /// The token the channel's start gave.
        #[prost(uint64, tag = "1")]
        pub token: u64,
        /// The store's reply.
        #[prost(bytes = "vec", tag = "2")]
        pub reply: Vec<u8>,
        /// The host's time (seconds since the Unix epoch).
        #[prost(fixed64, tag = "3")]
        pub now: u64,
    }

    /// Names a store channel.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct StoreChannel {
        /// The channel id, the same on both ends.
        #[prost(bytes = "vec", tag = "1")]
        pub channel_id: Vec<u8>,
    }
}
