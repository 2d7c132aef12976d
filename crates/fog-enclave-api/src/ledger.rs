//! The fog ledger enclave's calls: its request and response messages, and the host's typed
//! handle on it ([`LedgerClient`]).
//!
//! What crosses, and what does not. The enclave makes its channel keys inside (the client
//! sessions' key, and the key of its channels to ledger routers): the host gets their public
//! halves ([`LedgerClient::channel_key`], [`LedgerClient::router_channel_key`]), binds
//! evidence to them with its provider and installs it ([`LedgerClient::set_evidence`],
//! [`LedgerClient::set_router_evidence`]). Clients' key images and their answers cross only
//! inside channel frames. One call checks a client's whole request
//! ([`LedgerClient::check_key_images`]), one call adds a whole block
//! ([`LedgerClient::add_block`]: its header and contents, which the enclave checks against
//! the chain it verified). `GetOutputs` is public by design, as in MobileCoin: the enclave
//! opens the request and returns it ([`LedgerClient::open_get_outputs`]), the host looks the
//! outputs up in its ledger DB and has the enclave seal its answer
//! ([`LedgerClient::seal_get_outputs`]); the session id that links the two is the public
//! channel id every frame carries.
//!
//! Failures. A call that does not go through (a request that does not decode, a call before
//! the first `SetEvidence`) is an [`EnclaveError`], which the client returns as
//! [`LedgerEnclaveError::Boundary`]; a refusal of the enclave is an answer, returned as the
//! [`LedgerEnclaveError`] it names. An answer of the wrong kind is
//! `Boundary(EnclaveError::Malformed)`.
//!
//! Trust side: both (the messages); the client is the host's.

use fog_attest::{wire::NonceMessage, BoundEvidence, UnixSeconds};
use fog_transaction::block::{Block, BlockContents};
use fog_types::common::BlockRange;
use fog_types::ledger::{GetOutputsRequest, GetOutputsResponse};
use prost::Message as _;

use crate::errors::LedgerEnclaveError;
pub use crate::messages::Empty;
use crate::messages::{client, ChannelFrame, ChannelHello, SetEvidence};
use crate::{EnclaveError, Refusal, Refused, SharedEnclave};
use ledger_request::Call;
use ledger_response::Answer;

/// What the host knows of the ledger when it passes a key-image check in: public block
/// counts. The enclave refuses a check while it lacks more than `max_blocks_behind` of
/// `ledger_blocks` blocks.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct LedgerView {
    /// Blocks in the host's ledger DB.
    #[prost(uint64, tag = "1")]
    pub ledger_blocks: u64,
    /// The most blocks the store may lack and still answer.
    #[prost(uint64, tag = "2")]
    pub max_blocks_behind: u64,
}

/// A client's first handshake message, with where it came from (the per-client bound on
/// sessions) and the host's time.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LedgerAccept {
    /// The client's `→ e`.
    #[prost(message, optional, tag = "1")]
    pub hello: Option<ChannelHello>,
    /// The client's IP address as the transport saw it: 4 or 16 bytes, or none when the
    /// transport gave none (every such client shares one budget).
    #[prost(bytes = "vec", tag = "2")]
    pub peer_ip: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// A client's `CheckKeyImagesRequest` frame, with what the host knows of the ledger.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CheckKeyImages {
    /// The frame and the host's time.
    #[prost(message, optional, tag = "1")]
    pub request: Option<client::ClientRequest>,
    /// The ledger's public block counts.
    #[prost(message, optional, tag = "2")]
    pub ledger: Option<LedgerView>,
}

/// The host's `GetOutputsResponse`, to be sealed on the session whose request was opened.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SealGetOutputs {
    /// The session (the request frame's channel id).
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The answer.
    #[prost(message, optional, tag = "2")]
    pub response: Option<GetOutputsResponse>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// The next ledger block: its header, its whole contents and its timestamp.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AddBlock {
    /// The header.
    #[prost(message, optional, tag = "1")]
    pub block: Option<fog_transaction::wire::Block>,
    /// The contents its `contents_hash` commits to.
    #[prost(message, optional, tag = "2")]
    pub contents: Option<fog_transaction::wire::BlockContents>,
    /// The block's timestamp (seconds; the host's word, no block id covers it).
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
}

/// A ledger router's frame on a router channel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RouterCheck {
    /// The channel id.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The encoded frame (`attest.NonceMessage`).
    #[prost(bytes = "vec", tag = "2")]
    pub frame: Vec<u8>,
    /// The ledger's public block counts.
    #[prost(message, optional, tag = "3")]
    pub ledger: Option<LedgerView>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "4")]
    pub now: u64,
}

/// A request to the ledger enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerRequest {
    /// The call.
    #[prost(
        oneof = "ledger_request::Call",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"
    )]
    pub call: Option<ledger_request::Call>,
}

/// The calls of [`LedgerRequest`].
pub mod ledger_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// The public half of the client sessions' channel key: answers `ChannelKey`.
        #[prost(message, tag = "1")]
        GetChannelKey(super::Empty),
        /// Evidence (`attest.BoundEvidence`) binding that key, which the enclave presents to
        /// clients; the first one starts the enclave: answers `Done`.
        #[prost(message, tag = "2")]
        SetEvidence(super::SetEvidence),
        /// A client's handshake: answers `Hello`.
        #[prost(message, tag = "3")]
        ClientAccept(super::LedgerAccept),
        /// A client's `CheckKeyImages` frame: answers `Checked`.
        #[prost(message, tag = "4")]
        CheckKeyImages(super::CheckKeyImages),
        /// A client's `GetBlockIds` frame: answers `Frame`.
        #[prost(message, tag = "5")]
        BlockIds(super::client::ClientRequest),
        /// A client's `GetOutputs` frame, opened for the host: answers `OutputsRequest`.
        #[prost(message, tag = "6")]
        OpenGetOutputs(super::client::ClientRequest),
        /// The host's answer to an opened `GetOutputs`: answers `Frame`.
        #[prost(message, tag = "7")]
        SealGetOutputs(super::SealGetOutputs),
        /// What the store holds: answers `Status`.
        #[prost(message, tag = "8")]
        GetStatus(super::Empty),
        /// Makes this a store of the key images of a block range only: answers `Done`.
        #[prost(message, tag = "9")]
        SetKeyImageBlocks(fog_types::common::BlockRange),
        /// The next block: answers `Counters`.
        #[prost(message, tag = "10")]
        AddBlock(super::AddBlock),
        /// The public half of the router channels' key: answers `ChannelKey`.
        #[prost(message, tag = "11")]
        GetRouterChannelKey(super::Empty),
        /// Evidence (`attest.BoundEvidence`) binding that key; the first one opens this store
        /// to ledger routers: answers `Done`.
        #[prost(message, tag = "12")]
        SetRouterEvidence(super::SetEvidence),
        /// A ledger router's handshake: answers `RouterAccepted`.
        #[prost(message, tag = "13")]
        RouterAccept(super::client::ClientAccept),
        /// A ledger router's check: answers `PeerFrame`.
        #[prost(message, tag = "14")]
        RouterCheck(super::RouterCheck),
    }
}

/// A public key (32 bytes: an X25519 channel key).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PublicKey {
    /// The key's bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

/// A checked request's sealed answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Checked {
    /// The `CheckKeyImagesResponse` frame.
    #[prost(message, optional, tag = "1")]
    pub frame: Option<ChannelFrame>,
    /// How many key images the request held (public: the frame's size shows it).
    #[prost(uint64, tag = "2")]
    pub key_images: u64,
}

/// An opened `GetOutputs` request, for the host to answer (public by design: the host looks
/// the outputs up).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OutputsRequest {
    /// The session to seal the answer on.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The request.
    #[prost(message, optional, tag = "2")]
    pub request: Option<GetOutputsRequest>,
}

/// What the store has taken in (the counters of every answer).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Counters {
    /// Blocks taken.
    #[prost(uint64, tag = "1")]
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    #[prost(uint64, tag = "2")]
    pub global_txo_count: u64,
    /// The version of the last of those blocks.
    #[prost(uint32, tag = "3")]
    pub latest_block_version: u32,
    /// The id of the last of those blocks (32 bytes, zero before the first).
    #[prost(bytes = "vec", tag = "4")]
    pub last_block_id: Vec<u8>,
}

/// The enclave's state, as the host may see it (public counts).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Status {
    /// The counters.
    #[prost(message, optional, tag = "1")]
    pub counters: Option<Counters>,
    /// Key images stored.
    #[prost(uint64, tag = "2")]
    pub key_images: u64,
    /// The store's capacity.
    #[prost(uint64, tag = "3")]
    pub capacity: u64,
    /// Live client sessions.
    #[prost(uint64, tag = "4")]
    pub sessions: u64,
    /// The blocks whose key images the store keeps.
    #[prost(message, optional, tag = "5")]
    pub key_image_blocks: Option<BlockRange>,
}

/// A router's handshake answered: the channel id and the reply.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RouterAccepted {
    /// The channel id, the same on both ends.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The reply, for the router.
    #[prost(bytes = "vec", tag = "2")]
    pub reply: Vec<u8>,
}

/// An encoded frame of a channel between enclaves (`attest.NonceMessage`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerFrame {
    /// The frame.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// A response of the ledger enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerResponse {
    /// The answer.
    #[prost(
        oneof = "ledger_response::Answer",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
    )]
    pub answer: Option<ledger_response::Answer>,
}

/// The answers of [`LedgerResponse`].
pub mod ledger_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// The enclave refused: a [`crate::errors::LedgerEnclaveError`].
        #[prost(message, tag = "1")]
        Refused(crate::Refusal),
        /// Done (`SetEvidence`, `SetKeyImageBlocks`, `SetRouterEvidence`).
        #[prost(message, tag = "2")]
        Done(super::Empty),
        /// `GetChannelKey`, `GetRouterChannelKey`.
        #[prost(message, tag = "3")]
        ChannelKey(super::PublicKey),
        /// `ClientAccept`: the handshake answer.
        #[prost(message, tag = "4")]
        Hello(super::ChannelHello),
        /// `BlockIds`, `SealGetOutputs`: the sealed answer.
        #[prost(message, tag = "5")]
        Frame(super::ChannelFrame),
        /// `CheckKeyImages`.
        #[prost(message, tag = "6")]
        Checked(super::Checked),
        /// `OpenGetOutputs`.
        #[prost(message, tag = "7")]
        OutputsRequest(super::OutputsRequest),
        /// `GetStatus`.
        #[prost(message, tag = "8")]
        Status(super::Status),
        /// `AddBlock`.
        #[prost(message, tag = "9")]
        Counters(super::Counters),
        /// `RouterAccept`.
        #[prost(message, tag = "10")]
        RouterAccepted(super::RouterAccepted),
        /// `RouterCheck`: the sealed answer.
        #[prost(message, tag = "11")]
        PeerFrame(super::PeerFrame),
    }
}

/// What the store has taken in, as the host reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerCounters {
    /// Blocks taken (`0..num_blocks`).
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    pub global_txo_count: u64,
    /// The version of the last of those blocks.
    pub latest_block_version: u32,
    /// The id of the last of those blocks (zero before the first).
    pub last_block_id: [u8; 32],
}

impl LedgerCounters {
    /// The wire form.
    pub fn to_wire(&self) -> Counters {
        Counters {
            num_blocks: self.num_blocks,
            global_txo_count: self.global_txo_count,
            latest_block_version: self.latest_block_version,
            last_block_id: self.last_block_id.to_vec(),
        }
    }

    /// From the wire form; `None` when the block id is not 32 bytes.
    pub fn from_wire(c: &Counters) -> Option<Self> {
        Some(Self {
            num_blocks: c.num_blocks,
            global_txo_count: c.global_txo_count,
            latest_block_version: c.latest_block_version,
            last_block_id: <[u8; 32]>::try_from(c.last_block_id.as_slice()).ok()?,
        })
    }
}

/// The enclave's state ([`LedgerClient::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnclaveStatus {
    /// What the store has taken in.
    pub counters: LedgerCounters,
    /// Key images stored.
    pub key_images: u64,
    /// The store's capacity.
    pub capacity: u64,
    /// Live client sessions.
    pub sessions: usize,
    /// The blocks whose key images the store keeps.
    pub key_image_blocks: BlockRange,
}

/// A checked request's sealed answer ([`LedgerClient::check_key_images`]).
#[derive(Debug)]
pub struct CheckOutcome {
    /// The encrypted `CheckKeyImagesResponse`.
    pub response: NonceMessage,
    /// How many key images the request held (the frame's size shows it too).
    pub key_images: usize,
}

/// A frame as it crosses the boundary (the same fields; nothing copied).
pub(crate) fn frame_to_wire(frame: NonceMessage) -> ChannelFrame {
    ChannelFrame {
        aad: frame.aad,
        channel_id: frame.channel_id,
        data: frame.data,
        nonce: frame.nonce,
    }
}

/// A frame as the host's transport carries it.
pub(crate) fn frame_from_wire(frame: ChannelFrame) -> NonceMessage {
    NonceMessage {
        aad: frame.aad,
        channel_id: frame.channel_id,
        data: frame.data,
        nonce: frame.nonce,
    }
}

/// A client request: a frame and the host's time.
fn client_request(frame: NonceMessage, now: UnixSeconds) -> client::ClientRequest {
    client::ClientRequest {
        frame: Some(frame_to_wire(frame)),
        now: now.0,
    }
}

/// The public key of a `ChannelKey` answer.
fn channel_key(answer: Answer) -> Result<[u8; 32], LedgerEnclaveError> {
    match answer {
        Answer::ChannelKey(PublicKey { key }) => {
            <[u8; 32]>::try_from(key.as_slice()).map_err(|_| malformed())
        }
        _ => Err(malformed()),
    }
}

fn malformed() -> LedgerEnclaveError {
    LedgerEnclaveError::Boundary(EnclaveError::Malformed)
}

/// The refusal a `Refused` answer names (`Boundary(Malformed)` for one this version does
/// not know).
pub(crate) fn refused(refusal: Refusal) -> LedgerEnclaveError {
    LedgerEnclaveError::from_refusal(refusal).unwrap_or_else(malformed)
}

/// How a [`LedgerClient`]'s requests travel: to a fog ledger enclave, or to the fog ledger
/// enclave inside a ledger router (wrapped in its requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Ledger,
    InRouter,
}

/// The host's typed handle on a fog ledger enclave: one method per call, each returning
/// [`LedgerEnclaveError`] as the enclave's own API does (`Boundary` for a call that did not
/// go through). Cheap to clone (a shared handle). No method takes or returns a private key
/// or a plaintext of a client's key-image check.
#[derive(Clone)]
pub struct LedgerClient {
    enclave: SharedEnclave,
    route: Route,
}

impl core::fmt::Debug for LedgerClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerClient")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl LedgerClient {
    /// A handle on a fog ledger enclave.
    pub fn new(enclave: SharedEnclave) -> Self {
        Self {
            enclave,
            route: Route::Ledger,
        }
    }

    /// A handle on the fog ledger enclave a ledger router holds (see
    /// [`crate::ledger_router`]).
    pub(crate) fn in_router(enclave: SharedEnclave) -> Self {
        Self {
            enclave,
            route: Route::InRouter,
        }
    }

    /// One call: the answer, or the refusal it carries.
    fn call(&self, call: Call) -> Result<Answer, LedgerEnclaveError> {
        let request = LedgerRequest { call: Some(call) };
        let answer = match self.route {
            Route::Ledger => {
                let bytes = self.enclave.call(&request.encode_to_vec())?;
                LedgerResponse::decode(bytes.as_slice())
                    .map_err(|_| malformed())?
                    .answer
            }
            Route::InRouter => crate::ledger_router::call_ledger(&*self.enclave, request)?.answer,
        };
        match answer {
            Some(Answer::Refused(refusal)) => Err(refused(refusal)),
            Some(answer) => Ok(answer),
            None => Err(malformed()),
        }
    }

    /// The public half of the client sessions' channel key, for the host's provider to bind
    /// evidence to.
    pub fn channel_key(&self) -> Result<[u8; 32], LedgerEnclaveError> {
        channel_key(self.call(Call::GetChannelKey(Empty {}))?)
    }

    /// Installs the evidence clients see (it must bind [`Self::channel_key`]); the first
    /// evidence starts the enclave, later ones replace it (renewed before clients' policies
    /// find it stale).
    pub fn set_evidence(&self, evidence: &BoundEvidence) -> Result<(), LedgerEnclaveError> {
        let call = Call::SetEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        });
        match self.call(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// Answers a client's NX hello from `peer` (its IP address as the transport saw it, or
    /// `None`), which bounds how many sessions one client can hold.
    pub fn accept(
        &self,
        hello: &[u8],
        peer: Option<std::net::IpAddr>,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        let peer_ip = match peer {
            None => Vec::new(),
            Some(std::net::IpAddr::V4(ip)) => ip.octets().to_vec(),
            Some(std::net::IpAddr::V6(ip)) => ip.octets().to_vec(),
        };
        let call = Call::ClientAccept(LedgerAccept {
            hello: Some(ChannelHello {
                data: hello.to_vec(),
            }),
            peer_ip,
            now: now.0,
        });
        match self.call(call)? {
            Answer::Hello(ChannelHello { data }) => Ok(data),
            _ => Err(malformed()),
        }
    }

    /// What the store holds, its capacity, the live sessions and its key-image range.
    pub fn status(&self) -> Result<EnclaveStatus, LedgerEnclaveError> {
        match self.call(Call::GetStatus(Empty {}))? {
            Answer::Status(s) => Ok(EnclaveStatus {
                counters: s
                    .counters
                    .as_ref()
                    .and_then(LedgerCounters::from_wire)
                    .ok_or_else(malformed)?,
                key_images: s.key_images,
                capacity: s.capacity,
                sessions: usize::try_from(s.sessions).map_err(|_| malformed())?,
                key_image_blocks: s.key_image_blocks.ok_or_else(malformed)?,
            }),
            _ => Err(malformed()),
        }
    }

    /// What the store has taken in.
    pub fn counters(&self) -> Result<LedgerCounters, LedgerEnclaveError> {
        Ok(self.status()?.counters)
    }

    /// Makes this a store of the key images of blocks `start..end` only, before any block is
    /// added (see `fog_enclave::ledger`).
    pub fn set_key_image_blocks(&self, start: u64, end: u64) -> Result<(), LedgerEnclaveError> {
        match self.call(Call::SetKeyImageBlocks(BlockRange::new(start, end)))? {
            Answer::Done(_) => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// The blocks whose key images this store keeps.
    pub fn key_image_blocks(&self) -> Result<BlockRange, LedgerEnclaveError> {
        Ok(self.status()?.key_image_blocks)
    }

    /// Adds the next block (header, whole contents, timestamp) in one call; the enclave takes
    /// it only if it extends the chain it verified. All or nothing.
    pub fn add_block(
        &self,
        block: &Block,
        contents: &BlockContents,
        timestamp: u64,
    ) -> Result<LedgerCounters, LedgerEnclaveError> {
        let call = Call::AddBlock(AddBlock {
            block: Some(block.to_wire()),
            contents: Some(contents.to_wire()),
            timestamp,
        });
        match self.call(call)? {
            Answer::Counters(c) => LedgerCounters::from_wire(&c).ok_or_else(malformed),
            _ => Err(malformed()),
        }
    }

    /// Checks a client's `CheckKeyImagesRequest` frame in one call: its sealed answer, and how
    /// many key images it held. Refused (the frame consumed) while the store lacks more than
    /// `ledger.max_blocks_behind` of `ledger.ledger_blocks` blocks.
    pub fn check_key_images(
        &self,
        frame: NonceMessage,
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<CheckOutcome, LedgerEnclaveError> {
        let call = Call::CheckKeyImages(CheckKeyImages {
            request: Some(client_request(frame, now)),
            ledger: Some(ledger),
        });
        match self.call(call)? {
            Answer::Checked(Checked {
                frame: Some(frame),
                key_images,
            }) => Ok(CheckOutcome {
                response: frame_from_wire(frame),
                key_images: usize::try_from(key_images).map_err(|_| malformed())?,
            }),
            _ => Err(malformed()),
        }
    }

    /// Answers a client's `GetBlockIds` frame from the chain the enclave verified.
    pub fn block_ids(
        &self,
        frame: NonceMessage,
        now: UnixSeconds,
    ) -> Result<NonceMessage, LedgerEnclaveError> {
        match self.call(Call::BlockIds(client_request(frame, now)))? {
            Answer::Frame(frame) => Ok(frame_from_wire(frame)),
            _ => Err(malformed()),
        }
    }

    /// Opens a client's `GetOutputs` frame: the session it came on and the request, for the
    /// host to look the outputs up (public by design).
    pub fn open_get_outputs(
        &self,
        frame: NonceMessage,
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, GetOutputsRequest), LedgerEnclaveError> {
        match self.call(Call::OpenGetOutputs(client_request(frame, now)))? {
            Answer::OutputsRequest(OutputsRequest {
                channel_id,
                request: Some(request),
            }) => Ok((channel_id, request)),
            _ => Err(malformed()),
        }
    }

    /// Seals the host's answer to the `GetOutputs` request opened on `channel_id` (once per
    /// request opened).
    pub fn seal_get_outputs(
        &self,
        channel_id: &[u8],
        response: GetOutputsResponse,
        now: UnixSeconds,
    ) -> Result<NonceMessage, LedgerEnclaveError> {
        let call = Call::SealGetOutputs(SealGetOutputs {
            channel_id: channel_id.to_vec(),
            response: Some(response),
            now: now.0,
        });
        match self.call(call)? {
            Answer::Frame(frame) => Ok(frame_from_wire(frame)),
            _ => Err(malformed()),
        }
    }

    /// The public half of the key of this store's channels to ledger routers. Refused
    /// (`Boundary(Unsupported)`) by an enclave loaded without a verifier of routers.
    pub fn router_channel_key(&self) -> Result<[u8; 32], LedgerEnclaveError> {
        channel_key(self.call(Call::GetRouterChannelKey(Empty {}))?)
    }

    /// Installs the evidence ledger routers see (it must bind [`Self::router_channel_key`]);
    /// the first evidence opens the store to routers, later ones replace it.
    pub fn set_router_evidence(&self, evidence: &BoundEvidence) -> Result<(), LedgerEnclaveError> {
        let call = Call::SetRouterEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        });
        match self.call(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// Answers a ledger router's handshake: the channel id and the reply.
    pub fn router_accept(
        &self,
        hello: &[u8],
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), LedgerEnclaveError> {
        let call = Call::RouterAccept(client::ClientAccept {
            hello: Some(ChannelHello {
                data: hello.to_vec(),
            }),
            now: now.0,
        });
        match self.call(call)? {
            Answer::RouterAccepted(RouterAccepted { channel_id, reply }) => Ok((channel_id, reply)),
            _ => Err(malformed()),
        }
    }

    /// Answers a ledger router's encoded check frame on `channel_id` with an encoded frame
    /// holding this store's range and results.
    pub fn router_check(
        &self,
        channel_id: &[u8],
        frame: Vec<u8>,
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        let call = Call::RouterCheck(RouterCheck {
            channel_id: channel_id.to_vec(),
            frame,
            ledger: Some(ledger),
            now: now.0,
        });
        match self.call(call)? {
            Answer::PeerFrame(PeerFrame { data }) => Ok(data),
            _ => Err(malformed()),
        }
    }
}
