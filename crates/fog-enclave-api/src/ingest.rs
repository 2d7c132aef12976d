//! The ingest enclave's calls: its request and response messages, and the host's typed
//! handle on it ([`IngestClient`]).
//!
//! What crosses, and what does not. The ingest enclave makes its ingress key inside, seals it
//! inside with the sealing-key provider it was loaded with, and unseals it inside: the host
//! gets the sealed bytes to store ([`IngestClient::create`], [`IngestClient::seal_ingress_key`])
//! and hands them back at a restart ([`IngestClient::restore`]). It makes its channel key
//! inside too: the host gets the public half ([`IngestClient::channel_key`]), binds evidence to
//! it with its provider and installs it ([`IngestClient::set_evidence`]). Between ingest
//! enclaves the ingress key moves only inside a frame of an attested channel
//! ([`IngestClient::send_ingress_key`], [`IngestClient::receive_ingress_key`]). So no function
//! of [`IngestClient`] takes or returns an ingress private key, or any private key: only
//! public keys, sealed bytes, channel frames, handshake messages and encrypted records.
//!
//! Nor does anything cross that counts recipients: the RNG store's load crosses only in steps
//! of 10 % ([`coarse_load_percent`], computed inside), and `IngestBlock` answers one record
//! per TxOut and the new egress key when it rotated. A rotation is public anyway (it opens a
//! new ingest invocation in the recovery DB); it says that the epoch's count of distinct
//! recipients crossed the rotation threshold, once per epoch.
//!
//! Failures. A call that does not go through (a request that does not decode, a call before
//! `Create`/`Restore`, a peer call before `SetEvidence`) is an [`EnclaveError`], which the
//! client returns as the `Boundary` variant of the call's typed error; a refusal of the
//! enclave ([`IngestError`] for the ingest calls, [`PeerError`] for the peer channel) is an
//! answer. An answer of the wrong kind is `Boundary(EnclaveError::Malformed)`.
//!
//! Trust side: both (the messages); the client is the host's.

use fog_crypto::{kex_rng::KexRngPubkey, RistrettoPublic};
use fog_transaction::{wire, TxOut};

use crate::errors::{IngestError, PeerError};
use crate::messages::SetEvidence;
pub use crate::messages::{Closed, Empty};
use crate::{EnclaveError, Refusal, Refused, SharedEnclave};
use ingest_request::Call;
use ingest_response::Answer;

/// Makes a fresh ingress key (and egress key, and an empty RNG store of `user_capacity`
/// entries), sealed for this platform. Replaces whatever the enclave held.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Create {
    /// The RNG store's capacity: a power of two, at most 2^28.
    #[prost(uint64, tag = "1")]
    pub user_capacity: u64,
}

/// Opens a sealed ingress key inside (with a fresh egress key and an empty RNG store). On a
/// refusal the enclave keeps what it held.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Restore {
    /// The bytes [`Created::sealed`] or [`Sealed::data`] gave on this platform.
    #[prost(bytes = "vec", tag = "1")]
    pub sealed: Vec<u8>,
    /// The RNG store's capacity: a power of two, at most 2^28.
    #[prost(uint64, tag = "2")]
    pub user_capacity: u64,
}

/// Ingests one block's TxOuts.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IngestBlock {
    /// The block's index.
    #[prost(uint64, tag = "1")]
    pub block_index: u64,
    /// The global index of the block's first TxOut.
    #[prost(uint64, tag = "2")]
    pub first_global_index: u64,
    /// The block's timestamp.
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
    /// The block's TxOuts, in order.
    #[prost(message, repeated, tag = "4")]
    pub tx_outs: Vec<wire::TxOut>,
}

/// Finishes a peer handshake this enclave started.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerFinish {
    /// The token [`PeerHello::token`] gave.
    #[prost(uint64, tag = "1")]
    pub token: u64,
    /// The peer's answer.
    #[prost(bytes = "vec", tag = "2")]
    pub message: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// Answers a peer's first handshake message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerAccept {
    /// The peer's first message.
    #[prost(bytes = "vec", tag = "1")]
    pub message: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "2")]
    pub now: u64,
}

/// Names a peer channel (closing it), or seals the ingress key on it (sending it).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerChannel {
    /// The channel id.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The host's time (seconds since the Unix epoch); unused by a close.
    #[prost(fixed64, tag = "2")]
    pub now: u64,
}

/// A frame received on a peer channel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerFrame {
    /// The channel id.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The encoded frame.
    #[prost(bytes = "vec", tag = "2")]
    pub frame: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// A request to the ingest enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IngestRequest {
    /// The call.
    #[prost(
        oneof = "ingest_request::Call",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20"
    )]
    pub call: Option<ingest_request::Call>,
}

/// The calls of [`IngestRequest`].
pub mod ingest_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// A fresh ingress key, sealed: answers `Created`.
        #[prost(message, tag = "1")]
        Create(super::Create),
        /// The ingress key a sealed blob holds: answers `IngressPublicKey`.
        #[prost(message, tag = "2")]
        Restore(super::Restore),
        /// Answers `IngressPublicKey`.
        #[prost(message, tag = "3")]
        GetIngressPublicKey(super::Empty),
        /// The egress public key: answers `KexRngPubkey`.
        #[prost(message, tag = "4")]
        GetKexRngPubkey(super::Empty),
        /// The RNG store's coarse load and capacity: answers `MapLoad`.
        #[prost(message, tag = "5")]
        GetMapLoad(super::Empty),
        /// A new egress key and an empty RNG store: answers `KexRngPubkey`.
        #[prost(message, tag = "6")]
        Rotate(super::Empty),
        /// Answers `Ingested`.
        #[prost(message, tag = "7")]
        IngestBlock(super::IngestBlock),
        /// Replaces the ingress key with a fresh one: answers `IngressPublicKey`.
        #[prost(message, tag = "8")]
        NewIngressKey(super::Empty),
        /// The ingress key sealed for this platform: answers `Sealed`.
        #[prost(message, tag = "9")]
        Seal(super::Empty),
        /// The public half of the enclave's channel key: answers `ChannelKey`.
        #[prost(message, tag = "10")]
        GetChannelKey(super::Empty),
        /// Evidence (`attest.BoundEvidence`) binding the channel key, which the enclave
        /// presents to its peers: answers `Done`.
        #[prost(message, tag = "11")]
        SetEvidence(super::SetEvidence),
        /// Starts a handshake to a peer enclave: answers `PeerHello`.
        #[prost(message, tag = "12")]
        PeerInitiate(super::Empty),
        /// Answers `PeerChannel`.
        #[prost(message, tag = "13")]
        PeerFinish(super::PeerFinish),
        /// Answers `PeerAccepted`.
        #[prost(message, tag = "14")]
        PeerAccept(super::PeerAccept),
        /// Answers `Closed`.
        #[prost(message, tag = "15")]
        PeerClose(super::PeerChannel),
        /// The ingress key sealed in a frame for the peer at the other end: answers `Frame`.
        #[prost(message, tag = "16")]
        SendIngressKey(super::PeerChannel),
        /// Takes the ingress key a peer sent: answers `IngressPublicKey`.
        #[prost(message, tag = "17")]
        ReceiveIngressKey(super::PeerFrame),
        /// Lends the calling thread to the enclave's per-TxOut public-key work until
        /// `StopWorkers`: answers `Done` only then. Works before `Create` too.
        #[prost(message, tag = "18")]
        RunWorker(super::Empty),
        /// Every lent thread returns (blocks then run on the caller's thread alone): answers
        /// `Done`.
        #[prost(message, tag = "19")]
        StopWorkers(super::Empty),
        /// The lent threads: answers `Workers`.
        #[prost(message, tag = "20")]
        GetWorkers(super::Empty),
    }
}

/// A fresh ingress key: its public half, and the key sealed for this platform.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Created {
    /// The compressed Ristretto ingress public key.
    #[prost(bytes = "vec", tag = "1")]
    pub ingress_public_key: Vec<u8>,
    /// The sealed ingress key, for the host to store.
    #[prost(bytes = "vec", tag = "2")]
    pub sealed: Vec<u8>,
}

/// A public key (32 bytes: the compressed Ristretto ingress key, or the X25519 channel key).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PublicKey {
    /// The key's bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

/// The RNG store's load, coarse ([`coarse_load_percent`], computed inside). The exact entry
/// count never crosses: it grows by one per output to a recipient not seen since the last
/// rotation, so read after every block it would tell the host how many of the block's outputs
/// went to new recipients. (Tag 1 carried that count before; it is retired, never reused.)
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct MapLoad {
    /// The configured capacity (public).
    #[prost(uint64, tag = "2")]
    pub capacity: u64,
    /// The load in whole steps of 10 %, rounded down: 0, 10, …, 100.
    #[prost(uint32, tag = "3")]
    pub load_percent: u32,
}

/// The RNG store's load in whole steps of 10 % of `capacity`, rounded down: 0, 10, …, 100
/// (0 for a capacity of 0). The ingest enclave answers `GetMapLoad` with it, computed
/// inside, and the host exports nothing finer.
///
/// Why coarse: the exact entry count grows by one for each output to a recipient not seen
/// since the last rotation, so its value after every block tells whoever reads it how many
/// of that block's outputs went to new recipients, and links payments across blocks. In
/// steps of 10 % the value changes once per `capacity / 10` new recipients, which is enough
/// to see rotation approach.
///
/// What stays visible: the block at which the load crosses a step, and the block at which
/// the enclave rotates (the new egress key and invocation are public in the recovery DB).
/// The enclave rotates before a block that could take the store past its threshold, and
/// again if a block hits `MapFull`, so the rotation block says that the store was near full
/// then; with the step it says roughly how many distinct recipients the epoch had. Both are
/// bounded by capacity and say nothing about which outputs were new.
///
/// Constant time in `len` (one multiplication and one division of 128-bit values).
pub fn coarse_load_percent(len: u64, capacity: u64) -> u8 {
    if capacity == 0 {
        return 0;
    }
    // `len.min(capacity) * 10 / capacity` is at most 10: the cast cannot truncate.
    let tenths = (u128::from(len.min(capacity)) * 10 / u128::from(capacity)) as u8;
    tenths * 10
}

/// The RNG store's load as the host sees it ([`IngestClient::map_load`]): the coarse step
/// and the capacity, nothing finer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoarseMapLoad {
    /// [`coarse_load_percent`]: 0, 10, …, 100.
    pub percent: u8,
    /// The configured capacity (public).
    pub capacity: u64,
}

/// What ingesting one block produced.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ingested {
    /// One record per TxOut, in the block's order.
    #[prost(message, repeated, tag = "1")]
    pub records: Vec<wire::ETxOutRecord>,
    /// The new egress public key if the enclave rotated before or during the block.
    #[prost(message, optional, tag = "2")]
    pub rotated_to: Option<KexRngPubkey>,
}

/// Sealed bytes.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Sealed {
    /// The sealed ingress key.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// A handshake started: the token to finish it with and the first message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerHello {
    /// For [`PeerFinish::token`].
    #[prost(uint64, tag = "1")]
    pub token: u64,
    /// The first message, for the peer.
    #[prost(bytes = "vec", tag = "2")]
    pub message: Vec<u8>,
}

/// A peer's handshake answered: the channel and the answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerAccepted {
    /// The channel id, the same on both ends.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The answer, for the peer.
    #[prost(bytes = "vec", tag = "2")]
    pub message: Vec<u8>,
}

/// An encoded channel frame.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Frame {
    /// The frame.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// The threads lent to the enclave's public-key work (all public: they are the host's).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Workers {
    /// Lent threads running now.
    #[prost(uint32, tag = "1")]
    pub lent: u32,
    /// Tasks they ran since the enclave was loaded (the rest ran on the callers' threads).
    #[prost(uint64, tag = "2")]
    pub tasks: u64,
    /// Whether `StopWorkers` was called: a thread lent now returns at once.
    #[prost(bool, tag = "3")]
    pub stopped: bool,
}

/// A response of the ingest enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IngestResponse {
    /// The answer.
    #[prost(
        oneof = "ingest_response::Answer",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"
    )]
    pub answer: Option<ingest_response::Answer>,
}

/// The answers of [`IngestResponse`].
pub mod ingest_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// The enclave refused: an [`crate::errors::IngestError`] for the ingest calls, a
        /// [`crate::errors::PeerError`] for the peer channel's.
        #[prost(message, tag = "1")]
        Refused(crate::Refusal),
        /// Done (`SetEvidence`, `RunWorker` once stopped, `StopWorkers`).
        #[prost(message, tag = "2")]
        Done(super::Empty),
        /// `Create`.
        #[prost(message, tag = "3")]
        Created(super::Created),
        /// `Restore`, `GetIngressPublicKey`, `NewIngressKey`, `ReceiveIngressKey`.
        #[prost(message, tag = "4")]
        IngressPublicKey(super::PublicKey),
        /// `GetKexRngPubkey`, `Rotate`.
        #[prost(message, tag = "5")]
        KexRngPubkey(fog_crypto::kex_rng::KexRngPubkey),
        /// `GetMapLoad`.
        #[prost(message, tag = "6")]
        MapLoad(super::MapLoad),
        /// `IngestBlock`.
        #[prost(message, tag = "7")]
        Ingested(super::Ingested),
        /// `Seal`.
        #[prost(message, tag = "8")]
        Sealed(super::Sealed),
        /// `GetChannelKey`.
        #[prost(message, tag = "9")]
        ChannelKey(super::PublicKey),
        /// `PeerInitiate`.
        #[prost(message, tag = "10")]
        PeerHello(super::PeerHello),
        /// `PeerFinish`: the channel id.
        #[prost(message, tag = "11")]
        PeerChannel(super::PeerChannel),
        /// `PeerAccept`.
        #[prost(message, tag = "12")]
        PeerAccepted(super::PeerAccepted),
        /// `PeerClose`.
        #[prost(message, tag = "13")]
        Closed(super::Closed),
        /// `SendIngressKey`.
        #[prost(message, tag = "14")]
        Frame(super::Frame),
        /// `GetWorkers`.
        #[prost(message, tag = "15")]
        Workers(super::Workers),
    }
}

/// What ingesting one block produced ([`IngestClient::ingest_block`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestedBlock {
    /// One record per TxOut, in the block's order.
    pub records: Vec<wire::ETxOutRecord>,
    /// The new egress public key if the enclave rotated before or during this block; the host
    /// must then start a new ingest invocation (RNG record) at this block.
    pub rotated_to: Option<KexRngPubkey>,
}

/// The host's typed handle on an ingest enclave: one method per call, each returning the
/// typed error the enclave's own API returns (with `Boundary` for a call that did not go
/// through). Cheap to clone (a shared handle).
///
/// No method takes or returns a private key: the ingress key crosses only sealed (to this
/// platform, or in a frame of an attested peer channel), and the channel key not at all.
#[derive(Clone)]
pub struct IngestClient {
    enclave: SharedEnclave,
}

impl core::fmt::Debug for IngestClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IngestClient").finish_non_exhaustive()
    }
}

/// A failed call as `E`'s `Boundary` variant, a refusal as the `E` it names.
trait CallError: Refused + From<EnclaveError> {}
impl<E: Refused + From<EnclaveError>> CallError for E {}

fn refused<E: CallError>(refusal: Refusal) -> E {
    E::from_refusal(refusal).unwrap_or_else(|| E::from(EnclaveError::Malformed))
}

fn wrong_answer<E: CallError>() -> E {
    E::from(EnclaveError::Malformed)
}

fn public_key<E: CallError>(bytes: &[u8]) -> Result<RistrettoPublic, E> {
    RistrettoPublic::from_bytes(bytes).map_err(|_| wrong_answer())
}

impl IngestClient {
    /// A client of `enclave` (an ingest enclave).
    pub fn new(enclave: SharedEnclave) -> Self {
        Self { enclave }
    }

    /// One call: the answer, or the call's error (`Boundary` when the call did not go through
    /// or the answer does not decode, the refusal the enclave answered).
    fn call<E: CallError>(&self, call: Call) -> Result<Answer, E> {
        use prost::Message as _;
        let request = IngestRequest { call: Some(call) };
        let bytes = self.enclave.call(&request.encode_to_vec())?;
        let response = IngestResponse::decode(bytes.as_slice()).map_err(|_| wrong_answer::<E>())?;
        match response.answer {
            Some(Answer::Refused(r)) => Err(refused(r)),
            Some(answer) => Ok(answer),
            None => Err(wrong_answer()),
        }
    }

    fn ingress_key_call<E: CallError>(&self, call: Call) -> Result<RistrettoPublic, E> {
        match self.call::<E>(call)? {
            Answer::IngressPublicKey(k) => public_key(&k.key),
            _ => Err(wrong_answer()),
        }
    }

    fn kex_call(&self, call: Call) -> Result<KexRngPubkey, IngestError> {
        match self.call::<IngestError>(call)? {
            Answer::KexRngPubkey(k) => Ok(k),
            _ => Err(wrong_answer()),
        }
    }

    /// Lends the calling thread to the enclave's per-TxOut public-key work (hint
    /// decryption, key exchanges, crypto boxes), which it shares out in tasks of a fixed
    /// number of TxOuts: returns only when [`Self::stop_workers`] is called (`Ok`), at once if
    /// it was already. Lend as many threads as there are cores besides the one that calls
    /// `ingest_block` (which runs the map step and helps with the rest).
    pub fn run_worker(&self) -> Result<(), IngestError> {
        match self.call::<IngestError>(Call::RunWorker(Empty {}))? {
            Answer::Done(_) => Ok(()),
            _ => Err(wrong_answer()),
        }
    }

    /// Every lent thread returns once its current task is done; blocks run on the caller's
    /// thread from then on.
    pub fn stop_workers(&self) -> Result<(), IngestError> {
        match self.call::<IngestError>(Call::StopWorkers(Empty {}))? {
            Answer::Done(_) => Ok(()),
            _ => Err(wrong_answer()),
        }
    }

    /// The lent threads, and the tasks they ran.
    pub fn workers(&self) -> Result<Workers, IngestError> {
        match self.call::<IngestError>(Call::GetWorkers(Empty {}))? {
            Answer::Workers(w) => Ok(w),
            _ => Err(wrong_answer()),
        }
    }

    /// A fresh ingress key (with a fresh egress key and an empty RNG store of
    /// `user_capacity` entries, a power of two): its public half, and the key sealed for this
    /// platform for the host to store.
    pub fn create(&self, user_capacity: u64) -> Result<(RistrettoPublic, Vec<u8>), IngestError> {
        match self.call::<IngestError>(Call::Create(Create { user_capacity }))? {
            Answer::Created(c) => Ok((public_key::<IngestError>(&c.ingress_public_key)?, c.sealed)),
            _ => Err(wrong_answer()),
        }
    }

    /// The ingress key `sealed` holds, opened inside (sealed by [`Self::create`] or
    /// [`Self::seal_ingress_key`] on this platform); a fresh egress key and an empty RNG store.
    /// [`IngestError::BadSealedKey`] if it does not open here; the enclave then keeps what it
    /// held.
    pub fn restore(
        &self,
        sealed: &[u8],
        user_capacity: u64,
    ) -> Result<RistrettoPublic, IngestError> {
        self.ingress_key_call(Call::Restore(Restore {
            sealed: sealed.to_vec(),
            user_capacity,
        }))
    }

    /// The ingress public key: fog hints are encrypted to it.
    pub fn ingress_public_key(&self) -> Result<RistrettoPublic, IngestError> {
        self.ingress_key_call(Call::GetIngressPublicKey(Empty {}))
    }

    /// The current egress public key, as clients rebuild their RNGs from it.
    pub fn kex_rng_pubkey(&self) -> Result<KexRngPubkey, IngestError> {
        self.kex_call(Call::GetKexRngPubkey(Empty {}))
    }

    /// The RNG store's load in steps of 10 % ([`coarse_load_percent`], computed inside: the
    /// exact entry count never crosses), and its capacity. A percentage that is not such a
    /// step is `Boundary(Malformed)`.
    pub fn map_load(&self) -> Result<CoarseMapLoad, IngestError> {
        match self.call::<IngestError>(Call::GetMapLoad(Empty {}))? {
            Answer::MapLoad(m) => match u8::try_from(m.load_percent) {
                Ok(percent) if percent <= 100 && percent % 10 == 0 => Ok(CoarseMapLoad {
                    percent,
                    capacity: m.capacity,
                }),
                _ => Err(wrong_answer()),
            },
            _ => Err(wrong_answer()),
        }
    }

    /// Starts a new egress key and an empty RNG store (the old egress key is zeroized
    /// inside); the new egress public key.
    pub fn rotate(&self) -> Result<KexRngPubkey, IngestError> {
        self.kex_call(Call::Rotate(Empty {}))
    }

    /// Ingests one block's TxOuts (`first_global_index` is the global index of the first):
    /// one record per TxOut, and the new egress public key if the enclave rotated.
    ///
    /// A refusal may still have rotated: a block that fills the store after a rotation
    /// ([`IngestError::BlockTooBig`] after its retries) or a storage failure
    /// ([`IngestError::Storage`]) can come after the enclave started a new egress key, which
    /// the refusal does not name. After any error the host reads the egress key again
    /// ([`Self::kex_rng_pubkey`]).
    pub fn ingest_block(
        &self,
        block_index: u64,
        first_global_index: u64,
        timestamp: u64,
        tx_outs: &[TxOut],
    ) -> Result<IngestedBlock, IngestError> {
        let call = Call::IngestBlock(IngestBlock {
            block_index,
            first_global_index,
            timestamp,
            tx_outs: tx_outs.iter().map(TxOut::to_wire).collect(),
        });
        match self.call::<IngestError>(call)? {
            Answer::Ingested(i) if i.records.len() == tx_outs.len() => Ok(IngestedBlock {
                records: i.records,
                rotated_to: i.rotated_to,
            }),
            _ => Err(wrong_answer()),
        }
    }

    /// Replaces the ingress key with a fresh one (the old one is zeroized inside); the new
    /// public key. The host seals it next ([`Self::seal_ingress_key`]).
    pub fn new_ingress_key(&self) -> Result<RistrettoPublic, IngestError> {
        self.ingress_key_call(Call::NewIngressKey(Empty {}))
    }

    /// The ingress key sealed for this platform, inside; only the sealed bytes come out.
    pub fn seal_ingress_key(&self) -> Result<Vec<u8>, IngestError> {
        match self.call::<IngestError>(Call::Seal(Empty {}))? {
            Answer::Sealed(s) => Ok(s.data),
            _ => Err(wrong_answer()),
        }
    }

    /// The public half of the channel key the enclave made inside: the key its evidence
    /// must bind (for its peers, and in the published report).
    pub fn channel_key(&self) -> Result<[u8; 32], PeerError> {
        match self.call::<PeerError>(Call::GetChannelKey(Empty {}))? {
            Answer::ChannelKey(k) => {
                <[u8; 32]>::try_from(k.key.as_slice()).map_err(|_| wrong_answer())
            }
            _ => Err(wrong_answer()),
        }
    }

    /// Installs the evidence the enclave presents to its peers; it must bind
    /// [`Self::channel_key`] ([`PeerError::Handshake`] otherwise, and nothing changes). The
    /// first evidence enables the peer channel; later ones refresh it.
    pub fn set_evidence(&self, evidence: &fog_attest::BoundEvidence) -> Result<(), PeerError> {
        let call = Call::SetEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        });
        match self.call::<PeerError>(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(wrong_answer()),
        }
    }

    /// Starts a handshake to a peer enclave: a token for [`Self::peer_finish`] and the first
    /// message.
    pub fn peer_initiate(&self) -> Result<(u64, Vec<u8>), PeerError> {
        match self.call::<PeerError>(Call::PeerInitiate(Empty {}))? {
            Answer::PeerHello(h) => Ok((h.token, h.message)),
            _ => Err(wrong_answer()),
        }
    }

    /// Finishes a handshake this enclave started, verifying the peer's evidence; the
    /// channel id.
    pub fn peer_finish(
        &self,
        token: u64,
        response: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let call = Call::PeerFinish(PeerFinish {
            token,
            message: response.to_vec(),
            now: now.0,
        });
        match self.call::<PeerError>(call)? {
            Answer::PeerChannel(c) => Ok(c.channel_id),
            _ => Err(wrong_answer()),
        }
    }

    /// Answers a peer enclave's first message, verifying its evidence; the channel id and the
    /// answer.
    pub fn peer_accept(
        &self,
        request: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), PeerError> {
        let call = Call::PeerAccept(PeerAccept {
            message: request.to_vec(),
            now: now.0,
        });
        match self.call::<PeerError>(call)? {
            Answer::PeerAccepted(a) => Ok((a.channel_id, a.message)),
            _ => Err(wrong_answer()),
        }
    }

    /// Closes a peer channel; whether it was open.
    pub fn peer_close(&self, channel_id: &[u8]) -> Result<bool, PeerError> {
        let call = Call::PeerClose(PeerChannel {
            channel_id: channel_id.to_vec(),
            now: 0,
        });
        match self.call::<PeerError>(call)? {
            Answer::Closed(c) => Ok(c.was_open),
            _ => Err(wrong_answer()),
        }
    }

    /// The ingress key sealed in a frame on the attested channel `channel_id`: only the
    /// peer enclave at the other end can open it.
    pub fn send_ingress_key(
        &self,
        channel_id: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let call = Call::SendIngressKey(PeerChannel {
            channel_id: channel_id.to_vec(),
            now: now.0,
        });
        match self.call::<PeerError>(call)? {
            Answer::Frame(f) => Ok(f.data),
            _ => Err(wrong_answer()),
        }
    }

    /// Takes the ingress key a peer enclave sent on `channel_id`
    /// ([`Self::send_ingress_key`]); the new ingress public key. The egress key and RNG
    /// store are left alone. On any error nothing changes.
    pub fn receive_ingress_key(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<RistrettoPublic, PeerError> {
        self.ingress_key_call(Call::ReceiveIngressKey(PeerFrame {
            channel_id: channel_id.to_vec(),
            frame: frame.to_vec(),
            now: now.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::coarse_load_percent;

    #[test]
    fn the_load_is_whole_steps_of_ten_percent_rounded_down() {
        assert_eq!(coarse_load_percent(0, 1024), 0);
        assert_eq!(coarse_load_percent(102, 1024), 0);
        assert_eq!(coarse_load_percent(103, 1024), 10);
        assert_eq!(coarse_load_percent(1023, 1024), 90);
        assert_eq!(coarse_load_percent(1024, 1024), 100);
        assert_eq!(coarse_load_percent(u64::MAX, 1024), 100);
        assert_eq!(coarse_load_percent(u64::MAX, u64::MAX), 100);
        assert_eq!(coarse_load_percent(5, 0), 0);
    }

    proptest::proptest! {
        /// A step, never above 100, and (for a capacity of 16 or more) one more entry moves
        /// it by at most one step: within a step the answer is the same whatever the exact
        /// count.
        #[test]
        fn the_load_is_a_step_that_moves_slowly(len in 0u64..1 << 29, shift in 4u32..29) {
            let capacity = 1u64 << shift;
            let p = coarse_load_percent(len, capacity);
            proptest::prop_assert!(p <= 100 && p % 10 == 0);
            let next = coarse_load_percent(len + 1, capacity);
            proptest::prop_assert!(next == p || next == p + 10);
        }
    }
}
