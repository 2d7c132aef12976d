//! The view router enclave behind the byte boundary: [`ViewRouterBoundary`] takes the host's
//! serialized [`ViewRouterRequest`]s, runs them on the trusted router
//! ([`crate::view_router::ViewRouter`]) and answers serialized [`ViewRouterResponse`]s.
//!
//! What it holds inside, and never returns: its two channel key pairs, made here at load (the
//! one client sessions prove, and the one its store channels prove), the client sessions, the
//! store channels, and every client query it opened and has not finished (the client's search
//! keys and event position), in a table of at most
//! [`ViewRouterConfig::max_pending_queries`] entries. The host names a held query by a handle
//! (a number, never reused). While the table is full a new query (or probe) is refused
//! ([`ViewEnclaveError::Unavailable`]) and the held ones keep their places: one client opening
//! and abandoning queries cannot push out the others'. A handle the table does not hold
//! (finished, dropped, never given) is refused the same way (the client asks again). What
//! leaves: the public channel keys, handshake messages, sealed frames, what each store's
//! answer covers and public counts.
//!
//! Life: at load the enclave makes its keys. The host asks for the public keys
//! (`GetChannelKeys`), has its provider bind evidence to each, and installs it (`SetEvidence`,
//! `SetStoreEvidence`), each checked to bind this enclave's own key. Once both are in the
//! router starts; until then every other call answers [`EnclaveError::NotInitialized`].
//!
//! Failures: a request that does not decode (or names no call) is [`EnclaveError::Malformed`]
//! and changes nothing; the router's refusals ([`ViewEnclaveError`]) are answers. No input makes
//! it panic; a bug that would is caught at the boundary and answered
//! [`EnclaveError::Internal`], as is every later call (its state may be half updated: the host
//! rebuilds the enclave).
//!
//! Trust side: trusted. The host's time arrives in each call that needs it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use fog_attest::{ChannelKeypair, EnclaveResponder, UnixSeconds, Verifier};
use fog_enclave_api::errors::{PeerError, SessionError, ViewEnclaveError, ViewError};
use fog_enclave_api::view::{ChannelKeys, ChannelKeysMessage, Data, Empty};
use fog_enclave_api::view_router::{
    view_router_request::Call, view_router_response::Answer, Closed, Initiated, Opened, Routed,
    RouterStatus, Shard, ViewRouterConfig, ViewRouterRequest, ViewRouterResponse,
};
use fog_enclave_api::{serve, Enclave, EnclaveError, Refused, SharedEnclave, ViewRouterApi};

use super::view::{answer, binds, decode_evidence, fresh_keys, peer_key, Fuse};
use crate::peers::PeerChannels;
use crate::view_router::{PendingQuery, RoutedAnswer, ViewRouter, STORE_CHANNEL};

/// What waits for the evidence that starts the router.
struct Setup {
    /// The client channel keys, until the first client evidence.
    client: Option<ChannelKeypair>,
    /// The client responder, made from the first client evidence.
    responder: Option<EnclaveResponder>,
    /// The store channel keys and the verifier of stores, until the first store evidence.
    stores: Option<(ChannelKeypair, Verifier)>,
    /// The store channels, made from the first store evidence.
    link: Option<PeerChannels>,
}

/// The held queries: handles count up from 1.
#[derive(Default)]
struct Pending {
    last: u64,
    held: BTreeMap<u64, Arc<PendingQuery>>,
}

/// The view router enclave behind the byte boundary (see the module documentation).
pub struct ViewRouterBoundary {
    config: ViewRouterConfig,
    keys: ChannelKeys,
    setup: Mutex<Setup>,
    router: OnceLock<ViewRouter>,
    pending: Mutex<Pending>,
    /// Blown by a panic: every call answers `Internal` from then on.
    fuse: Fuse,
}

impl core::fmt::Debug for ViewRouterBoundary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewRouterBoundary")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn reply<T>(outcome: Result<T, ViewEnclaveError>, ok: impl FnOnce(T) -> Answer) -> Answer {
    answer(outcome, ok, Answer::Refused)
}

fn done(outcome: Result<(), ViewEnclaveError>) -> Answer {
    reply(outcome, |()| Answer::Done(Empty {}))
}

fn data(outcome: Result<Vec<u8>, ViewEnclaveError>) -> Answer {
    reply(outcome, |data| Answer::Data(Data { data }))
}

fn peer<T>(outcome: Result<T, PeerError>) -> Result<T, ViewEnclaveError> {
    outcome.map_err(ViewEnclaveError::from)
}

/// The unknown handle's refusal.
const UNKNOWN_QUERY: ViewEnclaveError = ViewEnclaveError::Unavailable;

/// The full table's refusal of a new query.
const TABLE_FULL: ViewEnclaveError = ViewEnclaveError::Unavailable;

fn routed(r: RoutedAnswer) -> Routed {
    let (frame, refusal) = match r.frame {
        Ok(frame) => (frame, None),
        Err(e) => (None, Some(e.to_refusal())),
    };
    Routed {
        frame,
        refusal,
        shards: r
            .shards
            .iter()
            .map(|s| match s {
                Some(c) => Shard {
                    answered: true,
                    blocks: Some(c.blocks),
                    processed: c.processed,
                    loaded_end: c.loaded_end,
                },
                None => Shard::default(),
            })
            .collect(),
        processed: r.processed,
        merged_shards: r.merged_shards as u64,
    }
}

impl ViewRouterBoundary {
    /// A view router enclave as the loader makes it: its channel key pairs, client sessions as
    /// `config` bounds them, and channels to the stores `stores` accepts. A table of no
    /// pending query is refused ([`ViewError::InvalidConfig`]).
    pub fn new(config: &ViewRouterConfig, stores: Verifier) -> Result<Self, ViewEnclaveError> {
        if config.max_pending_queries == 0 {
            return Err(ViewError::InvalidConfig.into());
        }
        let client = fresh_keys()?;
        let store_keys = fresh_keys()?;
        let keys = ChannelKeys {
            client: *client.public_key(),
            peers: Some(*store_keys.public_key()),
        };
        Ok(Self {
            config: *config,
            keys,
            setup: Mutex::new(Setup {
                client: Some(client),
                responder: None,
                stores: Some((store_keys, stores)),
                link: None,
            }),
            router: OnceLock::new(),
            pending: Mutex::new(Pending::default()),
            fuse: Fuse::default(),
        })
    }

    /// [`ViewRouterBoundary::new`] as the shared enclave the servers take ("simulation mode":
    /// in-process).
    pub fn simulated(
        config: &ViewRouterConfig,
        stores: Verifier,
    ) -> Result<SharedEnclave, ViewEnclaveError> {
        Ok(Arc::new(Self::new(config, stores)?))
    }

    fn setup(&self) -> Result<MutexGuard<'_, Setup>, EnclaveError> {
        self.setup.lock().map_err(|_| EnclaveError::Internal)
    }

    fn router(&self) -> Result<&ViewRouter, EnclaveError> {
        self.router.get().ok_or(EnclaveError::NotInitialized)
    }

    fn pending(&self) -> Result<MutexGuard<'_, Pending>, EnclaveError> {
        // A poisoned table (a panic while it was held) is not trusted again (the fuse is
        // blown then too).
        self.pending.lock().map_err(|_| EnclaveError::Internal)
    }

    /// Starts the router once both responders are made.
    fn start(&self, setup: &mut Setup) {
        if setup.responder.is_none() || setup.link.is_none() {
            return;
        }
        if let (Some(responder), Some(link)) = (setup.responder.take(), setup.link.take()) {
            let router = ViewRouter::new(
                responder,
                self.config.session_capacity,
                self.config.session_limits,
                link,
            );
            // `setup` is locked: no other router is made.
            let _ = self.router.set(router);
        }
    }

    fn set_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let evidence = decode_evidence(bytes)?;
        let mut setup = self.setup()?;
        if let Some(router) = self.router.get() {
            return Ok(done(
                router.sessions().set_evidence(evidence).map_err(Into::into),
            ));
        }
        if let Some(responder) = setup.responder.as_mut() {
            let outcome = responder
                .set_evidence(evidence)
                .map_err(|_| SessionError::Handshake.into());
            return Ok(done(outcome));
        }
        let keys = setup.client.take().ok_or(EnclaveError::Internal)?;
        if !binds(&evidence, &keys) {
            setup.client = Some(keys);
            return Ok(done(Err(SessionError::Handshake.into())));
        }
        let responder =
            EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
        setup.responder = Some(responder);
        self.start(&mut setup);
        Ok(Answer::Done(Empty {}))
    }

    fn set_store_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let evidence = decode_evidence(bytes)?;
        let mut setup = self.setup()?;
        if let Some(router) = self.router.get() {
            return Ok(done(peer(router.store_links().set_evidence(evidence))));
        }
        if let Some(link) = setup.link.as_mut() {
            return Ok(done(peer(link.set_evidence(evidence))));
        }
        let (keys, verifier) = setup.stores.take().ok_or(EnclaveError::Internal)?;
        if !binds(&evidence, &keys) {
            setup.stores = Some((keys, verifier));
            return Ok(done(Err(PeerError::Handshake.into())));
        }
        let responder =
            EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
        setup.link = Some(PeerChannels::new(
            STORE_CHANNEL,
            responder,
            verifier,
            self.config.store_session_limits,
        ));
        self.start(&mut setup);
        Ok(Answer::Done(Empty {}))
    }

    /// Holds `query`: its handle, or, while the table is full, the refusal (the query is
    /// dropped, its keys wiped).
    fn hold(&self, query: PendingQuery) -> Result<Answer, EnclaveError> {
        let key_count = query.key_count() as u64;
        let mut pending = self.pending()?;
        if pending.held.len() >= self.config.max_pending_queries {
            return Ok(Answer::Refused(TABLE_FULL.to_refusal()));
        }
        pending.last = pending.last.checked_add(1).ok_or(EnclaveError::Internal)?;
        let handle = pending.last;
        pending.held.insert(handle, Arc::new(query));
        Ok(Answer::Opened(Opened { handle, key_count }))
    }

    fn held(&self, handle: u64) -> Result<Option<Arc<PendingQuery>>, EnclaveError> {
        Ok(self.pending()?.held.get(&handle).cloned())
    }

    fn take(&self, handle: u64) -> Result<Option<Arc<PendingQuery>>, EnclaveError> {
        Ok(self.pending()?.held.remove(&handle))
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        Ok(match call {
            Call::GetChannelKeys(Empty {}) => Answer::ChannelKeys(ChannelKeysMessage {
                client: self.keys.client.to_vec(),
                peers: self.keys.peers.map(|k| k.to_vec()).unwrap_or_default(),
            }),
            Call::SetEvidence(e) => return self.set_evidence(&e.evidence),
            Call::SetStoreEvidence(e) => return self.set_store_evidence(&e.evidence),
            Call::Auth(a) => {
                let peer = peer_key(&a.peer)?;
                data(self.router()?.auth(&a.hello, peer, UnixSeconds(a.now)))
            }
            Call::OpenQuery(q) => {
                let frame = q.frame.ok_or(EnclaveError::Malformed)?;
                match self.router()?.open_query(&frame, UnixSeconds(q.now)) {
                    Ok(query) => self.hold(query)?,
                    Err(e) => Answer::Refused(e.to_refusal()),
                }
            }
            Call::Probe(Empty {}) => {
                self.router()?;
                self.hold(ViewRouter::probe())?
            }
            Call::StoreRequest(r) => {
                let router = self.router()?;
                let outcome = match self.held(r.handle)? {
                    Some(query) => {
                        peer(router.store_request(&query, &r.channel_id, UnixSeconds(r.now)))
                    }
                    None => Err(UNKNOWN_QUERY),
                };
                data(outcome)
            }
            Call::Finish(f) => {
                let router = self.router()?;
                let answers: Vec<Option<(&[u8], &[u8])>> = f
                    .answers
                    .iter()
                    .map(|a| {
                        a.answered
                            .then_some((a.channel_id.as_slice(), a.frame.as_slice()))
                    })
                    .collect();
                // A query a concurrent `StoreRequest` still reads is refused like an unknown
                // one (the host finished a query it was still sealing).
                let outcome = match self.take(f.handle)?.map(Arc::try_unwrap) {
                    Some(Ok(query)) => router.finish(query, &answers, UnixSeconds(f.now)),
                    _ => Err(UNKNOWN_QUERY),
                };
                reply(outcome, |r| Answer::Routed(routed(r)))
            }
            Call::DropQuery(q) => {
                self.router()?;
                done(self.take(q.handle)?.map(drop).ok_or(UNKNOWN_QUERY))
            }
            Call::StoreInitiate(Empty {}) => reply(
                peer(self.router()?.store_links().initiate()),
                |(token, hello)| Answer::Initiated(Initiated { token, hello }),
            ),
            Call::StoreFinish(f) => data(peer(self.router()?.store_links().finish(
                f.token,
                &f.reply,
                UnixSeconds(f.now),
            ))),
            Call::StoreClose(c) => Answer::Closed(Closed {
                was_open: self.router()?.store_links().close(&c.channel_id),
            }),
            Call::GetStatus(Empty {}) => {
                let router = self.router()?;
                Answer::Status(RouterStatus {
                    queries: router.queries(),
                    sessions: router.sessions().len() as u64,
                    pending_queries: self.pending()?.held.len() as u64,
                })
            }
        })
    }
}

impl Enclave for ViewRouterBoundary {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<ViewRouterApi>(request_bytes, |request: ViewRouterRequest| {
            let call = request.call.ok_or(EnclaveError::Malformed)?;
            let answer = self.fuse.guarded(|| self.handle(call))?;
            Ok(ViewRouterResponse {
                answer: Some(answer),
            })
        })
    }
}
