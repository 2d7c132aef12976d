//! The view router enclave's calls: its request and response messages, and the host's typed
//! handle on it ([`ViewRouterClient`]).
//!
//! What crosses, and what does not. Like a view, the router makes its channel keys inside (the
//! one its client sessions prove and the one its store channels prove) and the host installs
//! evidence for their public halves ([`ViewRouterClient::attest`]). A client's query stays
//! inside from the moment its frame is opened ([`ViewRouterClient::open_query`]) until the
//! merged answer is sealed ([`ViewRouterClient::finish`]): the host holds only a
//! [`PendingQuery`], a handle (a number) into a bounded table inside the enclave
//! ([`ViewRouterConfig::max_pending_queries`]), and carries the sealed requests and answers
//! between the router and its stores. A [`PendingQuery`] dropped unfinished (the client went
//! away, the request timed out) tells the enclave to forget its query. While the table is full
//! a new query is refused, `Unavailable` (the queries already held keep their places); a
//! handle the enclave does not know (finished or forgotten) is refused the same way, and the
//! client asks again.
//!
//! Until both evidences are installed every call but `GetChannelKeys` and the evidence calls
//! answers [`crate::EnclaveError::NotInitialized`].
//!
//! Failures. A call that does not go through is the `Boundary` variant of
//! [`ViewEnclaveError`]; a refusal of the enclave is an answer; an answer of the wrong kind is
//! `Boundary(crate::EnclaveError::Malformed)`.
//!
//! Trust side: both (the messages); the client is the host's.

use fog_attest::{wire::NonceMessage, BoundEvidence, SessionLimits, UnixSeconds};
use fog_types::common::BlockRange;

use crate::errors::ViewEnclaveError;
pub use crate::messages::router::{
    Finish, Handle as QueryHandle, StoreAnswer, StoreChannel, StoreFinish, StoreRequest,
};
pub use crate::messages::Closed;
use crate::messages::SetEvidence;
use crate::view::{
    bind, peer_bytes, refused, wrong_answer, Auth, ChannelKeys, ChannelKeysMessage, Data, Empty,
};
use crate::SharedEnclave;

/// The default bound of a view router's table of held queries
/// ([`ViewRouterConfig::max_pending_queries`]): well above the requests a host serves at once
/// (`fogd`'s `--max-concurrent-requests` defaults to 256), so that only a host serving far
/// more at once, or one that leaks handles, meets it. Each entry holds at most one client's
/// search keys ([`crate::errors::MAX_SEARCH_KEYS`] × 16 bytes, 64 KiB): a full table of the
/// default size holds at most 256 MiB of them.
pub const DEFAULT_MAX_PENDING_QUERIES: usize = 4096;

/// What the loader gives a view router enclave when it creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewRouterConfig {
    /// Client sessions kept at once.
    pub session_capacity: usize,
    /// How long a client session lives.
    pub session_limits: SessionLimits,
    /// How long a channel to a store lives.
    pub store_session_limits: SessionLimits,
    /// Queries (and probes) held at once, waiting for their stores; while that many are held,
    /// a new one is refused (`Unavailable`). At least the requests the host serves at once
    /// (default [`DEFAULT_MAX_PENDING_QUERIES`]).
    pub max_pending_queries: usize,
}

/// A client's encrypted `QueryRequest`, to open.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OpenQuery {
    /// The frame, as the client sent it.
    #[prost(message, optional, tag = "1")]
    pub frame: Option<NonceMessage>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "2")]
    pub now: u64,
}

/// A request to the view router enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ViewRouterRequest {
    /// The call.
    #[prost(
        oneof = "view_router_request::Call",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
    )]
    pub call: Option<view_router_request::Call>,
}

/// The calls of [`ViewRouterRequest`].
pub mod view_router_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// The public halves of the enclave's channel keys (`peers`: the store channels'):
        /// answers `ChannelKeys`.
        #[prost(message, tag = "1")]
        GetChannelKeys(super::Empty),
        /// Evidence (`attest.BoundEvidence`) binding the client channel key: answers `Done`.
        #[prost(message, tag = "2")]
        SetEvidence(super::SetEvidence),
        /// Evidence binding the store channel key: answers `Done`.
        #[prost(message, tag = "3")]
        SetStoreEvidence(super::SetEvidence),
        /// A client's NX hello: answers `Data` (the handshake answer).
        #[prost(message, tag = "4")]
        Auth(super::Auth),
        /// Opens a client's query and holds it: answers `Opened`.
        #[prost(message, tag = "5")]
        OpenQuery(super::OpenQuery),
        /// Holds a query with no keys and no events (what do the stores cover?): answers
        /// `Opened`.
        #[prost(message, tag = "6")]
        Probe(super::Empty),
        /// A held query sealed for one store: answers `Data` (the encoded frame).
        #[prost(message, tag = "7")]
        StoreRequest(super::StoreRequest),
        /// Merges the stores' answers to a held query: answers `Routed`.
        #[prost(message, tag = "8")]
        Finish(super::Finish),
        /// Forgets a held query: answers `Done`.
        #[prost(message, tag = "9")]
        DropQuery(super::QueryHandle),
        /// Starts a channel to a store: answers `Initiated`.
        #[prost(message, tag = "10")]
        StoreInitiate(super::Empty),
        /// Finishes a channel to a store: answers `Data` (the channel id).
        #[prost(message, tag = "11")]
        StoreFinish(super::StoreFinish),
        /// Closes a store channel: answers `Closed`.
        #[prost(message, tag = "12")]
        StoreClose(super::StoreChannel),
        /// Public counts: answers `Status`.
        #[prost(message, tag = "13")]
        GetStatus(super::Empty),
    }
}

/// A query held: its handle, and how many keys the client sent (public: the frame's size shows
/// it).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Opened {
    /// The handle.
    #[prost(uint64, tag = "1")]
    pub handle: u64,
    /// Keys.
    #[prost(uint64, tag = "2")]
    pub key_count: u64,
}

/// What one store's answer covers (public).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Shard {
    /// Whether the answer counted (the other fields are zero when not).
    #[prost(bool, tag = "1")]
    pub answered: bool,
    /// The store's configured blocks.
    #[prost(message, optional, tag = "2")]
    pub blocks: Option<BlockRange>,
    /// The end of the run of processed blocks from the range's start.
    #[prost(uint64, tag = "3")]
    pub processed: u64,
    /// One past the highest block the store loaded.
    #[prost(uint64, tag = "4")]
    pub loaded_end: u64,
}

/// The merged answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Routed {
    /// The answer sealed to the client (none for a probe, or when `refusal` says why not).
    #[prost(message, optional, tag = "1")]
    pub frame: Option<NonceMessage>,
    /// Why the answer could not be sealed (the client's session is gone).
    #[prost(message, optional, tag = "2")]
    pub refusal: Option<crate::Refusal>,
    /// One per store answer given, in order.
    #[prost(message, repeated, tag = "3")]
    pub shards: Vec<Shard>,
    /// The processed block count the answer vouches for.
    #[prost(uint64, tag = "4")]
    pub processed: u64,
    /// The stores whose results were merged.
    #[prost(uint64, tag = "5")]
    pub merged_shards: u64,
}

/// A store channel started.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Initiated {
    /// For [`StoreFinish::token`].
    #[prost(uint64, tag = "1")]
    pub token: u64,
    /// The hello, for the store.
    #[prost(bytes = "vec", tag = "2")]
    pub hello: Vec<u8>,
}

/// The router's public counts.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RouterStatus {
    /// Client queries merged so far.
    #[prost(uint64, tag = "1")]
    pub queries: u64,
    /// Live client sessions.
    #[prost(uint64, tag = "2")]
    pub sessions: u64,
    /// Queries held, waiting for their stores.
    #[prost(uint64, tag = "3")]
    pub pending_queries: u64,
}

/// A response of the view router enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ViewRouterResponse {
    /// The answer.
    #[prost(
        oneof = "view_router_response::Answer",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9"
    )]
    pub answer: Option<view_router_response::Answer>,
}

/// The answers of [`ViewRouterResponse`].
pub mod view_router_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// The enclave refused: a [`crate::errors::ViewEnclaveError`].
        #[prost(message, tag = "1")]
        Refused(crate::Refusal),
        /// Done.
        #[prost(message, tag = "2")]
        Done(super::Empty),
        /// `GetChannelKeys`.
        #[prost(message, tag = "3")]
        ChannelKeys(super::ChannelKeysMessage),
        /// `Auth`, `StoreRequest`, `StoreFinish`.
        #[prost(message, tag = "4")]
        Data(super::Data),
        /// `OpenQuery`, `Probe`.
        #[prost(message, tag = "5")]
        Opened(super::Opened),
        /// `Finish`.
        #[prost(message, tag = "6")]
        Routed(super::Routed),
        /// `StoreInitiate`.
        #[prost(message, tag = "7")]
        Initiated(super::Initiated),
        /// `StoreClose`.
        #[prost(message, tag = "8")]
        Closed(super::Closed),
        /// `GetStatus`.
        #[prost(message, tag = "9")]
        Status(super::RouterStatus),
    }
}

use view_router_request::Call;
use view_router_response::Answer;

/// A client query the router enclave holds, waiting for the stores' answers: only a handle
/// (the client's keys stay inside). Consumed by [`ViewRouterClient::finish`] or
/// [`ViewRouterClient::drop_query`]; one that is simply dropped (the request was cancelled)
/// tells the enclave to forget the query, so its place in the table is free again.
pub struct PendingQuery {
    handle: u64,
    key_count: usize,
    /// The enclave to tell when dropped unfinished (`None` once finished or forgotten).
    enclave: Option<SharedEnclave>,
}

impl core::fmt::Debug for PendingQuery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingQuery")
            .field("handle", &self.handle)
            .field("key_count", &self.key_count)
            .finish()
    }
}

impl PendingQuery {
    /// The handle.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// How many search keys the client sent.
    pub fn key_count(&self) -> usize {
        self.key_count
    }

    /// The `DropQuery` request forgetting it.
    fn forget(&self) -> Call {
        Call::DropQuery(QueryHandle {
            handle: self.handle,
        })
    }
}

impl Drop for PendingQuery {
    fn drop(&mut self) {
        if let Some(enclave) = self.enclave.take() {
            use prost::Message as _;
            let request = ViewRouterRequest {
                call: Some(self.forget()),
            };
            // Forgetting is best effort: an enclave that no longer holds the query answers a
            // refusal, which changes nothing.
            let _ = enclave.call(&request.encode_to_vec());
        }
    }
}

/// What one store's answer said of its blocks (public).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardCoverage {
    /// The store's configured blocks, `start..end` (`end` = `u64::MAX`: open-ended).
    pub blocks: BlockRange,
    /// The end of the run of processed blocks from `blocks.start_block`.
    pub processed: u64,
    /// One past the highest block the store loaded.
    pub loaded_end: u64,
}

/// The merged answer.
#[derive(Debug)]
pub struct RoutedAnswer {
    /// The answer sealed to the client (`None` for a probe), or why it could not be sealed
    /// (the client's session is gone): the stores' answers still count.
    pub frame: Result<Option<NonceMessage>, ViewEnclaveError>,
    /// Per store answer given to [`ViewRouterClient::finish`]: what it covers, or `None` when
    /// it was missing, did not open or decode, or disagreed with the others' events (the host
    /// should drop that channel).
    pub shards: Vec<Option<ShardCoverage>>,
    /// The processed block count the answer vouches for.
    pub processed: u64,
    /// The stores whose results were merged (public).
    pub merged_shards: usize,
}

/// The host's typed handle on a view router enclave. Cheap to clone (a shared handle).
///
/// No method takes or returns a private key or a client's plaintext: the client's query is a
/// [`PendingQuery`] handle; requests and answers cross sealed.
#[derive(Clone)]
pub struct ViewRouterClient {
    enclave: SharedEnclave,
}

impl core::fmt::Debug for ViewRouterClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewRouterClient").finish_non_exhaustive()
    }
}

type E = ViewEnclaveError;

impl ViewRouterClient {
    /// A client of `enclave` (a view router enclave).
    pub fn new(enclave: SharedEnclave) -> Self {
        Self { enclave }
    }

    /// The enclave.
    pub fn enclave(&self) -> &SharedEnclave {
        &self.enclave
    }

    /// One call: the answer, or the call's error.
    fn call(&self, call: Call) -> Result<Answer, E> {
        use prost::Message as _;
        let request = ViewRouterRequest { call: Some(call) };
        let bytes = self.enclave.call(&request.encode_to_vec())?;
        let response =
            ViewRouterResponse::decode(bytes.as_slice()).map_err(|_| wrong_answer::<E>())?;
        match response.answer {
            Some(Answer::Refused(r)) => Err(refused(r)),
            Some(answer) => Ok(answer),
            None => Err(wrong_answer()),
        }
    }

    fn done(&self, call: Call) -> Result<(), E> {
        match self.call(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(wrong_answer()),
        }
    }

    fn data(&self, call: Call) -> Result<Vec<u8>, E> {
        match self.call(call)? {
            Answer::Data(d) => Ok(d.data),
            _ => Err(wrong_answer()),
        }
    }

    fn opened(&self, call: Call) -> Result<PendingQuery, E> {
        match self.call(call)? {
            Answer::Opened(o) => {
                let mut query = PendingQuery {
                    handle: o.handle,
                    key_count: 0,
                    enclave: Some(self.enclave.clone()),
                };
                // An answer of the wrong shape still names a held query: dropping `query`
                // forgets it.
                query.key_count = usize::try_from(o.key_count).map_err(|_| wrong_answer::<E>())?;
                Ok(query)
            }
            _ => Err(wrong_answer()),
        }
    }

    /// The public halves of the enclave's channel keys (`peers`: the store channels' key).
    pub fn channel_keys(&self) -> Result<ChannelKeys, E> {
        match self.call(Call::GetChannelKeys(Empty {}))? {
            Answer::ChannelKeys(k) => {
                ChannelKeys::from_wire(&k.client, &k.peers).ok_or_else(wrong_answer)
            }
            _ => Err(wrong_answer()),
        }
    }

    /// Installs the evidence client sessions present (it must bind the client channel key).
    pub fn set_evidence(&self, evidence: &BoundEvidence) -> Result<(), E> {
        self.done(Call::SetEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        }))
    }

    /// Installs the evidence the store channels present (it must bind the store channel key).
    pub fn set_store_evidence(&self, evidence: &BoundEvidence) -> Result<(), E> {
        self.done(Call::SetStoreEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        }))
    }

    /// Binds fresh evidence from `provider` to each of the enclave's channel keys and installs
    /// it: how the host starts the enclave, and refreshes its evidence.
    pub fn attest<P: fog_attest::Provider>(&self, provider: &P) -> Result<(), E> {
        let keys = self.channel_keys()?;
        self.set_evidence(&bind::<P, E>(provider, &keys.client)?)?;
        let stores = keys.peers.ok_or_else(wrong_answer::<E>)?;
        self.set_store_evidence(&bind::<P, E>(provider, &stores)?)
    }

    /// Answers a client's NX hello from `peer` (its address, when the transport gives one),
    /// as a view does.
    pub fn auth(
        &self,
        hello: &[u8],
        peer: Option<std::net::IpAddr>,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, E> {
        self.data(Call::Auth(Auth {
            hello: hello.to_vec(),
            peer: peer_bytes(peer),
            now: now.0,
        }))
    }

    /// Opens a client's query frame (authenticated before anything else) and holds the query
    /// inside; refused (`Unavailable`, the frame consumed) while the table of held queries is
    /// full.
    pub fn open_query(&self, frame: NonceMessage, now: UnixSeconds) -> Result<PendingQuery, E> {
        self.opened(Call::OpenQuery(OpenQuery {
            frame: Some(frame),
            now: now.0,
        }))
    }

    /// Holds a query with no keys and no events, to learn what the stores cover (refused like
    /// a client's while the table is full).
    pub fn probe(&self) -> Result<PendingQuery, E> {
        self.opened(Call::Probe(Empty {}))
    }

    /// The encoded frame asking a store `query`, sealed on the store channel `channel_id`.
    pub fn store_request(
        &self,
        query: &PendingQuery,
        channel_id: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, E> {
        self.data(Call::StoreRequest(StoreRequest {
            handle: query.handle,
            channel_id: channel_id.to_vec(),
            now: now.0,
        }))
    }

    /// Opens the stores' answers (`(channel id, frame)`, or `None` for a store that did not
    /// answer), merges them and seals the client's answer; the query is forgotten. Fails only
    /// when no store answered at all, or the handle is unknown (`Unavailable` both).
    pub fn finish(
        &self,
        mut query: PendingQuery,
        answers: &[Option<(&[u8], &[u8])>],
        now: UnixSeconds,
    ) -> Result<RoutedAnswer, E> {
        let answers = answers
            .iter()
            .map(|a| match a {
                Some((channel, frame)) => StoreAnswer {
                    answered: true,
                    channel_id: channel.to_vec(),
                    frame: frame.to_vec(),
                },
                None => StoreAnswer::default(),
            })
            .collect();
        let call = Call::Finish(Finish {
            handle: query.handle,
            answers,
            now: now.0,
        });
        let answer = self.call(call);
        // Once the call went through, the enclave has forgotten the query whatever it
        // answered: nothing to forget on drop. (A call that did not go through leaves it held.)
        if !matches!(answer, Err(ViewEnclaveError::Boundary(_))) {
            query.enclave = None;
        }
        let routed = match answer? {
            Answer::Routed(r) => r,
            _ => return Err(wrong_answer()),
        };
        let frame = match (routed.frame, routed.refusal) {
            (_, Some(r)) => Err(refused(r)),
            (frame, None) => Ok(frame),
        };
        let shards = routed
            .shards
            .iter()
            .map(|s| {
                s.answered.then(|| ShardCoverage {
                    blocks: s.blocks.unwrap_or_default(),
                    processed: s.processed,
                    loaded_end: s.loaded_end,
                })
            })
            .collect();
        Ok(RoutedAnswer {
            frame,
            shards,
            processed: routed.processed,
            merged_shards: usize::try_from(routed.merged_shards)
                .map_err(|_| wrong_answer::<E>())?,
        })
    }

    /// Forgets a held query (its routing failed before [`ViewRouterClient::finish`]). Dropping
    /// the query does the same, without the answer.
    pub fn drop_query(&self, mut query: PendingQuery) -> Result<(), E> {
        let outcome = self.done(query.forget());
        if !matches!(outcome, Err(ViewEnclaveError::Boundary(_))) {
            query.enclave = None;
        }
        outcome
    }

    /// Starts a channel to a store: a token for [`ViewRouterClient::store_finish`] and the
    /// hello.
    pub fn store_initiate(&self) -> Result<(u64, Vec<u8>), E> {
        match self.call(Call::StoreInitiate(Empty {}))? {
            Answer::Initiated(i) => Ok((i.token, i.hello)),
            _ => Err(wrong_answer()),
        }
    }

    /// Finishes a channel to a store with its reply (the enclave checks its evidence): the
    /// channel id.
    pub fn store_finish(&self, token: u64, reply: &[u8], now: UnixSeconds) -> Result<Vec<u8>, E> {
        self.data(Call::StoreFinish(StoreFinish {
            token,
            reply: reply.to_vec(),
            now: now.0,
        }))
    }

    /// Closes a store channel; true if it was open.
    pub fn store_close(&self, channel_id: &[u8]) -> Result<bool, E> {
        let call = Call::StoreClose(StoreChannel {
            channel_id: channel_id.to_vec(),
        });
        match self.call(call)? {
            Answer::Closed(c) => Ok(c.was_open),
            _ => Err(wrong_answer()),
        }
    }

    /// The router's public counts.
    pub fn status(&self) -> Result<RouterStatus, E> {
        match self.call(Call::GetStatus(Empty {}))? {
            Answer::Status(s) => Ok(s),
            _ => Err(wrong_answer()),
        }
    }

    /// Client queries merged so far.
    pub fn queries(&self) -> Result<u64, E> {
        self.status().map(|s| s.queries)
    }
}
