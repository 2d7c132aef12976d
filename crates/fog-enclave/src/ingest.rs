//! The ingest enclave: turns each block's TxOuts into records only their recipients can find.
//!
//! For every TxOut, in constant time and with the same ORAM accesses whatever the hint:
//! 1. `V` := a fresh random valid point; the fog hint is decrypted with the ingress key and,
//!    only if it is valid (tag and magic bytes), `V` becomes the recipient's view public key.
//!    A hint whose decrypted key is not a valid point leaves the random `V` too.
//! 2. `ss = egress_private · V`; the recipient's RNG counter sits in the oblivious map under
//!    `ss` with byte 0 inverted (created at 0 on first sight); one `upsert` reads it, takes
//!    `search_key = KexRng PRF(ss, counter)` and writes `counter + 1`.
//! 3. The `TxOutRecord` is encrypted with the crypto box to `V`.
//!
//! So every TxOut yields exactly one record; a bad or foreign hint yields a record encrypted
//! to a random point under a search key nobody can derive. Which TxOuts were valid, and which
//! recipients were new or known, is not visible in the work done or the memory touched.
//!
//! Keys: the ingress key (fog hints are encrypted to it; it is the attested identity) is made
//! inside and leaves only sealed to the platform ([`IngestEnclave::seal_ingress_key`], through
//! its [`SealingKeyProvider`]) or to an attested peer enclave in a channel frame
//! ([`IngestEnclave::send_ingress_key`]); it is unsealed inside too ([`IngestEnclave::restore`]).
//! No function of the enclave's interface takes or returns an ingress private key, so the host
//! holds one only in sealed form. The egress key is made inside, never leaves, and is replaced
//! on rotation, with the old scalar zeroized: that is the forward secrecy of the RNG state.
//! Rotation also clears the map, and happens before a block that could overflow it.
//!
//! Trust side: trusted. No I/O, no clock, no logging; randomness comes from the RNG the
//! enclave is built with (the platform's hardware RNG in a real enclave).
//!
//! One timing exception, visible only to the sender who made it: a hint that authenticates
//! but whose key bytes are not a valid point makes the point decoding take another path
//! (curve25519-dalek returns early for a non-canonical encoding, and its result is an
//! `Option`). Only someone who can encrypt to the ingress key and chose those bytes learns
//! anything from it; an honest sender's hint, valid or fake, never takes that path.
//!
//! Cost per TxOut (`fog-bench ingest-breakdown` measures each step): three variable-base
//! scalar multiplications (hint decryption, egress key exchange, the record's crypto box),
//! one fixed-base multiplication (the box's ephemeral key), two Elligator maps (the random
//! point), two point decodings and four encodings (batched: a chunk's encodings share one
//! field inversion), two HKDF-BLAKE2b and two short AES-GCM operations, one oblivious-map
//! `upsert` and one BLAKE2b PRF.
//!
//! Threads: everything but the `upsert` is public-key work on one TxOut's own data, so a
//! block's TxOuts are split into chunks of [`CHUNK`] (a public count) and each chunk's
//! steps 1 and 3 run as tasks on the threads the host lends ([`IngestEnclave::workers`],
//! [`crate::workers`]), while the calling thread runs the step-2 `upsert`s one after the other
//! in the block's order, and helps with the tasks when it waits. The map sees exactly the
//! accesses it would see with no thread, and the records come out in the block's order, byte
//! for byte the same whatever the number of threads (each task draws from its own generator,
//! seeded from the enclave's in a fixed order).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
pub use fog_enclave_api::errors::IngestError;

use curve25519_dalek::{
    constants::RISTRETTO_BASEPOINT_COMPRESSED,
    ristretto::{CompressedRistretto, RistrettoPoint},
};
use fog_crypto::{
    crypto_box,
    kex_rng::{self, KexRngPubkey},
    RistrettoPrivate, RistrettoPublic, SharedSecret,
};
use fog_oram::{ObliviousMap, OramError, StoreFactory};
use fog_transaction::{wire::ETxOutRecord, EncryptedFogHint, FogHint, TxOut, TxOutRecord};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use subtle::{Choice, ConditionallySelectable};
use zeroize::{Zeroize, Zeroizing};

use crate::sealing::SealingKeyProvider;
use crate::workers::{Pending, WorkerPool};

/// Bytes of an RNG-store key: the 32-byte shared secret with byte 0 inverted.
pub const RNG_KEY_BYTES: usize = 32;
/// Bytes of an RNG-store value: the u64 counter, little-endian.
pub const RNG_VALUE_BYTES: usize = 8;
/// How many times a block is retried after a rotation when the map reports full.
pub const MAX_RETRIES: usize = 10;

/// What ingesting one block produced.
pub struct IngestedBlock {
    /// One record per TxOut, in the block's order.
    pub records: Vec<ETxOutRecord>,
    /// The new egress public key if the enclave rotated before or during this block; the host
    /// must then start a new ingest invocation (RNG record) at this block.
    pub rotated_to: Option<KexRngPubkey>,
}

/// The ingest enclave. `S` makes the storage factory and the map's RNG for each new RNG
/// store (at start and at every rotation).
pub struct IngestEnclave<F: StoreFactory, M, R, S> {
    /// Shared with the tasks of a block in flight; the last holder's drop zeroizes it.
    ingress: Arc<RistrettoPrivate>,
    egress: Arc<RistrettoPrivate>,
    store: ObliviousMap<F, M>,
    make_map: S,
    map_capacity: u64,
    /// Rotate before a block once this many entries are in the map: 80 % of its slots, below
    /// where the map's first failed insert comes (86–90 %, fog-oram's README), so rotation is
    /// planned rather than forced by a full map mid-block.
    rotate_at: u64,
    rng: R,
    /// The threads the host lends for the per-TxOut public-key work.
    workers: Arc<WorkerPool>,
}

impl<F, M, R, S> IngestEnclave<F, M, R, S>
where
    F: StoreFactory,
    M: RngCore + CryptoRng,
    R: RngCore + CryptoRng,
    S: FnMut() -> (F, M),
{
    /// A new enclave with fresh ingress and egress keys, not yet sealed anywhere (an enclave
    /// whose key need not outlive it, or one sealed later with [`Self::seal_ingress_key`]).
    /// `user_capacity` (a power of two) sizes the RNG store.
    pub fn new(user_capacity: u64, mut rng: R, make_map: S) -> Result<Self, IngestError> {
        let ingress = RistrettoPrivate::random(&mut rng);
        Self::with_ingress_key(ingress, user_capacity, rng, make_map)
    }

    /// A new enclave with fresh keys, and its ingress key sealed to `platform` for the host
    /// to store ([`Self::restore`] opens it again on this platform).
    pub fn create(
        platform: &SealingKeyProvider,
        user_capacity: u64,
        rng: R,
        make_map: S,
    ) -> Result<(Self, Vec<u8>), IngestError> {
        let mut enclave = Self::new(user_capacity, rng, make_map)?;
        let sealed = enclave.seal_ingress_key(platform);
        Ok((enclave, sealed))
    }

    /// An enclave around the ingress key `sealed` holds, unsealed inside with `platform`
    /// (sealed by [`Self::create`] or [`Self::seal_ingress_key`] on this platform, or by the
    /// first version's `seal_ingress_key`, same format). The egress key is fresh.
    /// [`IngestError::BadSealedKey`] if it does not open with this platform's key (another
    /// platform, any changed byte) or holds no valid key; nothing is made then.
    pub fn restore(
        platform: &SealingKeyProvider,
        sealed: &[u8],
        user_capacity: u64,
        rng: R,
        make_map: S,
    ) -> Result<Self, IngestError> {
        let ingress = platform
            .unseal_key(sealed)
            .ok_or(IngestError::BadSealedKey)?;
        Self::with_ingress_key(ingress, user_capacity, rng, make_map)
    }

    /// A new enclave around an ingress key that is already inside (fresh, or unsealed).
    fn with_ingress_key(
        ingress: RistrettoPrivate,
        user_capacity: u64,
        mut rng: R,
        mut make_map: S,
    ) -> Result<Self, IngestError> {
        if user_capacity == 0 || !user_capacity.is_power_of_two() || user_capacity > (1 << 28) {
            return Err(IngestError::InvalidConfig);
        }
        let store = new_map(user_capacity, &mut make_map)?;
        let egress = RistrettoPrivate::random(&mut rng);
        Ok(Self {
            ingress: Arc::new(ingress),
            egress: Arc::new(egress),
            store,
            make_map,
            map_capacity: user_capacity,
            rotate_at: user_capacity - user_capacity / 5,
            rng,
            workers: WorkerPool::new(),
        })
    }

    /// The ingress public key: fog hints are encrypted to it.
    pub fn ingress_public_key(&self) -> RistrettoPublic {
        self.ingress.public_key()
    }

    /// The current egress public key, as clients rebuild their RNGs from it.
    pub fn kex_rng_pubkey(&self) -> KexRngPubkey {
        KexRngPubkey {
            public_key: self.egress.public_key().to_bytes().to_vec(),
            version: kex_rng::VERSION_ID,
        }
    }

    /// Entries in the RNG store (one per distinct recipient, real or random, since the last
    /// rotation).
    pub fn map_len(&self) -> u64 {
        self.store.len()
    }

    /// The RNG store's configured capacity.
    pub fn map_capacity(&self) -> u64 {
        self.map_capacity
    }

    /// Starts a new egress key and an empty RNG store. The old egress scalar is zeroized when
    /// it is dropped here; nothing else holds it (a block's tasks hold it only until the
    /// block is done, finished or not).
    pub fn rotate(&mut self) -> Result<KexRngPubkey, IngestError> {
        self.store = new_map(self.map_capacity, &mut self.make_map)?;
        // Replacing drops the old key, whose Drop zeroizes the scalar.
        self.egress = Arc::new(RistrettoPrivate::random(&mut self.rng));
        Ok(self.kex_rng_pubkey())
    }

    /// Ingests one block's TxOuts (`first_global_index` is the global index of the first).
    ///
    /// Failures: [`IngestError::InvalidBlockData`], and [`IngestError::BlockTooBig`] for a
    /// block larger than the rotation threshold, come before any change. A rotation done for
    /// this block stays when the block is refused after it (`BlockTooBig` once the map was
    /// still full after [`MAX_RETRIES`] rotations, [`IngestError::Storage`]): the error does
    /// not carry the new egress key, so the caller reads [`Self::kex_rng_pubkey`] again.
    pub fn ingest_block(
        &mut self,
        block_index: u64,
        first_global_index: u64,
        timestamp: u64,
        tx_outs: &[TxOut],
    ) -> Result<IngestedBlock, IngestError> {
        // Records are built from public data first, so a malformed TxOut fails the block
        // before any secret work.
        let records: Vec<TxOutRecord> = tx_outs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let global = first_global_index
                    .checked_add(i as u64)
                    .ok_or(IngestError::InvalidBlockData)?;
                TxOutRecord::new(t, global, block_index, timestamp)
                    .map_err(|_| IngestError::InvalidBlockData)
            })
            .collect::<Result<_, _>>()?;
        if tx_outs.len() as u64 > self.rotate_at {
            return Err(IngestError::BlockTooBig);
        }
        let mut rotated_to = None;
        if self.store.len() + tx_outs.len() as u64 > self.rotate_at {
            rotated_to = Some(self.rotate()?);
        }
        for _ in 0..MAX_RETRIES {
            match self.try_block(tx_outs, &records)? {
                Some(records) => {
                    return Ok(IngestedBlock {
                        records,
                        rotated_to,
                    })
                }
                None => rotated_to = Some(self.rotate()?),
            }
        }
        Err(IngestError::BlockTooBig)
    }

    /// One attempt at a block. The public-key work runs in tasks of [`CHUNK`] TxOuts on the
    /// lent threads ([`Self::workers`]), all queued at once: per chunk, step 1 and the egress
    /// key exchange; then, on this thread and in the block's order, each chunk's step 2 (the
    /// one sequential map step, so the map sees exactly the accesses it would with no thread);
    /// then per chunk, step 3 (the crypto boxes). `Ok(None)` when the map filled up.
    fn try_block(
        &mut self,
        tx_outs: &[TxOut],
        records: &[TxOutRecord],
    ) -> Result<Option<Vec<ETxOutRecord>>, IngestError> {
        let found: Vec<Pending<Recipients>> = tx_outs
            .chunks(CHUNK)
            .map(|chunk| {
                let hints: Vec<EncryptedFogHint> = chunk.iter().map(|t| t.e_fog_hint).collect();
                let ingress = self.ingress.clone();
                let egress = self.egress.clone();
                let mut rng = task_rng(&mut self.rng);
                self.workers
                    .spawn(move || find_recipients(&ingress, &egress, &hints, &mut rng))
            })
            .collect();
        let mut sealed: Vec<Pending<Sealed>> = Vec::with_capacity(found.len());
        let mut search_keys: Vec<[u8; 16]> = Vec::with_capacity(tx_outs.len());
        let mut found = found.into_iter();
        let mut chunks = records.chunks(CHUNK);
        // `Some` when the block stops early: the map filled up (`Ok(None)`) or failed.
        let mut stopped: Option<Result<Option<Vec<ETxOutRecord>>, IngestError>> = None;
        'chunks: for (pending, chunk) in (&mut found).zip(&mut chunks) {
            // A task that panicked (a bug) panics here, on the calling thread, as it would
            // have without threads.
            let mut recipients = self.workers.wait(pending);
            // The RNG-store keys are not needed past the map step: wiped when this drops.
            let secrets = core::mem::take(&mut recipients.secrets);
            for secret in &secrets {
                match self.next_search_key(secret) {
                    Ok(key) => search_keys.push(key),
                    Err(OramError::MapFull) => {
                        stopped = Some(Ok(None));
                        break 'chunks;
                    }
                    Err(e) => {
                        stopped = Some(Err(storage_failed(e)));
                        break 'chunks;
                    }
                }
            }
            let plaintexts: Vec<Zeroizing<Vec<u8>>> = chunk
                .iter()
                .map(|r| Zeroizing::new(r.encode_to_vec()))
                .collect();
            let mut rng = task_rng(&mut self.rng);
            sealed.push(self.workers.spawn(move || {
                crypto_box::encrypt_batch(&mut rng, &recipients.points, &plaintexts)
            }));
        }
        if let Some(stop) = stopped {
            // Finish the tasks still out (their results are wiped as they drop), so that no
            // task outlives the block holding the egress key a rotation is about to replace.
            for pending in found {
                drop(self.workers.wait(pending));
            }
            for pending in sealed {
                drop(self.workers.wait(pending));
            }
            return stop;
        }
        // Every task's result first, so that none is left queued whatever happens next.
        let sealed: Vec<Sealed> = sealed.into_iter().map(|p| self.workers.wait(p)).collect();
        let mut out = Vec::with_capacity(tx_outs.len());
        let mut keys = search_keys.into_iter();
        for payloads in sealed {
            // `encrypt_batch` refuses only slices of different lengths, which a chunk's are not.
            let payloads = payloads.map_err(|_| IngestError::Storage)?;
            for (payload, search_key) in payloads.into_iter().zip(&mut keys) {
                out.push(ETxOutRecord {
                    search_key: search_key.to_vec(),
                    payload,
                });
            }
        }
        Ok(Some(out))
    }

    /// Step 2 for one TxOut: one `upsert` of the recipient's counter under `secret` (byte 0
    /// inverted), which gives the next search key.
    fn next_search_key(&mut self, secret: &SharedSecret) -> Result<[u8; 16], OramError> {
        let mut key = *secret.as_bytes();
        key[0] = !key[0];
        let mut search_key = [0u8; 16];
        let result = self.store.upsert(&key, |value, _present| {
            let mut counter_bytes = [0u8; 8];
            counter_bytes.copy_from_slice(value);
            let counter = u64::from_le_bytes(counter_bytes);
            search_key = kex_rng::prf(secret.as_bytes(), counter);
            value.copy_from_slice(&counter.wrapping_add(1).to_le_bytes());
            counter_bytes.zeroize();
        });
        key.zeroize();
        result.map(|_| search_key)
    }

    /// The threads the host lends this enclave for its public-key work: a thread that runs
    /// [`WorkerPool::run_worker`] on it serves every block from then on. Without one, a block
    /// runs on the caller's thread alone.
    pub fn workers(&self) -> &Arc<WorkerPool> {
        &self.workers
    }

    /// Uses `pool` for the public-key work from now on (a loader that lends its threads to a
    /// pool of its own, which outlives a replaced enclave).
    pub fn set_workers(&mut self, pool: Arc<WorkerPool>) {
        self.workers = pool;
    }

    /// The ingress key sealed for this platform, inside: the crypto box of its 32 bytes to
    /// the platform's sealing key ([`SealingKeyProvider`]: in simulation a key the host
    /// platform keeps; in hardware a key derived from the enclave identity, which never leaves
    /// the CPU). Only the sealed bytes come out.
    pub fn seal_ingress_key(&mut self, platform: &SealingKeyProvider) -> Vec<u8> {
        platform.seal_key(&mut self.rng, &self.ingress)
    }

    /// Replaces the ingress key with a fresh one (an operator's `new-keys` on an idle
    /// server). The old scalar is zeroized when dropped here.
    pub fn new_ingress_key(&mut self) -> RistrettoPublic {
        self.ingress = Arc::new(RistrettoPrivate::random(&mut self.rng));
        self.ingress.public_key()
    }

    /// The ingress private key sealed in a frame on the attested peer channel `channel_id`:
    /// only the peer enclave at the other end can open it.
    pub fn send_ingress_key(
        &self,
        peers: &mut crate::ingest_peers::IngestPeers,
        channel_id: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<Vec<u8>, crate::ingest_peers::PeerError> {
        let bytes = self.ingress.to_bytes();
        peers.seal(channel_id, &bytes[..], now)
    }

    /// Takes the ingress key a peer enclave sent on channel `channel_id`
    /// ([`Self::send_ingress_key`]). The old key is zeroized; the egress key and RNG store
    /// are left alone (the host opens a new invocation before scanning with the new key).
    /// Returns the new ingress public key. On any error nothing changes.
    pub fn receive_ingress_key(
        &mut self,
        peers: &mut crate::ingest_peers::IngestPeers,
        channel_id: &[u8],
        frame: &[u8],
        now: fog_attest::UnixSeconds,
    ) -> Result<RistrettoPublic, crate::ingest_peers::PeerError> {
        let mut bytes = peers.open(channel_id, frame, now)?;
        let key = RistrettoPrivate::from_bytes(&bytes);
        bytes.zeroize();
        self.ingress = Arc::new(key.map_err(|_| crate::ingest_peers::PeerError::BadKey)?);
        Ok(self.ingress.public_key())
    }

    /// For tests of forward secrecy: the current egress scalar's bytes. Dangerous: exposes
    /// the secret the design keeps in the enclave.
    #[doc(hidden)]
    pub fn dangerous_egress_bytes(&self) -> [u8; 32] {
        *self.egress.to_bytes()
    }
}

/// Step 1 for one TxOut: the view public key its fog hint names if the hint decrypts under
/// `ingress` (tag and magic bytes right) to a valid point, else a fresh uniformly random point.
///
/// Constant time in the hint's validity: a random point is drawn, the hint is decrypted and its
/// key decoded, and the two points are combined by a constant-time select, whatever the hint.
/// When the hint is not valid the decryption leaves a placeholder (the basepoint's encoding)
/// in place of the key, so the decoding does the same work as for a real key. Per call: one
/// variable-base scalar multiplication (in the hint decryption), two Elligator maps (the random
/// point: its discrete logarithm is known to nobody, so the fallback record opens for nobody),
/// two decodings (hint's ephemeral key, decrypted key) and one encoding (the chosen point).
///
/// The one exception (see the module documentation): decrypted key bytes that authenticate
/// but are not a valid point make the decoding take another path. Only the sender who chose
/// them can produce such a hint.
pub fn hint_recipient<R: RngCore + CryptoRng>(
    ingress: &RistrettoPrivate,
    hint: &EncryptedFogHint,
    rng: &mut R,
) -> RistrettoPublic {
    let mut points = hint_recipient_points(ingress, core::slice::from_ref(hint), rng);
    let recipient = RistrettoPublic::from_point(points[0]);
    points.zeroize();
    recipient
}

/// [`hint_recipient`] for a chunk of hints, as points: the hint decryptions' encodings share
/// one field inversion ([`FogHint::ct_decrypt_batch`]); per hint the same work as above. The
/// points are recipients' view keys: the caller zeroizes them when done.
pub fn hint_recipient_points<R: RngCore + CryptoRng>(
    ingress: &RistrettoPrivate,
    hints: &[EncryptedFogHint],
    rng: &mut R,
) -> Vec<RistrettoPoint> {
    let mut candidates = alloc::vec![PLACEHOLDER_KEY; hints.len()];
    let valid = FogHint::ct_decrypt_batch(ingress, hints, &mut candidates);
    let points = candidates
        .iter()
        .zip(valid)
        .map(|(candidate, valid_hint)| {
            let random = RistrettoPoint::random(rng);
            let decoded = CompressedRistretto(*candidate).decompress();
            // `None` only for authenticated bytes that are not a point (the exception above).
            let is_point = Choice::from(u8::from(decoded.is_some()));
            let mut decoded = decoded.unwrap_or(random);
            let chosen =
                RistrettoPoint::conditional_select(&random, &decoded, valid_hint & is_point);
            decoded.zeroize();
            chosen
        })
        .collect();
    candidates.zeroize();
    points
}

/// TxOuts per task of the public-key work: enough that a task's batched encodings save most
/// of their inversions and its queueing cost vanishes, few enough that a block of 1000 gives
/// every lent thread work.
pub const CHUNK: usize = 50;

/// What a chunk's step-3 task gives: its records' crypto boxes, in order.
type Sealed = Result<Vec<Vec<u8>>, crypto_box::CryptoBoxError>;

/// A chunk's recipients (step 1: the view public keys or random points) and their shared
/// secrets with the egress key (the RNG store's keys). Wiped when dropped.
struct Recipients {
    points: Vec<RistrettoPoint>,
    secrets: Vec<SharedSecret>,
}

impl Drop for Recipients {
    fn drop(&mut self) {
        self.points.zeroize();
    }
}

/// Step 1 and the egress key exchange for a chunk of hints (a task on a lent thread).
fn find_recipients<R: RngCore + CryptoRng>(
    ingress: &RistrettoPrivate,
    egress: &RistrettoPrivate,
    hints: &[EncryptedFogHint],
    rng: &mut R,
) -> Recipients {
    let points = hint_recipient_points(ingress, hints, rng);
    let secrets = egress.key_exchange_batch(&points);
    Recipients { points, secrets }
}

/// A task's own randomness: a ChaCha20 generator seeded from the enclave's.
fn task_rng<R: RngCore + CryptoRng>(rng: &mut R) -> ChaCha20Rng {
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut seed[..]);
    ChaCha20Rng::from_seed(*seed)
}

/// What the hint decryption leaves in place of the key when the hint is not valid: the
/// encoding of the Ristretto basepoint, a valid point that costs a decoding as much as any
/// user's key does. It is never used as a recipient.
const PLACEHOLDER_KEY: [u8; 32] = RISTRETTO_BASEPOINT_COMPRESSED.0;

fn new_map<F: StoreFactory, M: RngCore + CryptoRng>(
    capacity: u64,
    make_map: &mut impl FnMut() -> (F, M),
) -> Result<ObliviousMap<F, M>, IngestError> {
    let (factory, rng) = make_map();
    ObliviousMap::new(capacity, RNG_KEY_BYTES, RNG_VALUE_BYTES, factory, rng)
        .map_err(|_| IngestError::InvalidConfig)
}

impl<F: StoreFactory, M, R, S> fmt::Debug for IngestEnclave<F, M, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestEnclave")
            .field("ingress_public", &self.ingress.public_key())
            .field("egress_public", &self.egress.public_key())
            .field("map_capacity", &self.map_capacity)
            .finish_non_exhaustive()
    }
}

/// The ORAM failed (integrity or stash): the enclave must be restarted.
fn storage_failed(_: OramError) -> IngestError {
    IngestError::Storage
}
