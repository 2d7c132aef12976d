//! The ingest enclave behind the byte boundary: [`IngestBoundary`] takes the host's
//! serialized [`IngestRequest`]s, runs them on the trusted ingest logic
//! ([`crate::ingest::IngestEnclave`]) and its attested peer channels
//! ([`crate::ingest_peers`]), and answers serialized [`IngestResponse`]s.
//!
//! What it holds inside, and never returns: the ingress private key (made by `Create`, opened
//! from sealed bytes by `Restore`, replaced by `NewIngressKey` or a peer's frame), the egress
//! key and RNG store, the sealing-key provider it was loaded with, and its channel key pair,
//! made here at load. What leaves: public keys, the ingress key sealed for this platform
//! (`Create`, `Seal`) or in a frame of an attested peer channel (`SendIngressKey`), handshake
//! messages and encrypted records. Nothing that counts recipients: `GetMapLoad` answers the
//! RNG store's load in steps of 10 %, computed here
//! ([`fog_enclave_api::ingest::coarse_load_percent`]), never the exact entry count (which
//! grows by one per output to a new recipient, so read after every block it would tell the
//! host how many went to new recipients); `IngestBlock` answers one record per TxOut and the
//! new egress key when the enclave rotated, which is public anyway (a new ingest invocation).
//!
//! Attestation: the host asks for the public channel key (`GetChannelKey`), has its provider
//! bind evidence to it, and installs that evidence (`SetEvidence`), which is checked to bind
//! this enclave's own key. Until then the peer channel refuses every call
//! ([`EnclaveError::NotInitialized`]); an enclave loaded without a peer verifier takes no peer
//! call at all ([`EnclaveError::Unsupported`]).
//!
//! Failures: a request that does not decode is [`EnclaveError::Malformed`], a call before
//! `Create`/`Restore` is [`EnclaveError::NotInitialized`], and both change nothing; the
//! trusted logic's refusals ([`IngestError`], [`PeerError`]) are answers, and nothing changes
//! on a refusal either, with one exception: an `IngestBlock` refused after the enclave
//! rotated (`BlockTooBig` once a block still hit `MapFull` after its retries, `Storage` after
//! a rotation) keeps the new egress key and empty RNG store, and the refusal does not name
//! the key: the host reads it again (`GetKexRngPubkey`) after any refused block. After a
//! storage failure of the RNG store the enclave must be restarted. No input makes it panic.
//!
//! Threads: the host lends the enclave threads for its per-TxOut public-key work with
//! `RunWorker`, a call that returns only after `StopWorkers` ([`crate::workers`]); they serve
//! every enclave `Create` or `Restore` makes and never take the lock the other calls share.
//! `StopWorkers` is honoured after a caught panic too, so the host can always get its threads
//! back.
//!
//! Trust side: trusted. The host's time arrives in each peer call and only bounds how long a
//! channel lives (the peer channels never let it run backwards).

use alloc::{boxed::Box, sync::Arc, vec::Vec};
use std::sync::Mutex;

use fog_attest::{BoundEvidence, ChannelKeypair, EnclaveResponder, SessionLimits, UnixSeconds};
use fog_enclave_api::errors::{IngestError, PeerError};
use fog_enclave_api::ingest::{
    coarse_load_percent, ingest_request::Call, ingest_response::Answer, Closed, Created, Empty,
    Frame, IngestRequest, IngestResponse, Ingested, MapLoad, PeerAccepted, PeerChannel, PeerHello,
    PublicKey, Sealed, Workers,
};
use fog_enclave_api::{serve, Enclave, EnclaveError, IngestApi, Refused};
use fog_oram::HeapFactory;
use fog_transaction::TxOut;
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};
use zeroize::Zeroize;

use crate::ingest::IngestEnclave;
use crate::ingest_peers::{IngestPeers, INGRESS_KEY};
use crate::sealing::SealingKeyProvider;
use crate::workers::WorkerPool;

/// How long a channel between ingest peers lives: an hour, and a minute without a frame (a
/// channel carries one key and is closed).
pub const PEER_SESSION_LIMITS: SessionLimits = SessionLimits {
    max_age_secs: 3600,
    idle_secs: 60,
};

type MakeMap = Box<dyn FnMut() -> (HeapFactory, ChaCha20Rng) + Send>;
type Trusted = IngestEnclave<HeapFactory, ChaCha20Rng, ChaCha20Rng, MakeMap>;

/// The ingest enclave behind the byte boundary (see the module documentation).
pub struct IngestBoundary {
    sealing: SealingKeyProvider,
    /// The threads the host lends (`RunWorker`), shared by every enclave `Create` or
    /// `Restore` makes; held outside the state's lock, which a lent thread never takes.
    workers: Arc<WorkerPool>,
    state: Mutex<State>,
    /// Keeps a panic from crossing the boundary, and the enclave from serving after one.
    fuse: super::view::Fuse,
}

struct State {
    /// `None` until `Create` or `Restore`.
    enclave: Option<Trusted>,
    channel: Channel,
}

/// The enclave's channel key, through its life.
enum Channel {
    /// No evidence yet (or no peers at all: `verifier` is `None`).
    Unattested {
        keypair: ChannelKeypair,
        verifier: Option<fog_attest::Verifier>,
    },
    /// Evidence installed: the peer channels.
    Attested(Box<IngestPeers>),
    /// The key pair was lost in a transition that cannot fail; every peer call is
    /// [`EnclaveError::Internal`].
    Broken,
}

impl core::fmt::Debug for IngestBoundary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IngestBoundary")
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

/// A refusal as an answer.
fn refusal(e: impl Refused) -> Answer {
    Answer::Refused(e.to_refusal())
}

/// Which refusals are really a call that did not go through.
trait BoundaryOf: Copy {
    fn boundary(self) -> Option<EnclaveError>;
}

impl BoundaryOf for IngestError {
    fn boundary(self) -> Option<EnclaveError> {
        match self {
            IngestError::Boundary(e) => Some(e),
            _ => None,
        }
    }
}

impl BoundaryOf for PeerError {
    fn boundary(self) -> Option<EnclaveError> {
        match self {
            PeerError::Boundary(e) => Some(e),
            _ => None,
        }
    }
}

/// The answer of a trusted call: its value, or its refusal; a `Boundary` error (which the
/// trusted code never returns) as the call's error.
fn reply<T, E: Refused + BoundaryOf>(
    result: Result<T, E>,
    ok: impl FnOnce(T) -> Answer,
) -> Result<Answer, EnclaveError> {
    match result {
        Ok(t) => Ok(ok(t)),
        Err(e) => match e.boundary() {
            Some(boundary) => Err(boundary),
            None => Ok(refusal(e)),
        },
    }
}

fn public(key: &fog_crypto::RistrettoPublic) -> PublicKey {
    PublicKey {
        key: key.to_bytes().to_vec(),
    }
}

/// A ChaCha20 generator seeded inside from the platform's randomness (the OS's in
/// simulation, the CPU's in a TEE).
fn fresh_rng() -> Result<ChaCha20Rng, EnclaveError> {
    ChaCha20Rng::from_rng(OsRng).map_err(|_| EnclaveError::Provider)
}

/// The randomness of one trusted enclave: its own generator, and the maker of each RNG
/// store's generator (at start and at every rotation), seeded from a generator of its own.
fn randomness() -> Result<(ChaCha20Rng, MakeMap), EnclaveError> {
    let rng = fresh_rng()?;
    let mut seeder = fresh_rng()?;
    let make: MakeMap = Box::new(move || {
        let mut seed = [0u8; 32];
        seeder.fill_bytes(&mut seed);
        let rng = ChaCha20Rng::from_seed(seed);
        seed.zeroize();
        (HeapFactory, rng)
    });
    Ok((rng, make))
}

impl IngestBoundary {
    /// An ingest enclave as a loader starts it: with the platform's sealing-key provider and
    /// the verifier of the peer enclaves it may share its ingress key with (`None`: none). It
    /// makes its channel key pair here, and its randomness from the platform's; it holds no
    /// ingress key until `Create` or `Restore`. Fails only if no channel key can be made.
    pub fn new(
        sealing: SealingKeyProvider,
        peers: Option<fog_attest::Verifier>,
    ) -> Result<Self, fog_attest::Error> {
        let keypair = ChannelKeypair::generate()?;
        Ok(Self {
            sealing,
            workers: WorkerPool::new(),
            state: Mutex::new(State {
                enclave: None,
                channel: Channel::Unattested {
                    keypair,
                    verifier: peers,
                },
            }),
            fuse: super::view::Fuse::default(),
        })
    }

    /// [`Self::new`], shared: what the servers are given.
    pub fn simulated(
        sealing: SealingKeyProvider,
        peers: Option<fog_attest::Verifier>,
    ) -> Result<fog_enclave_api::SharedEnclave, fog_attest::Error> {
        Ok(alloc::sync::Arc::new(Self::new(sealing, peers)?))
    }

    fn handle(&self, state: &mut State, call: Call) -> Result<Answer, EnclaveError> {
        match call {
            Call::Create(c) => {
                let (rng, make_map) = randomness()?;
                reply(
                    Trusted::create(&self.sealing, c.user_capacity, rng, make_map),
                    |(mut enclave, sealed)| {
                        let ingress_public_key = enclave.ingress_public_key().to_bytes().to_vec();
                        enclave.set_workers(self.workers.clone());
                        state.enclave = Some(enclave);
                        Answer::Created(Created {
                            ingress_public_key,
                            sealed,
                        })
                    },
                )
            }
            Call::Restore(r) => {
                let (rng, make_map) = randomness()?;
                reply(
                    Trusted::restore(&self.sealing, &r.sealed, r.user_capacity, rng, make_map),
                    |mut enclave| {
                        let key = public(&enclave.ingress_public_key());
                        enclave.set_workers(self.workers.clone());
                        state.enclave = Some(enclave);
                        Answer::IngressPublicKey(key)
                    },
                )
            }
            Call::GetIngressPublicKey(Empty {}) => {
                let enclave = created(state)?;
                Ok(Answer::IngressPublicKey(public(
                    &enclave.ingress_public_key(),
                )))
            }
            Call::GetKexRngPubkey(Empty {}) => {
                Ok(Answer::KexRngPubkey(created(state)?.kex_rng_pubkey()))
            }
            Call::GetMapLoad(Empty {}) => {
                let enclave = created(state)?;
                // The exact count stays here: only its coarse step crosses.
                let percent = coarse_load_percent(enclave.map_len(), enclave.map_capacity());
                Ok(Answer::MapLoad(MapLoad {
                    capacity: enclave.map_capacity(),
                    load_percent: u32::from(percent),
                }))
            }
            Call::Rotate(Empty {}) => reply(created(state)?.rotate(), Answer::KexRngPubkey),
            Call::IngestBlock(b) => {
                let enclave = created(state)?;
                let tx_outs: Result<Vec<TxOut>, _> =
                    b.tx_outs.iter().map(TxOut::try_from_wire).collect();
                let Ok(tx_outs) = tx_outs else {
                    return Ok(refusal(IngestError::InvalidBlockData));
                };
                reply(
                    enclave.ingest_block(
                        b.block_index,
                        b.first_global_index,
                        b.timestamp,
                        &tx_outs,
                    ),
                    |out| {
                        Answer::Ingested(Ingested {
                            records: out.records,
                            rotated_to: out.rotated_to,
                        })
                    },
                )
            }
            Call::NewIngressKey(Empty {}) => {
                let key = created(state)?.new_ingress_key();
                Ok(Answer::IngressPublicKey(public(&key)))
            }
            Call::Seal(Empty {}) => {
                let data = created(state)?.seal_ingress_key(&self.sealing);
                Ok(Answer::Sealed(Sealed { data }))
            }
            Call::GetChannelKey(Empty {}) => {
                let key = match &state.channel {
                    Channel::Unattested { keypair, .. } => *keypair.public_key(),
                    Channel::Attested(peers) => peers.channel_key(),
                    Channel::Broken => return Err(EnclaveError::Internal),
                };
                Ok(Answer::ChannelKey(PublicKey { key: key.to_vec() }))
            }
            Call::SetEvidence(s) => {
                let evidence =
                    BoundEvidence::decode(&s.evidence).map_err(|_| EnclaveError::Malformed)?;
                set_evidence(&mut state.channel, evidence)
            }
            Call::PeerInitiate(Empty {}) => reply(peers(state)?.initiate(), |(token, message)| {
                Answer::PeerHello(PeerHello { token, message })
            }),
            Call::PeerFinish(f) => reply(
                peers(state)?.finish(f.token, &f.message, UnixSeconds(f.now)),
                |channel_id| Answer::PeerChannel(PeerChannel { channel_id, now: 0 }),
            ),
            Call::PeerAccept(a) => reply(
                peers(state)?.accept(&a.message, UnixSeconds(a.now)),
                |(channel_id, message)| {
                    Answer::PeerAccepted(PeerAccepted {
                        channel_id,
                        message,
                    })
                },
            ),
            Call::PeerClose(c) => {
                let was_open = peers(state)?.close(&c.channel_id);
                Ok(Answer::Closed(Closed { was_open }))
            }
            Call::SendIngressKey(c) => {
                let State { enclave, channel } = state;
                let enclave = enclave.as_ref().ok_or(EnclaveError::NotInitialized)?;
                let peers = attested(channel)?;
                reply(
                    enclave.send_ingress_key(peers, &c.channel_id, UnixSeconds(c.now)),
                    |data| Answer::Frame(Frame { data }),
                )
            }
            Call::ReceiveIngressKey(f) => {
                let State { enclave, channel } = state;
                let enclave = enclave.as_mut().ok_or(EnclaveError::NotInitialized)?;
                let peers = attested(channel)?;
                reply(
                    enclave.receive_ingress_key(peers, &f.channel_id, &f.frame, UnixSeconds(f.now)),
                    |key| Answer::IngressPublicKey(public(&key)),
                )
            }
            // Answered in `Enclave::call`, before the state's lock is taken.
            Call::RunWorker(_) | Call::StopWorkers(_) | Call::GetWorkers(_) => {
                Err(EnclaveError::Internal)
            }
        }
    }
}

/// The trusted enclave, once `Create` or `Restore` made it.
fn created(state: &mut State) -> Result<&mut Trusted, EnclaveError> {
    state.enclave.as_mut().ok_or(EnclaveError::NotInitialized)
}

/// The peer channels, once evidence is installed.
fn peers(state: &mut State) -> Result<&mut IngestPeers, EnclaveError> {
    attested(&mut state.channel)
}

fn attested(channel: &mut Channel) -> Result<&mut IngestPeers, EnclaveError> {
    match channel {
        Channel::Attested(peers) => Ok(peers),
        Channel::Unattested { verifier: None, .. } => Err(EnclaveError::Unsupported),
        Channel::Unattested { .. } => Err(EnclaveError::NotInitialized),
        Channel::Broken => Err(EnclaveError::Internal),
    }
}

/// Whether `evidence` binds `key`: its channel key is `key` and its report data is the one
/// its keys make (the check [`EnclaveResponder::new`] makes, done first so that a refused
/// evidence leaves the key pair in place).
fn binds(evidence: &BoundEvidence, key: &[u8; 32]) -> bool {
    evidence.channel_key == *key
        && evidence.evidence.report_data().ok() == Some(evidence.expected_report_data())
}

/// `SetEvidence`: the first evidence makes the peer channels, a later one refreshes them.
fn set_evidence(channel: &mut Channel, evidence: BoundEvidence) -> Result<Answer, EnclaveError> {
    match channel {
        Channel::Attested(peers) => {
            reply(peers.set_evidence(evidence), |()| Answer::Done(Empty {}))
        }
        Channel::Broken => Err(EnclaveError::Internal),
        Channel::Unattested { verifier: None, .. } => Err(EnclaveError::Unsupported),
        Channel::Unattested { keypair, .. } => {
            if !binds(&evidence, keypair.public_key()) {
                return Ok(refusal(PeerError::Handshake));
            }
            let Channel::Unattested {
                keypair,
                verifier: Some(verifier),
            } = core::mem::replace(channel, Channel::Broken)
            else {
                return Err(EnclaveError::Internal);
            };
            let responder =
                EnclaveResponder::new(keypair, evidence).map_err(|_| EnclaveError::Internal)?;
            *channel = Channel::Attested(Box::new(IngestPeers::new(
                INGRESS_KEY,
                responder,
                verifier,
                PEER_SESSION_LIMITS,
            )));
            Ok(Answer::Done(Empty {}))
        }
    }
}

impl Enclave for IngestBoundary {
    fn call(&self, request_bytes: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        serve::<IngestApi>(request_bytes, |request: IngestRequest| {
            let answer = match request.call.ok_or(EnclaveError::Malformed)? {
                // Honoured after a panic too: it only sends the lent threads home.
                Call::StopWorkers(Empty {}) => self.fuse.catching(|| {
                    self.workers.stop();
                    Ok(Answer::Done(Empty {}))
                }),
                // The other worker calls never take the state's lock: a lent thread stays
                // inside `RunWorker` while blocks are ingested.
                Call::RunWorker(Empty {}) => self.fuse.guarded(|| {
                    self.workers.run_worker();
                    Ok(Answer::Done(Empty {}))
                }),
                Call::GetWorkers(Empty {}) => self.fuse.guarded(|| {
                    Ok(Answer::Workers(Workers {
                        lent: u32::try_from(self.workers.workers()).unwrap_or(u32::MAX),
                        tasks: self.workers.worker_tasks(),
                        stopped: self.workers.is_stopped(),
                    }))
                }),
                call => self.fuse.guarded(|| {
                    let mut state = self.state.lock().map_err(|_| EnclaveError::Internal)?;
                    self.handle(&mut state, call)
                }),
            }?;
            Ok(IngestResponse {
                answer: Some(answer),
            })
        })
    }
}
