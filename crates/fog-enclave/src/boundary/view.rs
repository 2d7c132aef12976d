//! The view enclave behind the byte boundary: [`ViewBoundary`] takes the host's serialized
//! [`ViewRequest`]s, runs them on the trusted view logic ([`crate::view_enclave`]) and answers
//! serialized [`ViewResponse`]s.
//!
//! What it holds inside, and never returns: its two channel key pairs, made here at load (the
//! one client sessions prove, and the one router channels prove), the client sessions, the
//! router channels, the partition key and the partitions' ORAMs with their randomness (drawn
//! here from the platform's source). What leaves: the public channel keys, handshake answers,
//! sealed frames and public counts.
//!
//! Life: at load the enclave makes its keys and its (empty) partitions. The host asks for the
//! public keys (`GetChannelKeys`), has its provider bind evidence to each, and installs it
//! (`SetEvidence`, `SetRouterEvidence`), each checked to bind this enclave's own key. The
//! first client evidence starts the enclave: until then every other call answers
//! [`EnclaveError::NotInitialized`]. Routers are refused until the router evidence is in; an
//! enclave loaded without a peer verifier takes no router at all. The host lends threads to
//! the partition workers (`RunWorker`, which returns when the enclave stops), and `Stop`
//! destroys the enclave's state: the workers return, and every later call answers
//! `NotInitialized`.
//!
//! Failures: a request that does not decode (or names no call, or carries a field of the
//! wrong shape) is [`EnclaveError::Malformed`] and changes nothing; the trusted logic's
//! refusals ([`ViewEnclaveError`], [`LoadError`], [`ViewError`]) are answers, and change
//! nothing either (a load that fails halfway breaks the store for later loads, as the trusted
//! logic documents). No input makes it panic; a bug that would is caught at the boundary and
//! answered [`EnclaveError::Internal`], as is every later call but `Stop` (the state may be
//! half updated: the host stops the enclave and rebuilds it).
//!
//! Trust side: trusted. The host's time arrives in each call that needs it, and the trusted
//! logic never lets it run backwards.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder, PeerKey, UnixSeconds, Verifier};
use fog_enclave_api::errors::{LoadError, PeerError, SessionError, ViewEnclaveError, ViewError};
use fog_enclave_api::view::{
    view_request::Call, view_response::Answer, ChannelKeys, ChannelKeysMessage, Data, Empty,
    HostCounters, RouterAccepted, UserEvent as WireEvent, ViewEnclaveConfig, ViewRequest,
    ViewResponse, ViewStatus,
};
use fog_enclave_api::{serve, Enclave, EnclaveError, Refused, SharedEnclave, ViewApi};
use fog_oram::HeapFactory;
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, SeedableRng};

use crate::peers::PeerChannels;
use crate::view::ViewStore;
use crate::view_enclave::{self, BlockMark, UserEvent, ViewEnclave, STORE_CHANNEL};

/// The trusted view enclave a [`ViewBoundary`] runs: partitions in (simulated) enclave memory.
pub type TrustedView = ViewEnclave<HeapFactory, ChaCha20Rng>;

type Store = ViewStore<HeapFactory, ChaCha20Rng>;

/// What waits for the evidence that starts the enclave (or its router channels).
struct Setup {
    /// The client channel keys, until the first client evidence.
    client: Option<ChannelKeypair>,
    /// The router channel keys and the verifier of routers, until the first router evidence.
    routers: Option<(ChannelKeypair, Verifier)>,
    /// Router channels made before the enclave started.
    link: Option<PeerChannels>,
    /// The partitions, until the enclave starts.
    parts: Option<Vec<Store>>,
    /// `Stop` was called.
    stopped: bool,
}

/// The view enclave behind the byte boundary (see the module documentation).
pub struct ViewBoundary {
    config: ViewEnclaveConfig,
    keys: ChannelKeys,
    setup: Mutex<Setup>,
    /// The running enclave: `None` before the first client evidence and after `Stop`.
    enclave: RwLock<Option<Arc<TrustedView>>>,
    /// Whether routers can open channels.
    takes_routers: AtomicBool,
    /// Blown by a panic: every call but `Stop` answers `Internal` from then on.
    fuse: Fuse,
}

impl core::fmt::Debug for ViewBoundary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewBoundary")
            .field("partitions", &self.config.partitions)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// A ChaCha20 generator seeded inside from the platform's source.
fn fresh_rng() -> Result<ChaCha20Rng, EnclaveError> {
    ChaCha20Rng::from_rng(OsRng).map_err(|_| EnclaveError::Provider)
}

/// A fresh channel key pair.
pub(crate) fn fresh_keys() -> Result<ChannelKeypair, EnclaveError> {
    ChannelKeypair::generate().map_err(|_| EnclaveError::Provider)
}

/// Whether `evidence` binds `keys`' public key (what [`EnclaveResponder::new`] checks, so a
/// key pair is handed over only when it will be taken).
pub(crate) fn binds(evidence: &BoundEvidence, keys: &ChannelKeypair) -> bool {
    evidence.channel_key == *keys.public_key()
        && evidence.evidence.report_data().ok() == Some(evidence.expected_report_data())
}

/// Evidence bytes from the host (`attest.BoundEvidence`).
pub(crate) fn decode_evidence(bytes: &[u8]) -> Result<BoundEvidence, EnclaveError> {
    BoundEvidence::decode(bytes).map_err(|_| EnclaveError::Malformed)
}

/// The answer for a trusted call's outcome: `ok`'s answer, or the refusal.
pub(crate) fn answer<T, E: Refused, A>(
    outcome: Result<T, E>,
    ok: impl FnOnce(T) -> A,
    refused: impl FnOnce(fog_enclave_api::Refusal) -> A,
) -> A {
    match outcome {
        Ok(t) => ok(t),
        Err(e) => refused(e.to_refusal()),
    }
}

fn reply<T, E: Refused>(outcome: Result<T, E>, ok: impl FnOnce(T) -> Answer) -> Answer {
    answer(outcome, ok, Answer::Refused)
}

fn done<E: Refused>(outcome: Result<(), E>) -> Answer {
    reply(outcome, |()| Answer::Done(Empty {}))
}

/// The host's name for a client: its address (4 or 16 bytes), or none.
pub(crate) fn peer_key(bytes: &[u8]) -> Result<PeerKey, EnclaveError> {
    match bytes.len() {
        0 => Ok(PeerKey::UNKNOWN),
        4 => {
            let octets: [u8; 4] = bytes.try_into().map_err(|_| EnclaveError::Malformed)?;
            Ok(PeerKey::from_ip(std::net::IpAddr::from(octets)))
        }
        16 => {
            let octets: [u8; 16] = bytes.try_into().map_err(|_| EnclaveError::Malformed)?;
            Ok(PeerKey::from_ip(std::net::IpAddr::from(octets)))
        }
        _ => Err(EnclaveError::Malformed),
    }
}

fn counters(host: Option<HostCounters>) -> view_enclave::HostCounters {
    let host = host.unwrap_or_default();
    view_enclave::HostCounters {
        last_known_block_count: host.last_known_block_count,
        last_known_block_cumulative_txo_count: host.last_known_block_cumulative_txo_count,
    }
}

fn event(e: WireEvent) -> UserEvent {
    match e {
        WireEvent::NewRng(r) => UserEvent::NewRng(r),
        WireEvent::Decommission(d) => UserEvent::Decommission(d),
        WireEvent::Missing(m) => UserEvent::Missing(m),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What keeps a panic from crossing the boundary, and the enclave from serving after one.
///
/// No input should make the trusted logic panic; a bug that does may leave its state half
/// updated (a lock poisoned, a batch half stored), so a caught panic blows the fuse: that call
/// and every later one answer [`EnclaveError::Internal`], and the host rebuilds the enclave.
#[derive(Debug, Default)]
pub(crate) struct Fuse(AtomicBool);

impl Fuse {
    /// Runs `f`, unless an earlier call panicked; a panic of `f` answers
    /// [`EnclaveError::Internal`] and blows the fuse.
    pub(crate) fn guarded<T>(
        &self,
        f: impl FnOnce() -> Result<T, EnclaveError>,
    ) -> Result<T, EnclaveError> {
        if self.0.load(Ordering::Acquire) {
            return Err(EnclaveError::Internal);
        }
        self.catching(f)
    }

    /// Runs `f` even after a panic (for calls that only destroy state), catching its own.
    pub(crate) fn catching<T>(
        &self,
        f: impl FnOnce() -> Result<T, EnclaveError>,
    ) -> Result<T, EnclaveError> {
        // Unwind safety: after a panic nothing `f` touched is used again, but by a call that
        // only destroys it.
        std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            self.0.store(true, Ordering::Release);
            Err(EnclaveError::Internal)
        })
    }
}

impl ViewBoundary {
    /// A view enclave as the loader makes it: `config`'s partitions (empty), its channel key
    /// pairs, and, when `routers` is given, channels for the view routers it accepts (their
    /// evidence checked by `routers`). Randomness is drawn inside.
    pub fn new(
        config: &ViewEnclaveConfig,
        routers: Option<Verifier>,
    ) -> Result<Self, ViewEnclaveError> {
        if config.partitions == 0
            || config.partitions > 256
            || config.blocks.start_block >= config.blocks.end_block
        {
            return Err(ViewError::InvalidConfig.into());
        }
        let client = fresh_keys()?;
        let routers = match routers {
            Some(v) => Some((fresh_keys()?, v)),
            None => None,
        };
        let parts = (0..config.partitions)
            .map(|_| {
                ViewStore::new(config.capacity_per_partition, HeapFactory, fresh_rng()?)
                    .map_err(ViewEnclaveError::from)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = ChannelKeys {
            client: *client.public_key(),
            peers: routers.as_ref().map(|(k, _)| *k.public_key()),
        };
        Ok(Self {
            config: *config,
            keys,
            setup: Mutex::new(Setup {
                client: Some(client),
                routers,
                link: None,
                parts: Some(parts),
                stopped: false,
            }),
            enclave: RwLock::new(None),
            takes_routers: AtomicBool::new(false),
            fuse: Fuse::default(),
        })
    }

    /// [`ViewBoundary::new`] as the shared enclave the servers take ("simulation mode":
    /// in-process).
    pub fn simulated(
        config: &ViewEnclaveConfig,
        routers: Option<Verifier>,
    ) -> Result<SharedEnclave, ViewEnclaveError> {
        Ok(Arc::new(Self::new(config, routers)?))
    }

    fn setup(&self) -> Result<MutexGuard<'_, Setup>, EnclaveError> {
        // A panic while setting up may have left it half done: refuse from then on.
        let setup = self.setup.lock().map_err(|_| EnclaveError::Internal)?;
        if setup.stopped {
            return Err(EnclaveError::NotInitialized);
        }
        Ok(setup)
    }

    /// The running enclave, if it runs.
    fn current(&self) -> Option<Arc<TrustedView>> {
        self.enclave
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn running(&self) -> Result<Arc<TrustedView>, EnclaveError> {
        self.current().ok_or(EnclaveError::NotInitialized)
    }

    fn set_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let evidence = decode_evidence(bytes)?;
        let mut setup = self.setup()?;
        if let Some(enclave) = self.current() {
            return Ok(done(
                enclave
                    .sessions()
                    .set_evidence(evidence)
                    .map_err(ViewEnclaveError::from),
            ));
        }
        let keys = setup.client.take().ok_or(EnclaveError::Internal)?;
        if !binds(&evidence, &keys) {
            setup.client = Some(keys);
            return Ok(done::<ViewEnclaveError>(
                Err(SessionError::Handshake.into()),
            ));
        }
        let mut rng = match fresh_rng() {
            Ok(rng) => rng,
            Err(e) => {
                setup.client = Some(keys);
                return Err(e);
            }
        };
        // Checked by `binds`: the key pair is taken.
        let responder =
            EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
        let parts = setup.parts.take().ok_or(EnclaveError::Internal)?;
        let enclave = ViewEnclave::new(
            responder,
            self.config.session_capacity,
            self.config.session_limits,
            parts,
            &mut rng,
        )
        .map_err(|_| EnclaveError::Internal)?;
        let blocks = self.config.blocks;
        if blocks != fog_types::view::ALL_BLOCKS {
            enclave
                .set_blocks(blocks.start_block, blocks.end_block)
                .map_err(|_| EnclaveError::Internal)?;
        }
        if let Some(link) = setup.link.take() {
            enclave.set_router_link(link);
        }
        *self.enclave.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(enclave));
        Ok(Answer::Done(Empty {}))
    }

    fn set_router_evidence(&self, bytes: &[u8]) -> Result<Answer, EnclaveError> {
        let evidence = decode_evidence(bytes)?;
        let mut setup = self.setup()?;
        let refuse = |e: PeerError| done::<ViewEnclaveError>(Err(e.into()));
        if self.takes_routers.load(Ordering::Acquire) {
            let outcome = match (self.current(), setup.link.as_mut()) {
                (Some(enclave), _) => enclave.set_router_evidence(evidence),
                (None, Some(link)) => link.set_evidence(evidence),
                (None, None) => return Err(EnclaveError::Internal),
            };
            return Ok(done(outcome.map_err(ViewEnclaveError::from)));
        }
        let Some((keys, verifier)) = setup.routers.take() else {
            // Loaded without a verifier of routers: there is no router channel to attest.
            return Ok(refuse(PeerError::UnknownChannel));
        };
        if !binds(&evidence, &keys) {
            setup.routers = Some((keys, verifier));
            return Ok(refuse(PeerError::Handshake));
        }
        let responder =
            EnclaveResponder::new(keys, evidence).map_err(|_| EnclaveError::Internal)?;
        let link = PeerChannels::new(
            STORE_CHANNEL,
            responder,
            verifier,
            self.config.store_session_limits,
        );
        match self.current() {
            Some(enclave) => enclave.set_router_link(link),
            None => setup.link = Some(link),
        }
        self.takes_routers.store(true, Ordering::Release);
        Ok(Answer::Done(Empty {}))
    }

    /// Destroys the state, even after a panic (the lent threads return, and the enclave can
    /// be dropped).
    fn stop(&self) -> Result<Answer, EnclaveError> {
        let mut setup = self.setup.lock().unwrap_or_else(PoisonError::into_inner);
        setup.stopped = true;
        setup.client = None;
        setup.routers = None;
        setup.link = None;
        setup.parts = None;
        let enclave = self
            .enclave
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(setup);
        // The workers hold the enclave only between jobs: once the calls in flight end, it is
        // dropped and every lent thread returns.
        drop(enclave);
        Ok(Answer::Done(Empty {}))
    }

    fn status(&self) -> Result<Answer, EnclaveError> {
        let e = self.running()?;
        let (processed, user_events) = e.loaded();
        Ok(Answer::Status(ViewStatus {
            processed,
            user_events,
            records: e.len(),
            capacity: e.capacity(),
            partitions: count(e.partitions()),
            padded_keys: e.padded_keys_answered(),
            worker_partitions: count(e.worker_partitions()),
            workers_ready: e.workers_ready(),
            worker_jobs: e.worker_jobs().unwrap_or(0),
            blocks: Some(e.blocks()),
            sessions: e.sessions().len() as u64,
            takes_routers: self.takes_routers.load(Ordering::Acquire),
        }))
    }

    fn handle(&self, call: Call) -> Result<Answer, EnclaveError> {
        Ok(match call {
            Call::GetChannelKeys(Empty {}) => {
                // Refused once stopped, like every call.
                drop(self.setup()?);
                Answer::ChannelKeys(ChannelKeysMessage {
                    client: self.keys.client.to_vec(),
                    peers: self.keys.peers.map(|k| k.to_vec()).unwrap_or_default(),
                })
            }
            Call::SetEvidence(e) => return self.set_evidence(&e.evidence),
            Call::SetRouterEvidence(e) => return self.set_router_evidence(&e.evidence),
            Call::Auth(a) => {
                let peer = peer_key(&a.peer)?;
                let outcome = self.running()?.auth(&a.hello, peer, UnixSeconds(a.now));
                reply(outcome, |data| Answer::Data(Data { data }))
            }
            Call::Query(q) => {
                let frame = q.frame.ok_or(EnclaveError::Malformed)?;
                let outcome = self
                    .running()?
                    .query(&frame, counters(q.host), UnixSeconds(q.now));
                reply(outcome, Answer::Frame)
            }
            Call::AddUserEvents(a) => {
                let events = a
                    .events
                    .into_iter()
                    .map(|m| m.event.map(event))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(EnclaveError::Malformed)?;
                done::<LoadError>(self.running()?.add_user_events(&events))
            }
            Call::LoadBlocks(l) => {
                let marks: Vec<BlockMark> = l
                    .marks
                    .iter()
                    .map(|m| BlockMark {
                        invocation: m.invocation,
                        block_index: m.block_index,
                        timestamp: m.timestamp,
                    })
                    .collect();
                done::<LoadError>(self.running()?.load_blocks(&marks, &l.records))
            }
            Call::AddRecords(a) => {
                let enclave = self.running()?;
                done::<ViewError>(if a.parallel {
                    enclave.load_records(&a.records)
                } else {
                    enclave.add_records(&a.records)
                })
            }
            Call::SetKnownBlocks(k) => {
                self.running()?.set_known_blocks(k.blocks);
                Answer::Done(Empty {})
            }
            Call::GetStatus(Empty {}) => return self.status(),
            Call::RouterAccept(r) => {
                let outcome = self.running()?.router_accept(&r.hello, UnixSeconds(r.now));
                reply(outcome, |(channel_id, reply)| {
                    Answer::RouterAccepted(RouterAccepted { channel_id, reply })
                })
            }
            Call::RouterQuery(r) => {
                let outcome = self.running()?.router_query(
                    &r.channel_id,
                    &r.frame,
                    counters(r.host),
                    UnixSeconds(r.now),
                );
                reply(outcome, |data| Answer::Data(Data { data }))
            }
            Call::RunWorker(w) => {
                let partition =
                    usize::try_from(w.partition).map_err(|_| EnclaveError::Malformed)?;
                // The worker keeps only a weak reference: `Stop` (or the boundary's drop) ends
                // it.
                done::<ViewError>(self.running()?.run_worker(partition))
            }
            Call::Stop(Empty {}) => return self.stop(),
        })
    }
}

impl Enclave for ViewBoundary {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<ViewApi>(request_bytes, |request: ViewRequest| {
            let answer = match request.call.ok_or(EnclaveError::Malformed)? {
                // Honoured after a panic too: the host stops a failed enclave to rebuild it.
                Call::Stop(Empty {}) => self.fuse.catching(|| self.stop()),
                call => self.fuse.guarded(|| self.handle(call)),
            }?;
            Ok(ViewResponse {
                answer: Some(answer),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_blows_the_fuse_for_every_later_call_but_a_catching_one() {
        let fuse = Fuse::default();
        assert_eq!(fuse.guarded(|| Ok(1)), Ok(1));
        assert_eq!(
            fuse.guarded(|| Err::<u8, _>(EnclaveError::Malformed)),
            Err(EnclaveError::Malformed),
            "a refusal is no panic"
        );
        assert_eq!(
            fuse.guarded(|| -> Result<u8, EnclaveError> { panic!("a bug") }),
            Err(EnclaveError::Internal)
        );
        let mut ran = false;
        assert_eq!(
            fuse.guarded(|| {
                ran = true;
                Ok(2)
            }),
            Err(EnclaveError::Internal)
        );
        assert!(
            !ran,
            "nothing runs on state a panic may have left half updated"
        );
        assert_eq!(
            fuse.catching(|| Ok(3)),
            Ok(3),
            "what only destroys state runs"
        );
    }
}
