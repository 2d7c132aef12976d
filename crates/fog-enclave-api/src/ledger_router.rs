//! The ledger router enclave's calls: its request and response messages, and the host's typed
//! handle on it ([`LedgerRouterClient`]).
//!
//! A ledger router holds a fog ledger enclave of its own (client sessions, the verified
//! chain, `GetBlockIds`, `GetOutputs`): its calls cross wrapped in [`Call::Ledger`], and
//! [`LedgerRouterClient::ledger`] is a [`LedgerClient`] that wraps them. Beside them, the
//! router's own calls: its channels to key-image stores (made inside, with a key made inside:
//! the host binds evidence to its public half), and the three steps of a routed key-image
//! check. A client's check that the router opened stays inside the enclave (it holds the
//! client's key images): the host holds only a `u64` handle ([`PendingCheck`]), which it
//! passes back to seal the stores' requests and to merge their answers; a [`PendingCheck`]
//! dropped unfinished (the client went away, the request timed out) tells the enclave to
//! forget the check. The enclave keeps a bounded number of open checks: while its table is
//! full a new check is refused ([`LedgerEnclaveError::Full`]) and the open ones keep their
//! places. A handle it does not know (finished, forgotten or never given) is refused
//! ([`LedgerEnclaveError::Peer`]`(`[`crate::errors::PeerError::UnknownChannel`]`)`), never a
//! panic. A host serves both refusals to the client as "unavailable, ask again".
//!
//! Trust side: both (the messages); the client is the host's.

use fog_attest::{wire::NonceMessage, BoundEvidence, UnixSeconds};
use prost::Message as _;

use crate::errors::LedgerEnclaveError;
use crate::ledger::{
    frame_from_wire, frame_to_wire, refused, CheckKeyImages, Empty, LedgerClient, LedgerRequest,
    LedgerResponse, LedgerView, PeerFrame, PublicKey,
};
pub use crate::messages::router::{
    Finish, Handle as CheckHandle, StoreAnswer, StoreChannel as ChannelId, StoreFinish,
    StoreRequest,
};
pub use crate::messages::Closed;
use crate::messages::{client, ChannelFrame, SetEvidence};
use crate::{Enclave, EnclaveApi, EnclaveError, Refusal, SharedEnclave};
use ledger_router_request::Call;
use ledger_router_response::Answer;

/// The ledger router enclave's API.
#[derive(Debug, Clone, Copy)]
pub struct LedgerRouterApi;
impl EnclaveApi for LedgerRouterApi {
    type Request = LedgerRouterRequest;
    type Response = LedgerRouterResponse;
}

/// A request to the ledger router enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerRouterRequest {
    /// The call.
    #[prost(
        oneof = "ledger_router_request::Call",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
    )]
    pub call: Option<ledger_router_request::Call>,
}

/// The calls of [`LedgerRouterRequest`].
pub mod ledger_router_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// A call of the router's own fog ledger enclave (its router-channel calls excepted):
        /// answers `Ledger`.
        #[prost(message, tag = "1")]
        Ledger(crate::ledger::LedgerRequest),
        /// The public half of the store channels' key: answers `ChannelKey`.
        #[prost(message, tag = "2")]
        GetStoreChannelKey(crate::ledger::Empty),
        /// Evidence (`attest.BoundEvidence`) binding that key: answers `Done`. The router
        /// starts once it has this and its client evidence.
        #[prost(message, tag = "3")]
        SetStoreEvidence(crate::messages::SetEvidence),
        /// Starts a store channel: answers `StoreHello`.
        #[prost(message, tag = "4")]
        StoreInitiate(crate::ledger::Empty),
        /// Finishes a store channel with the store's reply: answers `ChannelId`.
        #[prost(message, tag = "5")]
        StoreFinish(super::StoreFinish),
        /// Closes a store channel: answers `Closed`.
        #[prost(message, tag = "6")]
        StoreClose(crate::messages::client::ClientClose),
        /// Opens a client's `CheckKeyImages` frame and keeps it: answers `Check`.
        #[prost(message, tag = "7")]
        OpenCheck(crate::ledger::CheckKeyImages),
        /// A check of no key images (what the stores cover): answers `Check`.
        #[prost(message, tag = "8")]
        Probe(crate::ledger::Empty),
        /// Seals an open check's key images for a store: answers `StoreFrame`.
        #[prost(message, tag = "9")]
        StoreRequest(super::StoreRequest),
        /// Merges the stores' answers and ends the check: answers `Routed`.
        #[prost(message, tag = "10")]
        Finish(super::Finish),
        /// Ends an open check without an answer: answers `Done`.
        #[prost(message, tag = "11")]
        Forget(super::CheckHandle),
        /// The router's counters: answers `Status`.
        #[prost(message, tag = "12")]
        GetRouterStatus(crate::ledger::Empty),
    }
}

/// A store channel started: the token to finish it with and the hello.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StoreHello {
    /// For [`StoreFinish::token`].
    #[prost(uint64, tag = "1")]
    pub token: u64,
    /// The hello, for the store.
    #[prost(bytes = "vec", tag = "2")]
    pub hello: Vec<u8>,
}

/// A check opened and kept inside.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct OpenedCheck {
    /// The handle naming it in later calls.
    #[prost(uint64, tag = "1")]
    pub handle: u64,
    /// How many key images the client sent (public: the frame's size shows it).
    #[prost(uint64, tag = "2")]
    pub key_images: u64,
}

/// What one store's answer covers (public: every store reports it).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct StoreCoverage {
    /// The store's first block.
    #[prost(uint64, tag = "1")]
    pub start_block: u64,
    /// One past its last block (`u64::MAX`: open-ended).
    #[prost(uint64, tag = "2")]
    pub end_block: u64,
    /// The end of the run of blocks it processed from its first.
    #[prost(uint64, tag = "3")]
    pub processed: u64,
    /// The blocks it verified from the origin.
    #[prost(uint64, tag = "4")]
    pub loaded_end: u64,
}

/// One store's part of a merged answer.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Shard {
    /// What its answer covers, or none when it was missing, did not open or decode, or did
    /// not answer every key image (the host should drop that channel).
    #[prost(message, optional, tag = "1")]
    pub coverage: Option<StoreCoverage>,
}

/// The merged answer of a check.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Routed {
    /// The `CheckKeyImagesResponse` sealed to the client (none for a probe, or when it could
    /// not be sealed: see `client_refusal`).
    #[prost(message, optional, tag = "1")]
    pub client_frame: Option<ChannelFrame>,
    /// Why the client's answer could not be sealed (its session is gone).
    #[prost(message, optional, tag = "2")]
    pub client_refusal: Option<Refusal>,
    /// Per store answer given, in order.
    #[prost(message, repeated, tag = "3")]
    pub shards: Vec<Shard>,
    /// The block count the answer vouches for.
    #[prost(uint64, tag = "4")]
    pub num_blocks: u64,
    /// The stores whose results were merged.
    #[prost(uint64, tag = "5")]
    pub merged_shards: u64,
}

/// The router's counters.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RouterStatus {
    /// Client checks merged so far.
    #[prost(uint64, tag = "1")]
    pub checks: u64,
    /// Checks open now.
    #[prost(uint64, tag = "2")]
    pub open_checks: u64,
}

/// A response of the ledger router enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LedgerRouterResponse {
    /// The answer.
    #[prost(
        oneof = "ledger_router_response::Answer",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
    )]
    pub answer: Option<ledger_router_response::Answer>,
}

/// The answers of [`LedgerRouterResponse`].
pub mod ledger_router_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// The enclave refused: a [`crate::errors::LedgerEnclaveError`].
        #[prost(message, tag = "1")]
        Refused(crate::Refusal),
        /// The router's own fog ledger enclave answered (`Ledger`).
        #[prost(message, tag = "2")]
        Ledger(crate::ledger::LedgerResponse),
        /// Done (`SetStoreEvidence`, `Forget`).
        #[prost(message, tag = "3")]
        Done(crate::ledger::Empty),
        /// `GetStoreChannelKey`.
        #[prost(message, tag = "4")]
        ChannelKey(crate::ledger::PublicKey),
        /// `StoreInitiate`.
        #[prost(message, tag = "5")]
        StoreHello(super::StoreHello),
        /// `StoreFinish`.
        #[prost(message, tag = "6")]
        ChannelId(super::ChannelId),
        /// `StoreClose`.
        #[prost(message, tag = "7")]
        Closed(super::Closed),
        /// `OpenCheck`, `Probe`.
        #[prost(message, tag = "8")]
        Check(super::OpenedCheck),
        /// `StoreRequest`: the sealed request.
        #[prost(message, tag = "9")]
        StoreFrame(crate::ledger::PeerFrame),
        /// `Finish`.
        #[prost(message, tag = "10")]
        Routed(super::Routed),
        /// `GetRouterStatus`.
        #[prost(message, tag = "11")]
        Status(super::RouterStatus),
    }
}

fn malformed() -> LedgerEnclaveError {
    LedgerEnclaveError::Boundary(EnclaveError::Malformed)
}

/// A call of a router's own fog ledger enclave, wrapped in a router request; the ledger's
/// answer.
pub(crate) fn call_ledger(
    enclave: &dyn Enclave,
    request: LedgerRequest,
) -> Result<LedgerResponse, LedgerEnclaveError> {
    let request = LedgerRouterRequest {
        call: Some(Call::Ledger(request)),
    };
    let bytes = enclave.call(&request.encode_to_vec())?;
    match LedgerRouterResponse::decode(bytes.as_slice())
        .map_err(|_| malformed())?
        .answer
    {
        Some(Answer::Ledger(response)) => Ok(response),
        Some(Answer::Refused(refusal)) => Err(refused(refusal)),
        _ => Err(malformed()),
    }
}

/// A client's key-image check (or a probe) the router enclave opened and keeps: the host
/// holds only its handle. Dropped unfinished, it tells the enclave to forget the check.
pub struct PendingCheck {
    handle: u64,
    key_images: usize,
    /// The enclave to tell when dropped unfinished (`None` once finished).
    enclave: Option<SharedEnclave>,
}

impl core::fmt::Debug for PendingCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingCheck")
            .field("handle", &self.handle)
            .field("key_images", &self.key_images)
            .finish()
    }
}

impl PendingCheck {
    /// How many key images the client sent (public: the frame's size shows it).
    pub fn key_count(&self) -> usize {
        self.key_images
    }

    /// The handle naming the check inside the enclave.
    pub fn handle(&self) -> u64 {
        self.handle
    }
}

impl Drop for PendingCheck {
    fn drop(&mut self) {
        if let Some(enclave) = self.enclave.take() {
            let request = LedgerRouterRequest {
                call: Some(Call::Forget(CheckHandle {
                    handle: self.handle,
                })),
            };
            // Forgetting is best effort: an enclave that no longer holds the check answers a
            // refusal, which changes nothing.
            let _ = enclave.call(&request.encode_to_vec());
        }
    }
}

/// The merged answer ([`LedgerRouterClient::finish`]).
#[derive(Debug)]
pub struct RoutedCheck {
    /// The `CheckKeyImagesResponse` sealed to the client (`None` for a probe), or why it
    /// could not be sealed (the client's session is gone): the stores' answers still count.
    pub frame: Result<Option<NonceMessage>, LedgerEnclaveError>,
    /// Per store answer given to [`LedgerRouterClient::finish`]: what it covers, or `None`
    /// when it was missing, did not open or decode, or did not answer every key image (the
    /// host should drop that channel).
    pub shards: Vec<Option<StoreCoverage>>,
    /// The block count the answer vouches for.
    pub num_blocks: u64,
    /// The stores whose results were merged (public).
    pub merged_shards: usize,
}

/// The host's typed handle on a ledger router enclave: its own fog ledger enclave
/// ([`Self::ledger`]), its store channels and routed checks. Every call returns
/// [`LedgerEnclaveError`] (`Boundary` for a call that did not go through; a store channel's
/// refusal as its `Peer` variant). Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct LedgerRouterClient {
    enclave: SharedEnclave,
}

impl core::fmt::Debug for LedgerRouterClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerRouterClient").finish_non_exhaustive()
    }
}

impl LedgerRouterClient {
    /// A handle on a ledger router enclave.
    pub fn new(enclave: SharedEnclave) -> Self {
        Self { enclave }
    }

    /// The router's own fog ledger enclave: client handshakes, evidence, blocks,
    /// `GetBlockIds`, `GetOutputs`, status. (It keeps no key image, and takes no router
    /// channel: those calls answer `Boundary(Unsupported)`.)
    pub fn ledger(&self) -> LedgerClient {
        LedgerClient::in_router(self.enclave.clone())
    }

    fn call(&self, call: Call) -> Result<Answer, LedgerEnclaveError> {
        let request = LedgerRouterRequest { call: Some(call) };
        let bytes = self.enclave.call(&request.encode_to_vec())?;
        match LedgerRouterResponse::decode(bytes.as_slice())
            .map_err(|_| malformed())?
            .answer
        {
            Some(Answer::Refused(refusal)) => Err(refused(refusal)),
            Some(answer) => Ok(answer),
            None => Err(malformed()),
        }
    }

    /// The public half of the store channels' key, for the host's provider to bind evidence
    /// to.
    pub fn store_channel_key(&self) -> Result<[u8; 32], LedgerEnclaveError> {
        match self.call(Call::GetStoreChannelKey(Empty {}))? {
            Answer::ChannelKey(PublicKey { key }) => {
                <[u8; 32]>::try_from(key.as_slice()).map_err(|_| malformed())
            }
            _ => Err(malformed()),
        }
    }

    /// Installs the evidence the store channels present (it must bind
    /// [`Self::store_channel_key`]); later ones replace it.
    pub fn set_store_evidence(&self, evidence: &BoundEvidence) -> Result<(), LedgerEnclaveError> {
        let call = Call::SetStoreEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        });
        match self.call(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// Starts a channel to a store: a token for [`Self::store_finish`] and the hello.
    pub fn store_initiate(&self) -> Result<(u64, Vec<u8>), LedgerEnclaveError> {
        match self.call(Call::StoreInitiate(Empty {}))? {
            Answer::StoreHello(StoreHello { token, hello }) => Ok((token, hello)),
            _ => Err(malformed()),
        }
    }

    /// Finishes a channel to a store with its reply (the enclave checks its evidence): the
    /// channel id.
    pub fn store_finish(
        &self,
        token: u64,
        reply: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        let call = Call::StoreFinish(StoreFinish {
            token,
            reply: reply.to_vec(),
            now: now.0,
        });
        match self.call(call)? {
            Answer::ChannelId(ChannelId { channel_id }) => Ok(channel_id),
            _ => Err(malformed()),
        }
    }

    /// Closes a store channel; true if it was open.
    pub fn store_close(&self, channel_id: &[u8]) -> Result<bool, LedgerEnclaveError> {
        let call = Call::StoreClose(client::ClientClose {
            channel_id: channel_id.to_vec(),
        });
        match self.call(call)? {
            Answer::Closed(Closed { was_open }) => Ok(was_open),
            _ => Err(malformed()),
        }
    }

    fn pending(&self, answer: Answer) -> Result<PendingCheck, LedgerEnclaveError> {
        match answer {
            Answer::Check(OpenedCheck { handle, key_images }) => Ok(PendingCheck {
                handle,
                key_images: usize::try_from(key_images).map_err(|_| malformed())?,
                enclave: Some(self.enclave.clone()),
            }),
            _ => Err(malformed()),
        }
    }

    /// Opens a client's `CheckKeyImagesRequest` frame and keeps it inside, as a fog ledger
    /// would check it: refused (the frame consumed) when it holds too many key images, the
    /// router's own chain lacks more than `ledger.max_blocks_behind` of its ledger, or the
    /// table of open checks is full ([`LedgerEnclaveError::Full`]).
    pub fn open_check(
        &self,
        frame: NonceMessage,
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<PendingCheck, LedgerEnclaveError> {
        let call = Call::OpenCheck(CheckKeyImages {
            request: Some(client::ClientRequest {
                frame: Some(frame_to_wire(frame)),
                now: now.0,
            }),
            ledger: Some(ledger),
        });
        let answer = self.call(call)?;
        self.pending(answer)
    }

    /// A check of no key images, to learn what the stores cover (refused like a client's
    /// while the table of open checks is full).
    pub fn probe(&self) -> Result<PendingCheck, LedgerEnclaveError> {
        let answer = self.call(Call::Probe(Empty {}))?;
        self.pending(answer)
    }

    /// The encoded frame asking a store the key images of `check`, sealed on the store
    /// channel `channel_id` (one request at a time on a channel).
    pub fn store_request(
        &self,
        check: &PendingCheck,
        channel_id: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        let call = Call::StoreRequest(StoreRequest {
            handle: check.handle,
            channel_id: channel_id.to_vec(),
            now: now.0,
        });
        match self.call(call)? {
            Answer::StoreFrame(PeerFrame { data }) => Ok(data),
            _ => Err(malformed()),
        }
    }

    /// Opens the stores' answers (`(channel id, frame)`, or `None` for a store that did not
    /// answer), merges them and seals the client's answer; ends the check. Fails when the
    /// router's own enclave failed or the check is unknown to it.
    pub fn finish(
        &self,
        mut check: PendingCheck,
        answers: &[Option<(&[u8], &[u8])>],
        now: UnixSeconds,
    ) -> Result<RoutedCheck, LedgerEnclaveError> {
        let call = Call::Finish(Finish {
            handle: check.handle,
            answers: answers
                .iter()
                .map(|a| match a {
                    Some((channel_id, frame)) => StoreAnswer {
                        answered: true,
                        channel_id: channel_id.to_vec(),
                        frame: frame.to_vec(),
                    },
                    None => StoreAnswer::default(),
                })
                .collect(),
            now: now.0,
        });
        let answer = self.call(call);
        // Once the call went through, the enclave has ended the check whatever it answered:
        // nothing to forget on drop. (A call that did not go through leaves it open.)
        if !matches!(answer, Err(LedgerEnclaveError::Boundary(_))) {
            check.enclave = None;
        }
        let routed = match answer? {
            Answer::Routed(routed) => routed,
            _ => return Err(malformed()),
        };
        let frame = match (routed.client_frame, routed.client_refusal) {
            (Some(frame), None) => Ok(Some(frame_from_wire(frame))),
            (None, None) => Ok(None),
            (None, Some(refusal)) => Err(refused(refusal)),
            (Some(_), Some(_)) => return Err(malformed()),
        };
        if routed.shards.len() != answers.len() {
            return Err(malformed());
        }
        Ok(RoutedCheck {
            frame,
            shards: routed.shards.iter().map(|s| s.coverage).collect(),
            num_blocks: routed.num_blocks,
            merged_shards: usize::try_from(routed.merged_shards).map_err(|_| malformed())?,
        })
    }

    /// Client checks merged so far.
    pub fn checks(&self) -> Result<u64, LedgerEnclaveError> {
        match self.call(Call::GetRouterStatus(Empty {}))? {
            Answer::Status(s) => Ok(s.checks),
            _ => Err(malformed()),
        }
    }

    /// Checks open in the enclave now (begun and neither finished nor forgotten).
    pub fn open_checks(&self) -> Result<u64, LedgerEnclaveError> {
        match self.call(Call::GetRouterStatus(Empty {}))? {
            Answer::Status(s) => Ok(s.open_checks),
            _ => Err(malformed()),
        }
    }
}
