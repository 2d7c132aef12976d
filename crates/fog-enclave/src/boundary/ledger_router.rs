//! The ledger router enclave behind the byte boundary: [`LedgerRouterBoundary`] decodes the
//! host's [`LedgerRouterRequest`] (untrusted bytes), calls [`crate::ledger_router::LedgerRouter`]
//! (and its own fog ledger enclave, for the wrapped ledger calls) and encodes its answer.
//!
//! What it holds inside. Two channel key pairs, made when it is created: the client sessions'
//! and the store channels'. The host gets their public halves, binds evidence to each and
//! installs it; the router starts once it holds both (every call but those answers
//! [`EnclaveError::NotInitialized`] before). And the checks it opened: a client's check holds
//! the client's key images, so it stays here, in a table of at most
//! [`LedgerRouterConfig::max_open_checks`], named by a `u64` handle the host passes back (never
//! reused). While the table is full a new check (or probe) is refused
//! ([`LedgerEnclaveError::Full`]) and the open ones keep their places: one client opening and
//! abandoning checks cannot push out the others'. A handle the table does not hold (finished,
//! forgotten or never given) is refused with [`PeerError::UnknownChannel`]. The host serves
//! both as UNAVAILABLE: the client asks again.
//!
//! What it promises. A request that does not decode, or lacks a field its call needs, answers
//! [`EnclaveError::Malformed`] before anything is touched; refusals are answers; nothing
//! panics on any input (a bug that would is caught at the boundary and answered
//! [`EnclaveError::Internal`], as is every later call: the host rebuilds the enclave). The
//! router's own fog ledger enclave keeps no key image (its range is `0..0`) and takes no
//! router channel (those calls answer [`EnclaveError::Unsupported`]). Its randomness, like its
//! channel keys, is drawn inside from the platform's source.
//!
//! Trust side: trusted. No I/O; the time comes in each call that needs it.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::{Mutex, OnceLock};

use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder, SessionLimits, UnixSeconds};
use fog_enclave_api::errors::{PeerError, SessionError};
use fog_enclave_api::ledger::{
    ledger_request::Call as LedgerCall, ledger_response::Answer as LedgerAnswer, Empty,
    LedgerResponse, PeerFrame, PublicKey,
};
use fog_enclave_api::ledger_router::{
    ledger_router_request::Call, ledger_router_response::Answer, ChannelId, CheckHandle, Closed,
    Finish, LedgerRouterApi, LedgerRouterResponse, OpenedCheck, Routed, RouterStatus, Shard,
    StoreCoverage, StoreFinish, StoreHello, StoreRequest,
};
use fog_enclave_api::{serve, Enclave, EnclaveError, Refused, SharedEnclave};
use fog_oram::HeapFactory;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore};

use super::ledger::{
    binds, check_parts, decode_evidence, frame_to_wire, fresh_keys, ledger_call, os_seeded,
    public_key, serve_ledger, PeerLinks,
};
use super::view::Fuse;
use crate::ledger::{LedgerEnclave, LedgerEnclaveError, KEY_IMAGE_STORE_CHANNEL};
use crate::ledger_router::{LedgerRouter, PendingCheck};
use crate::peers::PeerChannels;
use crate::sessions::{ClientSessions, DEFAULT_SESSION_CAPACITY};

/// The default bound of the table of open checks ([`LedgerRouterConfig::max_open_checks`]):
/// well above the requests a host serves at once (`fogd`'s `--max-concurrent-requests`
/// defaults to 256), so that only a host serving far more at once, or one that leaks handles,
/// meets it. Each open check holds a client's key images (at most
/// [`crate::ledger::MAX_KEY_IMAGES_PER_REQUEST`] × 32 bytes, 128 KiB): a full table of the
/// default size holds at most 512 MiB of them.
pub const DEFAULT_MAX_OPEN_CHECKS: usize = 4096;

/// The key-image capacity of the router's own fog ledger enclave, which keeps none.
const OWN_KEY_IMAGE_CAPACITY: u64 = 64;

/// What a ledger router enclave is loaded with.
#[derive(Clone, Debug)]
pub struct LedgerRouterConfig {
    /// Live client sessions.
    pub session_capacity: usize,
    /// Client session lifetime.
    pub session_limits: SessionLimits,
    /// The key-image stores it may ask (fog ledger enclaves).
    pub stores: PeerLinks,
    /// Checks (and probes) open at once, waiting for their stores; while that many are open,
    /// a new one is refused ([`LedgerEnclaveError::Full`]). At least the requests the host
    /// serves at once (default [`DEFAULT_MAX_OPEN_CHECKS`]).
    pub max_open_checks: usize,
}

impl LedgerRouterConfig {
    /// A router asking the stores `stores` accepts, with the default session table and table
    /// of open checks.
    pub fn new(stores: PeerLinks) -> Self {
        Self {
            session_capacity: DEFAULT_SESSION_CAPACITY,
            session_limits: SessionLimits::default(),
            stores,
            max_open_checks: DEFAULT_MAX_OPEN_CHECKS,
        }
    }
}

type Router<M> = LedgerRouter<HeapFactory, M>;

/// Before the router starts: its key pairs, the evidence installed so far, its randomness.
struct Start<M> {
    client: ChannelKeypair,
    client_evidence: Option<BoundEvidence>,
    store: ChannelKeypair,
    store_evidence: Option<BoundEvidence>,
    rng: M,
}

/// The open checks, by handle (handles grow, and are never reused).
#[derive(Default)]
struct Checks {
    last: u64,
    open: BTreeMap<u64, Arc<PendingCheck>>,
}

/// A ledger router enclave behind the byte boundary (see the module docs). `M` is its own
/// enclave's randomness: [`ChaCha20Rng`] seeded inside ([`LedgerRouterBoundary::new`]) but for
/// seeded tests.
pub struct LedgerRouterBoundary<M = ChaCha20Rng> {
    config: LedgerRouterConfig,
    client_key: [u8; 32],
    store_key: [u8; 32],
    start: Mutex<Option<Start<M>>>,
    router: OnceLock<Router<M>>,
    checks: Mutex<Checks>,
    /// Blown by a panic: every call answers `Internal` from then on.
    fuse: Fuse,
}

impl<M> core::fmt::Debug for LedgerRouterBoundary<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerRouterBoundary")
            .field("started", &self.router.get().is_some())
            .finish_non_exhaustive()
    }
}

fn refuse(e: LedgerEnclaveError) -> Answer {
    Answer::Refused(e.to_refusal())
}

fn unknown_check() -> Answer {
    refuse(PeerError::UnknownChannel.into())
}

impl LedgerRouterBoundary {
    /// A router loaded with `config`: its channel keys and its randomness are made here from
    /// the platform's source (nothing the loader chooses seeds them). It starts once it holds
    /// its client and its store evidence. A table of no open check is refused
    /// ([`LedgerEnclaveError::InvalidConfig`]).
    pub fn new(config: LedgerRouterConfig) -> Result<Self, LedgerEnclaveError> {
        Self::dangerous_with_rng(config, os_seeded()?)
    }

    /// [`LedgerRouterBoundary::new`] as the shared enclave the servers take ("simulation
    /// mode": in-process); `fogd` loads it.
    pub fn simulated(config: LedgerRouterConfig) -> Result<SharedEnclave, LedgerEnclaveError> {
        Ok(Arc::new(Self::new(config)?))
    }
}

impl<M: RngCore + CryptoRng + Send + 'static> LedgerRouterBoundary<M> {
    /// [`LedgerRouterBoundary::new`] with the randomness given: for seeded tests and benchmarks
    /// only. Whoever chooses `rng` can predict the ORAM's leaf choices, which an enclave must
    /// keep from its host.
    #[doc(hidden)]
    pub fn dangerous_with_rng(
        config: LedgerRouterConfig,
        rng: M,
    ) -> Result<Self, LedgerEnclaveError> {
        if config.max_open_checks == 0 {
            return Err(LedgerEnclaveError::InvalidConfig);
        }
        let client = fresh_keys()?;
        let store = fresh_keys()?;
        Ok(Self {
            config,
            client_key: *client.public_key(),
            store_key: *store.public_key(),
            start: Mutex::new(Some(Start {
                client,
                client_evidence: None,
                store,
                store_evidence: None,
                rng,
            })),
            router: OnceLock::new(),
            checks: Mutex::new(Checks::default()),
            fuse: Fuse::default(),
        })
    }

    fn started(&self) -> Result<&Router<M>, EnclaveError> {
        self.router.get().ok_or(EnclaveError::NotInitialized)
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        Ok(match call {
            Call::Ledger(request) => Answer::Ledger(LedgerResponse {
                answer: Some(self.ledger(ledger_call(request)?)?),
            }),
            Call::GetStoreChannelKey(Empty {}) => Answer::ChannelKey(PublicKey {
                key: self.store_key.to_vec(),
            }),
            Call::SetStoreEvidence(s) => {
                let evidence = decode_evidence(&s.evidence)?;
                if !binds(&evidence, &self.store_key) {
                    return Ok(refuse(PeerError::Handshake.into()));
                }
                match self.install(None, Some(evidence))? {
                    Ok(()) => Answer::Done(Empty {}),
                    Err(e) => refuse(e),
                }
            }
            Call::StoreInitiate(Empty {}) => match self.started()?.store_links().initiate() {
                Ok((token, hello)) => Answer::StoreHello(StoreHello { token, hello }),
                Err(e) => refuse(e.into()),
            },
            Call::StoreFinish(StoreFinish { token, reply, now }) => {
                match self
                    .started()?
                    .store_links()
                    .finish(token, &reply, UnixSeconds(now))
                {
                    Ok(channel_id) => Answer::ChannelId(ChannelId { channel_id }),
                    Err(e) => refuse(e.into()),
                }
            }
            Call::StoreClose(close) => Answer::Closed(Closed {
                was_open: self.started()?.store_links().close(&close.channel_id),
            }),
            Call::OpenCheck(check) => {
                let (frame, now, view) = check_parts(check)?;
                match self.started()?.open_check(&frame, view, now) {
                    Ok(check) => self.keep(check)?,
                    Err(e) => refuse(e),
                }
            }
            Call::Probe(Empty {}) => {
                self.started()?;
                self.keep(Router::<M>::probe())?
            }
            Call::StoreRequest(StoreRequest {
                handle,
                channel_id,
                now,
            }) => {
                let router = self.started()?;
                let Some(check) = self.get(handle)? else {
                    return Ok(unknown_check());
                };
                match router.store_request(&check, &channel_id, UnixSeconds(now)) {
                    Ok(data) => Answer::StoreFrame(PeerFrame { data }),
                    Err(e) => refuse(e.into()),
                }
            }
            Call::Finish(finish) => self.finish(finish)?,
            Call::Forget(CheckHandle { handle }) => match self.take(handle)? {
                Some(_) => Answer::Done(Empty {}),
                None => unknown_check(),
            },
            Call::GetRouterStatus(Empty {}) => {
                let router = self.started()?;
                let open = self.lock_checks()?.open.len() as u64;
                Answer::Status(RouterStatus {
                    checks: router.checks(),
                    open_checks: open,
                })
            }
        })
    }

    /// A call of the router's own fog ledger enclave.
    fn ledger(&self, call: LedgerCall) -> Result<LedgerAnswer, EnclaveError> {
        match call {
            LedgerCall::GetChannelKey(Empty {}) => Ok(public_key(&self.client_key)),
            LedgerCall::SetEvidence(s) => {
                let evidence = decode_evidence(&s.evidence)?;
                if !binds(&evidence, &self.client_key) {
                    return Ok(LedgerAnswer::Refused(
                        LedgerEnclaveError::from(SessionError::Handshake).to_refusal(),
                    ));
                }
                Ok(match self.install(Some(evidence), None)? {
                    Ok(()) => LedgerAnswer::Done(Empty {}),
                    Err(e) => LedgerAnswer::Refused(e.to_refusal()),
                })
            }
            LedgerCall::GetRouterChannelKey(_)
            | LedgerCall::SetRouterEvidence(_)
            | LedgerCall::RouterAccept(_)
            | LedgerCall::RouterCheck(_) => Err(EnclaveError::Unsupported),
            call => serve_ledger(self.started()?.enclave(), call),
        }
    }

    /// Installs client or store evidence (each checked to bind its key): as a refresh once
    /// started, else kept until both are there, which starts the router.
    fn install(
        &self,
        client: Option<BoundEvidence>,
        store: Option<BoundEvidence>,
    ) -> Result<Result<(), LedgerEnclaveError>, EnclaveError> {
        let mut start = self.start.lock().map_err(|_| EnclaveError::Internal)?;
        if let Some(router) = self.router.get() {
            if let Some(e) = client {
                if let Err(e) = router.enclave().sessions().set_evidence(e) {
                    return Ok(Err(e.into()));
                }
            }
            if let Some(e) = store {
                if let Err(e) = router.store_links().set_evidence(e) {
                    return Ok(Err(e.into()));
                }
            }
            return Ok(Ok(()));
        }
        let waiting = start.as_mut().ok_or(EnclaveError::Internal)?;
        if client.is_some() {
            waiting.client_evidence = client;
        }
        if store.is_some() {
            waiting.store_evidence = store;
        }
        if waiting.client_evidence.is_none() || waiting.store_evidence.is_none() {
            return Ok(Ok(()));
        }
        let Some(Start {
            client,
            client_evidence: Some(client_evidence),
            store,
            store_evidence: Some(store_evidence),
            rng,
        }) = start.take()
        else {
            return Err(EnclaveError::Internal);
        };
        let responder =
            EnclaveResponder::new(client, client_evidence).map_err(|_| EnclaveError::Internal)?;
        let sessions = ClientSessions::new(
            responder,
            self.config.session_capacity,
            self.config.session_limits,
        );
        let enclave = LedgerEnclave::new(sessions, OWN_KEY_IMAGE_CAPACITY, HeapFactory, rng)
            .map_err(|_| EnclaveError::Internal)?;
        enclave
            .set_key_image_blocks(0, 0)
            .map_err(|_| EnclaveError::Internal)?;
        let responder =
            EnclaveResponder::new(store, store_evidence).map_err(|_| EnclaveError::Internal)?;
        let stores = PeerChannels::new(
            KEY_IMAGE_STORE_CHANNEL,
            responder,
            self.config.stores.verifier.clone(),
            self.config.stores.limits,
        );
        self.router
            .set(LedgerRouter::new(enclave, stores))
            .map_err(|_| EnclaveError::Internal)?;
        Ok(Ok(()))
    }

    fn lock_checks(&self) -> Result<std::sync::MutexGuard<'_, Checks>, EnclaveError> {
        // A poisoned table (a panic while it was held) is not trusted again.
        self.checks.lock().map_err(|_| EnclaveError::Internal)
    }

    /// Keeps an opened check: its handle, or, while the table is full, the refusal (the
    /// check is dropped, its key images wiped).
    fn keep(&self, check: PendingCheck) -> Result<Answer, EnclaveError> {
        let key_images = check.key_count() as u64;
        let mut checks = self.lock_checks()?;
        if checks.open.len() >= self.config.max_open_checks {
            return Ok(refuse(LedgerEnclaveError::Full));
        }
        checks.last = checks.last.checked_add(1).ok_or(EnclaveError::Internal)?;
        let handle = checks.last;
        checks.open.insert(handle, Arc::new(check));
        Ok(Answer::Check(OpenedCheck { handle, key_images }))
    }

    fn get(&self, handle: u64) -> Result<Option<Arc<PendingCheck>>, EnclaveError> {
        Ok(self.lock_checks()?.open.get(&handle).cloned())
    }

    fn take(&self, handle: u64) -> Result<Option<Arc<PendingCheck>>, EnclaveError> {
        Ok(self.lock_checks()?.open.remove(&handle))
    }

    fn finish(&self, finish: Finish) -> Result<Answer, EnclaveError> {
        let Finish {
            handle,
            answers,
            now,
        } = finish;
        let router = self.started()?;
        let Some(check) = self.take(handle)? else {
            return Ok(unknown_check());
        };
        // A store request still sealing on this check (the host finishing it meanwhile):
        // the check is gone, as if it were dropped.
        let Ok(check) = Arc::try_unwrap(check) else {
            return Ok(unknown_check());
        };
        let answers: Vec<Option<(&[u8], &[u8])>> = answers
            .iter()
            .map(|a| {
                a.answered
                    .then_some((a.channel_id.as_slice(), a.frame.as_slice()))
            })
            .collect();
        let routed = match router.finish(check, &answers, UnixSeconds(now)) {
            Ok(routed) => routed,
            Err(e) => return Ok(refuse(e)),
        };
        let (client_frame, client_refusal) = match routed.frame {
            Ok(frame) => (frame.map(frame_to_wire), None),
            Err(e) => (None, Some(e.to_refusal())),
        };
        Ok(Answer::Routed(Routed {
            client_frame,
            client_refusal,
            shards: routed
                .shards
                .iter()
                .map(|s| Shard {
                    coverage: s.map(|c| StoreCoverage {
                        start_block: c.blocks.start_block,
                        end_block: c.blocks.end_block,
                        processed: c.processed,
                        loaded_end: c.loaded_end,
                    }),
                })
                .collect(),
            num_blocks: routed.num_blocks,
            merged_shards: routed.merged_shards as u64,
        }))
    }
}

impl<M: RngCore + CryptoRng + Send + 'static> Enclave for LedgerRouterBoundary<M> {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<LedgerRouterApi>(request_bytes, |request| {
            let call = request.call.ok_or(EnclaveError::Malformed)?;
            Ok(LedgerRouterResponse {
                answer: Some(self.fuse.guarded(|| self.handle(call))?),
            })
        })
    }
}
