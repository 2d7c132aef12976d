//! The view enclave's calls: its request and response messages, and the host's typed handle
//! on it ([`ViewClient`]).
//!
//! What crosses, and what does not. The view enclave makes both its channel keys inside (the
//! one clients' sessions prove, and the one its routers' channels prove): the host gets their
//! public halves ([`ViewClient::channel_keys`]), binds evidence to each with its provider and
//! installs it ([`ViewClient::set_evidence`], [`ViewClient::set_router_evidence`], or both at
//! once with [`ViewClient::attest`]). Client handshakes, query frames and router frames cross
//! as they arrive and leave sealed; the loader's user events, block marks and records (public
//! data from the recovery DB) cross in one call per batch. The host lends the partition
//! workers their threads through [`ViewClient::run_worker`], a call that returns only when the
//! enclave is stopped ([`ViewClient::stop`]).
//!
//! Until the client evidence is installed every call but `GetChannelKeys` and the evidence
//! calls answers [`EnclaveError::NotInitialized`]; after `Stop`, every call does.
//!
//! Failures. A call that does not go through is an [`EnclaveError`], which the client returns
//! as the `Boundary` variant of the call's typed error; a refusal of the enclave is an answer
//! ([`LoadError`] for the loading calls, [`ViewError`] for the record-only calls and the
//! workers, [`ViewEnclaveError`] otherwise). An answer of the wrong kind is
//! `Boundary(EnclaveError::Malformed)`.
//!
//! Trust side: both (the messages); the client is the host's.

use fog_attest::{wire::NonceMessage, BoundEvidence, SessionLimits, UnixSeconds};
use fog_transaction::wire::ETxOutRecord;
use fog_types::common::BlockRange;
use fog_types::view::{DecommissionedIngestInvocation, RngRecord};

use crate::errors::{LoadError, ViewEnclaveError, ViewError};
pub use crate::messages::Empty;
use crate::messages::SetEvidence;
use crate::{EnclaveError, Refusal, Refused, SharedEnclave};

/// Client sessions a view (or view router) keeps at once by default (MobileCoin's cache
/// size).
pub const DEFAULT_SESSION_CAPACITY: usize = 10_000;

/// What the loader gives a view enclave when it creates it: its partitions, the store's size,
/// its sessions' bounds and the blocks it serves. Public: nothing here is a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewEnclaveConfig {
    /// Partitions (threads that can search at once), 1 to 256.
    pub partitions: usize,
    /// Slots of each partition.
    pub capacity_per_partition: u64,
    /// Client sessions kept at once.
    pub session_capacity: usize,
    /// How long a client session lives.
    pub session_limits: SessionLimits,
    /// How long a router's channel lives.
    pub store_session_limits: SessionLimits,
    /// The blocks the store serves (`end_block` = `u64::MAX`: open-ended).
    pub blocks: BlockRange,
}

/// A client's first handshake message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Auth {
    /// The client's `→ e`.
    #[prost(bytes = "vec", tag = "1")]
    pub hello: Vec<u8>,
    /// Where it came from: an IPv4 (4 bytes) or IPv6 (16 bytes) address, or nothing when the
    /// transport gave none. It bounds how many sessions one client holds.
    #[prost(bytes = "vec", tag = "2")]
    pub peer: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// The public counters the host adds to an answer (informational: a client's balance does not
/// rest on them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct HostCounters {
    /// Blocks the recovery DB knows.
    #[prost(uint64, tag = "1")]
    pub last_known_block_count: u64,
    /// TxOuts up to the last known block.
    #[prost(uint64, tag = "2")]
    pub last_known_block_cumulative_txo_count: u64,
}

/// A client's encrypted `QueryRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Query {
    /// The frame, as the client sent it.
    #[prost(message, optional, tag = "1")]
    pub frame: Option<NonceMessage>,
    /// The host's counters.
    #[prost(message, optional, tag = "2")]
    pub host: Option<HostCounters>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "3")]
    pub now: u64,
}

/// One user event as the recovery DB holds it.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum UserEvent {
    /// A new ingest invocation (egress key): clients add an RNG.
    #[prost(message, tag = "1")]
    NewRng(RngRecord),
    /// An invocation stopped after `last_ingested_block` (0 if it stored none).
    #[prost(message, tag = "2")]
    Decommission(DecommissionedIngestInvocation),
    /// Blocks no ingest scanned.
    #[prost(message, tag = "3")]
    Missing(BlockRange),
}

/// A [`UserEvent`] on the wire.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct UserEventMessage {
    /// The event (a message without one is refused).
    #[prost(oneof = "UserEvent", tags = "1, 2, 3")]
    pub event: Option<UserEvent>,
}

/// User events, in the recovery DB's order.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AddUserEvents {
    /// The events.
    #[prost(message, repeated, tag = "1")]
    pub events: Vec<UserEventMessage>,
}

/// "Block `block_index` of `invocation` is complete" (its records travel beside the mark).
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct BlockMark {
    /// The ingest invocation that wrote the block.
    #[prost(int64, tag = "1")]
    pub invocation: i64,
    /// The block.
    #[prost(uint64, tag = "2")]
    pub block_index: u64,
    /// Its block signature timestamp (public; reported with the processed count).
    #[prost(uint64, tag = "3")]
    pub timestamp: u64,
}

/// Whole blocks: their marks and all their records, stored and published at once.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LoadBlocks {
    /// The marks, in the recovery DB's write order.
    #[prost(message, repeated, tag = "1")]
    pub marks: Vec<BlockMark>,
    /// The blocks' records.
    #[prost(message, repeated, tag = "2")]
    pub records: Vec<ETxOutRecord>,
}

/// Records outside any block (benchmarks and tests).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AddRecords {
    /// The records.
    #[prost(message, repeated, tag = "1")]
    pub records: Vec<ETxOutRecord>,
    /// Whether a large batch goes to the partition workers (`LoadRecords`) rather than being
    /// stored on the calling thread (`AddRecords`).
    #[prost(bool, tag = "2")]
    pub parallel: bool,
}

/// The ledger's block count as the host knows it.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct KnownBlocks {
    /// Blocks.
    #[prost(uint64, tag = "1")]
    pub blocks: u64,
}

/// A router's handshake message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RouterAccept {
    /// The router's first message.
    #[prost(bytes = "vec", tag = "1")]
    pub hello: Vec<u8>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "2")]
    pub now: u64,
}

/// A router's encoded `StoreQueryRequest` frame.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RouterQuery {
    /// The channel it came on.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The encoded frame.
    #[prost(bytes = "vec", tag = "2")]
    pub frame: Vec<u8>,
    /// The host's counters.
    #[prost(message, optional, tag = "3")]
    pub host: Option<HostCounters>,
    /// The host's time (seconds since the Unix epoch).
    #[prost(fixed64, tag = "4")]
    pub now: u64,
}

/// Lends the calling thread to a partition's worker.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RunWorker {
    /// The partition, `0..worker_partitions`.
    #[prost(uint32, tag = "1")]
    pub partition: u32,
}

/// A request to the view enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ViewRequest {
    /// The call.
    #[prost(
        oneof = "view_request::Call",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"
    )]
    pub call: Option<view_request::Call>,
}

/// The calls of [`ViewRequest`].
pub mod view_request {
    /// One call.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Call {
        /// The public halves of the enclave's channel keys: answers `ChannelKeys`.
        #[prost(message, tag = "1")]
        GetChannelKeys(super::Empty),
        /// Evidence (`attest.BoundEvidence`) binding the client channel key, which the
        /// enclave presents to clients; the first one starts the enclave: answers `Done`.
        #[prost(message, tag = "2")]
        SetEvidence(super::SetEvidence),
        /// Evidence binding the router channel key, which the enclave presents to view
        /// routers: answers `Done`.
        #[prost(message, tag = "3")]
        SetRouterEvidence(super::SetEvidence),
        /// A client's NX hello: answers `Data` (the handshake answer).
        #[prost(message, tag = "4")]
        Auth(super::Auth),
        /// A client's query: answers `Frame`.
        #[prost(message, tag = "5")]
        Query(super::Query),
        /// Answers `Done`.
        #[prost(message, tag = "6")]
        AddUserEvents(super::AddUserEvents),
        /// Answers `Done`.
        #[prost(message, tag = "7")]
        LoadBlocks(super::LoadBlocks),
        /// Answers `Done`.
        #[prost(message, tag = "8")]
        AddRecords(super::AddRecords),
        /// Answers `Done`.
        #[prost(message, tag = "9")]
        SetKnownBlocks(super::KnownBlocks),
        /// What the enclave holds (public counts): answers `Status`.
        #[prost(message, tag = "10")]
        GetStatus(super::Empty),
        /// A view router's handshake: answers `RouterAccepted`.
        #[prost(message, tag = "11")]
        RouterAccept(super::RouterAccept),
        /// A view router's query: answers `Data` (the encoded answer frame).
        #[prost(message, tag = "12")]
        RouterQuery(super::RouterQuery),
        /// Runs a partition worker on the calling thread until the enclave stops: answers
        /// `Done` then.
        #[prost(message, tag = "13")]
        RunWorker(super::RunWorker),
        /// Destroys the enclave's state: lent threads return, every later call answers
        /// `NotInitialized`. Answers `Done`.
        #[prost(message, tag = "14")]
        Stop(super::Empty),
    }
}

/// The public halves of the enclave's channel keys (X25519, 32 bytes each).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ChannelKeysMessage {
    /// The key client sessions prove.
    #[prost(bytes = "vec", tag = "1")]
    pub client: Vec<u8>,
    /// The key the channels to its peers prove (a view's routers, a router's stores); empty
    /// when the enclave has no such channels.
    #[prost(bytes = "vec", tag = "2")]
    pub peers: Vec<u8>,
}

/// Bytes: a handshake answer or an encoded frame.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Data {
    /// The bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// A router's handshake answered.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RouterAccepted {
    /// The channel id, the same on both ends.
    #[prost(bytes = "vec", tag = "1")]
    pub channel_id: Vec<u8>,
    /// The answer, for the router.
    #[prost(bytes = "vec", tag = "2")]
    pub reply: Vec<u8>,
}

/// What the enclave holds: public counts only.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ViewStatus {
    /// The processed block count the enclave vouches for.
    #[prost(uint64, tag = "1")]
    pub processed: u64,
    /// User events held.
    #[prost(uint64, tag = "2")]
    pub user_events: u64,
    /// Records stored, over all partitions.
    #[prost(uint64, tag = "3")]
    pub records: u64,
    /// Slots, over all partitions.
    #[prost(uint64, tag = "4")]
    pub capacity: u64,
    /// Partitions.
    #[prost(uint32, tag = "5")]
    pub partitions: u32,
    /// The sum of the padded sizes of the batches searched (each batch's size class is
    /// public).
    #[prost(uint64, tag = "6")]
    pub padded_keys: u64,
    /// Workers the host should lend threads to ([`ViewClient::run_worker`] for each of
    /// `0..n`): one per partition when there are at least two, else none.
    #[prost(uint32, tag = "7")]
    pub worker_partitions: u32,
    /// Whether every partition's worker runs.
    #[prost(bool, tag = "8")]
    pub workers_ready: bool,
    /// Partition jobs the workers answered.
    #[prost(uint64, tag = "9")]
    pub worker_jobs: u64,
    /// The blocks the store serves.
    #[prost(message, optional, tag = "10")]
    pub blocks: Option<BlockRange>,
    /// Live client sessions.
    #[prost(uint64, tag = "11")]
    pub sessions: u64,
    /// Whether routers can open channels (the router evidence is installed).
    #[prost(bool, tag = "12")]
    pub takes_routers: bool,
}

impl ViewStatus {
    /// The blocks the store serves (every block when the message left them out).
    pub fn blocks(&self) -> BlockRange {
        self.blocks.unwrap_or(fog_types::view::ALL_BLOCKS)
    }
}

/// A response of the view enclave.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ViewResponse {
    /// The answer.
    #[prost(oneof = "view_response::Answer", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub answer: Option<view_response::Answer>,
}

/// The answers of [`ViewResponse`].
pub mod view_response {
    /// One answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Answer {
        /// The enclave refused: a [`crate::errors::LoadError`] for `AddUserEvents` and
        /// `LoadBlocks`, a [`crate::errors::ViewError`] for `AddRecords` and `RunWorker`, a
        /// [`crate::errors::ViewEnclaveError`] for the others.
        #[prost(message, tag = "1")]
        Refused(crate::Refusal),
        /// Done.
        #[prost(message, tag = "2")]
        Done(super::Empty),
        /// `GetChannelKeys`.
        #[prost(message, tag = "3")]
        ChannelKeys(super::ChannelKeysMessage),
        /// `Auth`, `RouterQuery`.
        #[prost(message, tag = "4")]
        Data(super::Data),
        /// `Query`: the answer sealed to the client's session.
        #[prost(message, tag = "5")]
        Frame(fog_attest::wire::NonceMessage),
        /// `RouterAccept`.
        #[prost(message, tag = "6")]
        RouterAccepted(super::RouterAccepted),
        /// `GetStatus`.
        #[prost(message, tag = "7")]
        Status(super::ViewStatus),
    }
}

use view_request::Call;
use view_response::Answer;

/// The public halves of an enclave's channel keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelKeys {
    /// The key client sessions prove.
    pub client: [u8; 32],
    /// The key router (or store) channels prove, if the enclave has such channels.
    pub peers: Option<[u8; 32]>,
}

impl ChannelKeys {
    /// From the wire: 32 bytes, and 32 or none.
    pub(crate) fn from_wire(client: &[u8], peers: &[u8]) -> Option<Self> {
        Some(Self {
            client: client.try_into().ok()?,
            peers: match peers.len() {
                0 => None,
                _ => Some(peers.try_into().ok()?),
            },
        })
    }
}

/// A failed call as `E`'s `Boundary` variant, a refusal as the `E` it names.
pub(crate) trait CallError: Refused + From<EnclaveError> {}
impl<E: Refused + From<EnclaveError>> CallError for E {}

pub(crate) fn refused<E: CallError>(refusal: Refusal) -> E {
    E::from_refusal(refusal).unwrap_or_else(|| E::from(EnclaveError::Malformed))
}

pub(crate) fn wrong_answer<E: CallError>() -> E {
    E::from(EnclaveError::Malformed)
}

/// The bytes of a peer address for [`Auth::peer`].
pub(crate) fn peer_bytes(peer: Option<std::net::IpAddr>) -> Vec<u8> {
    match peer {
        Some(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
        Some(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
        None => Vec::new(),
    }
}

/// Evidence from `provider` binding `key` (and no custom identity); a provider failure is
/// `Boundary(Provider)`.
pub(crate) fn bind<P: fog_attest::Provider, E: CallError>(
    provider: &P,
    key: &[u8; 32],
) -> Result<BoundEvidence, E> {
    BoundEvidence::bind(provider, key, None).map_err(|_| E::from(EnclaveError::Provider))
}

/// The host's typed handle on a view enclave: one method per call, each returning the typed
/// error the enclave's own API returns (with `Boundary` for a call that did not go through).
/// Cheap to clone (a shared handle).
///
/// No method takes or returns a private key or a client's plaintext: only public keys,
/// evidence, handshake messages, sealed frames, public records and public counts.
#[derive(Clone)]
pub struct ViewClient {
    enclave: SharedEnclave,
}

impl core::fmt::Debug for ViewClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewClient").finish_non_exhaustive()
    }
}

impl ViewClient {
    /// A client of `enclave` (a view enclave).
    pub fn new(enclave: SharedEnclave) -> Self {
        Self { enclave }
    }

    /// The enclave.
    pub fn enclave(&self) -> &SharedEnclave {
        &self.enclave
    }

    /// One call: the answer, or the call's error (`Boundary` when the call did not go through
    /// or the answer does not decode, the refusal the enclave answered).
    fn call<E: CallError>(&self, call: Call) -> Result<Answer, E> {
        use prost::Message as _;
        let request = ViewRequest { call: Some(call) };
        let bytes = self.enclave.call(&request.encode_to_vec())?;
        let response = ViewResponse::decode(bytes.as_slice()).map_err(|_| wrong_answer::<E>())?;
        match response.answer {
            Some(Answer::Refused(r)) => Err(refused(r)),
            Some(answer) => Ok(answer),
            None => Err(wrong_answer()),
        }
    }

    fn done<E: CallError>(&self, call: Call) -> Result<(), E> {
        match self.call::<E>(call)? {
            Answer::Done(_) => Ok(()),
            _ => Err(wrong_answer()),
        }
    }

    fn data(&self, call: Call) -> Result<Vec<u8>, ViewEnclaveError> {
        match self.call::<ViewEnclaveError>(call)? {
            Answer::Data(d) => Ok(d.data),
            _ => Err(wrong_answer()),
        }
    }

    /// The public halves of the enclave's channel keys (`peers`: the router channels' key,
    /// when the enclave was made to take routers).
    pub fn channel_keys(&self) -> Result<ChannelKeys, ViewEnclaveError> {
        match self.call::<ViewEnclaveError>(Call::GetChannelKeys(Empty {}))? {
            Answer::ChannelKeys(k) => {
                ChannelKeys::from_wire(&k.client, &k.peers).ok_or_else(wrong_answer)
            }
            _ => Err(wrong_answer()),
        }
    }

    /// Installs the evidence client sessions present; it must bind the client channel key
    /// (`Session(Handshake)` otherwise). The first one starts the enclave; later ones refresh
    /// it.
    pub fn set_evidence(&self, evidence: &BoundEvidence) -> Result<(), ViewEnclaveError> {
        self.done(Call::SetEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        }))
    }

    /// Installs the evidence router channels present; it must bind the router channel key
    /// (`Peer(Handshake)` otherwise). Until the first one routers are refused.
    pub fn set_router_evidence(&self, evidence: &BoundEvidence) -> Result<(), ViewEnclaveError> {
        self.done(Call::SetRouterEvidence(SetEvidence {
            evidence: evidence.encode_to_vec(),
        }))
    }

    /// Binds fresh evidence from `provider` to each of the enclave's channel keys and installs
    /// it: how the host starts the enclave, and refreshes its evidence.
    pub fn attest<P: fog_attest::Provider>(&self, provider: &P) -> Result<(), ViewEnclaveError> {
        let keys = self.channel_keys()?;
        self.set_evidence(&bind::<P, ViewEnclaveError>(provider, &keys.client)?)?;
        if let Some(key) = keys.peers {
            self.set_router_evidence(&bind::<P, ViewEnclaveError>(provider, &key)?)?;
        }
        Ok(())
    }

    /// Answers a client's NX hello from `peer` (the client's address, when the transport
    /// gives one: it bounds how many sessions one client can hold).
    pub fn auth(
        &self,
        hello: &[u8],
        peer: Option<std::net::IpAddr>,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, ViewEnclaveError> {
        self.data(Call::Auth(Auth {
            hello: hello.to_vec(),
            peer: peer_bytes(peer),
            now: now.0,
        }))
    }

    /// Answers a client's encrypted `QueryRequest` frame with the sealed answer; `host` adds
    /// the last known block count.
    pub fn query(
        &self,
        frame: NonceMessage,
        host: HostCounters,
        now: UnixSeconds,
    ) -> Result<NonceMessage, ViewEnclaveError> {
        let call = Call::Query(Query {
            frame: Some(frame),
            host: Some(host),
            now: now.0,
        });
        match self.call::<ViewEnclaveError>(call)? {
            Answer::Frame(f) => Ok(f),
            _ => Err(wrong_answer()),
        }
    }

    /// Appends user events, in the recovery DB's order, after the enclave checks them (all or
    /// nothing).
    pub fn add_user_events(&self, events: Vec<UserEvent>) -> Result<(), LoadError> {
        let events = events
            .into_iter()
            .map(|e| UserEventMessage { event: Some(e) })
            .collect();
        self.done(Call::AddUserEvents(AddUserEvents { events }))
    }

    /// Loads whole blocks, in one call: their marks (in the recovery DB's write order) and
    /// all their records; the batch becomes visible to queries at once. A refused batch
    /// stores nothing; a store that fills up or fails halfway refuses every later load.
    pub fn load_blocks(
        &self,
        marks: Vec<BlockMark>,
        records: Vec<ETxOutRecord>,
    ) -> Result<(), LoadError> {
        self.done(Call::LoadBlocks(LoadBlocks { marks, records }))
    }

    /// Adds records outside any block (benchmarks and tests), a large batch stored by the
    /// partition workers when they run.
    pub fn load_records(&self, records: Vec<ETxOutRecord>) -> Result<(), ViewError> {
        self.done(Call::AddRecords(AddRecords {
            records,
            parallel: true,
        }))
    }

    /// Adds records outside any block, on the calling thread.
    pub fn add_records(&self, records: Vec<ETxOutRecord>) -> Result<(), ViewError> {
        self.done(Call::AddRecords(AddRecords {
            records,
            parallel: false,
        }))
    }

    /// The ledger's block count as the host knows it (a store with a closed range vouches for
    /// missed blocks up to it).
    pub fn set_known_blocks(&self, blocks: u64) -> Result<(), ViewEnclaveError> {
        self.done(Call::SetKnownBlocks(KnownBlocks { blocks }))
    }

    /// What the enclave holds (public counts).
    pub fn status(&self) -> Result<ViewStatus, ViewEnclaveError> {
        match self.call::<ViewEnclaveError>(Call::GetStatus(Empty {}))? {
            Answer::Status(s) => Ok(s),
            _ => Err(wrong_answer()),
        }
    }

    /// The processed block count the enclave vouches for, and the user events it holds.
    pub fn loaded(&self) -> Result<(u64, u64), ViewEnclaveError> {
        self.status().map(|s| (s.processed, s.user_events))
    }

    /// Records stored, over all partitions.
    pub fn records(&self) -> Result<u64, ViewEnclaveError> {
        self.status().map(|s| s.records)
    }

    /// Slots, over all partitions.
    pub fn capacity(&self) -> Result<u64, ViewEnclaveError> {
        self.status().map(|s| s.capacity)
    }

    /// Answers a view router's handshake: the channel id and the reply.
    pub fn router_accept(
        &self,
        hello: &[u8],
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), ViewEnclaveError> {
        let call = Call::RouterAccept(RouterAccept {
            hello: hello.to_vec(),
            now: now.0,
        });
        match self.call::<ViewEnclaveError>(call)? {
            Answer::RouterAccepted(a) => Ok((a.channel_id, a.reply)),
            _ => Err(wrong_answer()),
        }
    }

    /// Answers a router's encoded `StoreQueryRequest` frame on `channel_id` with an encoded
    /// `StoreQueryResponse` frame.
    pub fn router_query(
        &self,
        channel_id: &[u8],
        frame: Vec<u8>,
        host: HostCounters,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, ViewEnclaveError> {
        self.data(Call::RouterQuery(RouterQuery {
            channel_id: channel_id.to_vec(),
            frame,
            host: Some(host),
            now: now.0,
        }))
    }

    /// Lends the calling thread to partition `partition`'s worker: returns (`Ok`) only when
    /// the enclave stops. Refused with `InvalidConfig` for a partition out of range, one that
    /// already has a worker, or an enclave of one partition.
    pub fn run_worker(&self, partition: usize) -> Result<(), ViewError> {
        let partition = u32::try_from(partition).map_err(|_| ViewError::InvalidConfig)?;
        self.done(Call::RunWorker(RunWorker { partition }))
    }

    /// Destroys the enclave's state: every lent thread returns, every later call answers
    /// `NotInitialized`.
    pub fn stop(&self) -> Result<(), ViewEnclaveError> {
        self.done(Call::Stop(Empty {}))
    }
}
