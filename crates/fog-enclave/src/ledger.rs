//! The fog ledger enclave: which key images are spent, answered obliviously over the attested
//! channel; the ids of the blocks it verified; and the channel ends of `GetOutputs`.
//!
//! # The key-image store
//! [`KeyImageStore`] keeps every key image the ledger has spent in an oblivious map. The key
//! is a 16-byte keyed hash of the key image (BLAKE2b under a key drawn inside the enclave when
//! the store is made, truncated to 128 bits) rather than MobileCoin's 32-byte key image: the
//! map's index buckets (with the value positions they carry) shrink from 73 to 41 words (39 up
//! to 2^24 slots), which is most of a lookup's cost, and two key images share a store key only
//! with probability about n²/2¹²⁹ (2⁻⁸¹ for 2²⁴ key images), and the host cannot aim for a
//! collision without the key. The value is 16 bytes, `spent_at` (the spending block's index) as u64
//! little-endian then that block's timestamp as u64 little-endian, as in MobileCoin. A check
//! of one key image is one oblivious-map `get`, whose memory accesses do not depend on the
//! key image or on whether it is present; the result (code, `spent_at`, `timestamp`) is made
//! with constant-time selects from a buffer preset to `0xFF`, so a key image that is not spent reads `u64::MAX` for both numbers. Every result
//! encodes to the same size for a key image of a given length: the numbers are fixed-width
//! on the wire. A key image that is not 32 bytes long is answered `KeyImageError`; that is
//! decided by its length alone, which the client chose and the frame's size shows anyway, and
//! it still costs one `get` (of a dummy key), so the trace is the same.
//!
//! Key images come into the store from the ledger, block by block, in order
//! ([`LedgerEnclave::add_block`]); they are public ledger data, and adding them may branch on
//! whether one is already stored. The host passes each block's header and whole contents, and
//! the enclave takes them only if they extend the chain it verified from the origin block:
//! the header's id matches its fields, its parent is the last block taken (zero for the
//! origin), its contents hash to its `contents_hash`, and its cumulative TxOut count is the
//! last one plus the block's outputs; otherwise nothing is stored ([`LedgerEnclaveError::NotInChain`]).
//! So the host cannot mark a key image spent that no block of that chain spends, nor leave
//! one out of a block it feeds. What the enclave cannot check alone: that the chain is the
//! one consensus agreed on (the origin and every later block are the host's, so a host may
//! feed a whole other chain from block 0; a client that knows a block id of the real chain
//! can compare it with the ids [`LedgerEnclave::block_ids`] answers), the block's Merkle root element
//! (it holds no TxOut tree), and the timestamp, which no block id covers. The store's own block count is the `num_blocks` of every
//! answer: "not spent" always means "not spent in the blocks this store holds", whatever the
//! host says about the ledger.
//!
//! # Key-image stores by block range
//! Past one enclave's memory, key images are split among stores by block range, behind a
//! ledger router ([`crate::ledger_router`]), as view records are. A store still verifies
//! every block from the origin (the chain check above is the same) but keeps the key images
//! of the blocks [`LedgerEnclave::set_key_image_blocks`] gave it only; a block outside the
//! range is verified and counted, and stores nothing (its index is public, so the enclave
//! branches on it). A router asks its stores over attested enclave channels
//! ([`KEY_IMAGE_STORE_CHANNEL`]: [`LedgerEnclave::router_accept`],
//! [`LedgerEnclave::router_check`]), and each answers with its range and its verified block
//! count beside the results. A client asking a store of a range directly is told that only
//! the blocks from 0 it holds are checked: `min(num_blocks, end)` when its range starts at
//! block 0, none otherwise.
//!
//! # What the host sees
//! The host passes handshake messages and encrypted frames; it sees how many key images a
//! request holds (the frame's size tells it, and [`CheckOutcome::key_images`] says it for the
//! metrics), never which ones or their answers. `GetOutputs` is different, as in MobileCoin:
//! the enclave only opens the request and seals the answer, and the untrusted host looks the
//! outputs up in the ledger DB, so the host learns which global indices were asked for
//! (clients mix their real inputs with random ring members). The host has an answer of its own
//! sealed only once per `GetOutputs` request opened on a session, and a frame carries its call
//! in its authenticated associated data (empty for key images and `GetOutputs`, as in
//! MobileCoin; [`BLOCK_IDS_AAD`] for `GetBlockIds`), so the host can neither pass a frame to
//! another call nor answer another call with its own words. For `GetBlockIds` the host sees
//! how many ids are asked for, as for `GetBlocks`, whose blocks they authenticate.
//!
//! # Failure
//! Every error is a payload-free [`LedgerEnclaveError`] and changes nothing: a refused block
//! stores none of its key images, a refused request touches no store state. An ORAM failure
//! (integrity, stash) poisons the store; it must be rebuilt from the ledger.
//!
//! Trust side: trusted. No I/O, no clock (the caller passes the time), no logging.

use alloc::{collections::BTreeSet, vec::Vec};
pub use fog_enclave_api::errors::LedgerEnclaveError;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fog_attest::{wire::NonceMessage, PeerKey, UnixSeconds};
use fog_crypto::hash::blake2b256_secret;
use fog_oram::{ObliviousMap, OramError, StoreFactory};
use fog_transaction::wire::Bytes32;
use fog_transaction::{
    block::{Block, BlockContents},
    wire::KeyImage as WireKeyImage,
    BlockVersion, KeyImage,
};
use fog_types::common::BlockRange;
use fog_types::ledger::{
    BlockIdsRequest, BlockIdsResponse, CheckKeyImagesRequest, CheckKeyImagesResponse,
    GetOutputsRequest, GetOutputsResponse, KeyImageQuery, KeyImageResult, KeyImageResultCode,
    KeyImageStoreResponse, MAX_BLOCK_IDS, MAX_GET_OUTPUTS, TIMESTAMP_FOUND,
};
use prost::Message as _;
use rand_core::{CryptoRng, RngCore};
use subtle::{Choice, ConditionallySelectable};
use zeroize::{Zeroize, Zeroizing};

use crate::peers::{PeerChannels, PeerError, Purpose};
use crate::sessions::{ClientSessions, SessionError};

/// Bytes of a key image.
pub const KEY_IMAGE_LEN: usize = 32;
/// Bytes of a store key (a keyed hash of the key image).
pub const STORE_KEY_LEN: usize = 16;
/// Bytes of a store value: `spent_at` LE ‖ `timestamp` LE.
pub const VALUE_LEN: usize = 16;
/// Sessions that may wait for a `GetOutputs` answer at once; past this the list starts anew
/// (a session dropped from it gets its answer refused and asks again).
pub const MAX_AWAITING_OUTPUTS: usize = 1 << 16;
/// The associated data of a `GetBlockIds` frame. Check-key-images and `GetOutputs` frames
/// carry none (as MobileCoin's), so the host cannot pass a frame of one call to another.
pub use fog_types::ledger::BLOCK_IDS_AAD;
/// MobileCoin's default key-image store capacity.
pub const DEFAULT_CAPACITY: u64 = 1 << 20;
/// The most key images one `CheckKeyImages` request may carry. MobileCoin sets no limit; its
/// clients send at most 100 per request.
pub const MAX_KEY_IMAGES_PER_REQUEST: usize = 4096;

/// The channels between a ledger router and its key-image stores: every frame's associated
/// data says so; frames up to 128 bytes per key image of a full request (a query of a
/// 32-byte key image encodes to 47 bytes, a result to 66; the router sends a key image that
/// is not 32 bytes long as 32 zero bytes) plus 4 KiB; up to 1024 channels (a router keeps one
/// per store and check in flight).
pub const KEY_IMAGE_STORE_CHANNEL: Purpose = Purpose {
    aad: b"fog-ledger-key-image-store-v1",
    max_frame: 4096 + 128 * MAX_KEY_IMAGES_PER_REQUEST,
    max_channels: 4096,
    max_pending: 256,
};

/// One key image's answer, before it goes on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyImageCheck {
    /// A [`KeyImageResultCode`] as u32.
    pub code: u32,
    /// The spending block, or `u64::MAX`.
    pub spent_at: u64,
    /// The spending block's timestamp, or `u64::MAX`.
    pub timestamp: u64,
}

impl core::fmt::Debug for KeyImageCheck {
    /// Prints nothing of the answer: whether a user's key image is spent is theirs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyImageCheck").finish_non_exhaustive()
    }
}

/// The key-image store: key image → (spending block, its timestamp) in an oblivious map.
pub struct KeyImageStore<F: StoreFactory, M> {
    map: ObliviousMap<F, M>,
    hash_key: Zeroizing<[u8; 32]>,
}

impl<F: StoreFactory, M: RngCore + CryptoRng> KeyImageStore<F, M> {
    /// A store with room for about `capacity` key images (see [`ObliviousMap::new`]).
    /// The hash key is drawn from `rng`, which the map then keeps.
    pub fn new(capacity: u64, factory: F, mut rng: M) -> Result<Self, LedgerEnclaveError> {
        let mut hash_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(hash_key.as_mut());
        let map = ObliviousMap::new(capacity, STORE_KEY_LEN, VALUE_LEN, factory, rng)
            .map_err(|_| LedgerEnclaveError::InvalidConfig)?;
        Ok(Self { map, hash_key })
    }

    /// The store key of a key image: BLAKE2b(domain ‖ hash key ‖ key image), first 16 bytes.
    /// Constant time in the key image (BLAKE2 is add-rotate-xor on fixed-size input).
    fn store_key(&self, key_image: &[u8; KEY_IMAGE_LEN]) -> Zeroizing<[u8; STORE_KEY_LEN]> {
        let h = blake2b256_secret(&[
            b"fog ledger key-image store",
            self.hash_key.as_ref(),
            key_image,
        ]);
        let mut key = Zeroizing::new([0u8; STORE_KEY_LEN]);
        key.copy_from_slice(&h[..STORE_KEY_LEN]);
        key
    }

    /// Key images stored.
    pub fn len(&self) -> u64 {
        self.map.len()
    }

    /// Whether no key image is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Slots in the store: the most key images it could ever hold.
    pub fn capacity(&self) -> u64 {
        self.map.capacity()
    }

    /// Adds the key images one block spent. All or nothing: when the store has no room for
    /// one of them, those of this call already added are removed again and
    /// [`LedgerEnclaveError::Full`] is returned. A key image already stored keeps its first
    /// block (a valid ledger never spends one twice).
    pub fn add(
        &mut self,
        key_images: &[KeyImage],
        spent_at: u64,
        timestamp: u64,
    ) -> Result<(), LedgerEnclaveError> {
        let free = self.capacity().saturating_sub(self.len());
        if key_images.len() as u64 > free {
            return Err(LedgerEnclaveError::Full);
        }
        let mut value = [0u8; VALUE_LEN];
        value[..8].copy_from_slice(&spent_at.to_le_bytes());
        value[8..].copy_from_slice(&timestamp.to_le_bytes());
        let mut added: Vec<Zeroizing<[u8; STORE_KEY_LEN]>> = Vec::with_capacity(key_images.len());
        for key_image in key_images {
            let key = self.store_key(key_image.as_bytes());
            let r = self.map.upsert(key.as_ref(), |v, present| {
                // Keep an existing entry, write a new one.
                for (dst, src) in v.iter_mut().zip(value.iter()) {
                    dst.conditional_assign(src, !present);
                }
            });
            match r {
                // Public ledger data: branching on whether it was already there is fine.
                Ok(present) => {
                    if !bool::from(present) {
                        added.push(key);
                    }
                }
                Err(e) => {
                    let e = match e {
                        OramError::MapFull => LedgerEnclaveError::Full,
                        _ => LedgerEnclaveError::Storage,
                    };
                    for key in &added {
                        if self.map.remove(key.as_ref()).is_err() {
                            return Err(LedgerEnclaveError::Storage);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Checks one key image: one oblivious `get`, the same accesses for a spent one, an
    /// unspent one and a malformed one (a length other than 32, decided by length alone).
    pub fn check(&mut self, key_image: &[u8]) -> Result<KeyImageCheck, LedgerEnclaveError> {
        // The length is public (the client chose it; the frame's size shows it).
        let well_formed = key_image.len() == KEY_IMAGE_LEN;
        let mut raw = [0u8; KEY_IMAGE_LEN];
        if well_formed {
            raw.copy_from_slice(key_image);
        }
        let key = self.store_key(&raw);
        let mut value = [0u8; VALUE_LEN];
        let found = self
            .map
            .get(key.as_ref(), &mut value)
            .map_err(|_| LedgerEnclaveError::Storage)?;
        let spent = found & Choice::from(u8::from(well_formed));
        // Preset to 0xFF; the stored value replaces it only when spent.
        let mut out = [0xFFu8; VALUE_LEN];
        for (dst, src) in out.iter_mut().zip(value.iter()) {
            dst.conditional_assign(src, spent);
        }
        let mut spent_at = [0u8; 8];
        spent_at.copy_from_slice(&out[..8]);
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&out[8..]);
        let code = u32::conditional_select(
            &(KeyImageResultCode::NotSpent as u32),
            &(KeyImageResultCode::Spent as u32),
            found,
        );
        let code = u32::conditional_select(
            &(KeyImageResultCode::KeyImageError as u32),
            &code,
            Choice::from(u8::from(well_formed)),
        );
        let check = KeyImageCheck {
            code,
            spent_at: u64::from_le_bytes(spent_at),
            timestamp: u64::from_le_bytes(timestamp),
        };
        raw.zeroize();
        drop(key);
        value.zeroize();
        out.zeroize();
        spent_at.zeroize();
        timestamp.zeroize();
        Ok(check)
    }

    /// Answers queries in order, one [`KeyImageResult`] each (the key image echoed).
    pub fn check_queries(
        &mut self,
        queries: &[KeyImageQuery],
    ) -> Result<Vec<KeyImageResult>, LedgerEnclaveError> {
        queries
            .iter()
            .map(|q| {
                let bytes = q.key_image.as_ref().map_or(&[][..], |k| k.data.as_slice());
                let c = self.check(bytes)?;
                Ok(KeyImageResult {
                    key_image: Some(WireKeyImage {
                        data: bytes.to_vec(),
                    }),
                    spent_at: c.spent_at,
                    timestamp: c.timestamp,
                    timestamp_result_code: TIMESTAMP_FOUND,
                    key_image_result_code: c.code,
                })
            })
            .collect()
    }
}

/// What the store has taken in: the counters of every answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerCounters {
    /// Blocks whose key images are in the store (`0..num_blocks`).
    pub num_blocks: u64,
    /// TxOuts in those blocks.
    pub global_txo_count: u64,
    /// The version of the last of those blocks.
    pub latest_block_version: u32,
    /// The id of the last of those blocks (zero before the first): every block taken is
    /// this chain's, checked from the origin block on.
    pub last_block_id: [u8; 32],
}

/// One ledger block as the store takes it: the header and its whole contents, which the
/// enclave checks against the chain it holds before it stores a key image (the host cannot
/// feed key images that no block of the chain spends).
#[derive(Clone, Copy, Debug)]
pub struct LedgerBlock<'a> {
    /// The block header.
    pub block: &'a Block,
    /// Its contents (key images and outputs), which its `contents_hash` commits to.
    pub contents: &'a BlockContents,
    /// Its timestamp (seconds). Not covered by the block id: the host's word.
    pub timestamp: u64,
}

/// What the host knows of the ledger when it passes a request in: public block counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerView {
    /// Blocks in the ledger DB.
    pub ledger_blocks: u64,
    /// The most blocks the store may lack and still answer.
    pub max_blocks_behind: u64,
}

/// A checked request's sealed answer.
#[derive(Debug)]
pub struct CheckOutcome {
    /// The encrypted `CheckKeyImagesResponse`.
    pub response: NonceMessage,
    /// How many key images the request held (the frame's size shows it too).
    pub key_images: usize,
}

struct Store<F: StoreFactory, M> {
    store: KeyImageStore<F, M>,
    /// The id of every block taken, by index (32 bytes a block).
    block_ids: Vec<[u8; 32]>,
    /// The cumulative TxOut count of every block taken, by index (8 bytes a block): what an
    /// answer vouching for fewer blocks than were taken says (a router's, a ranged store's).
    txo_counts: Vec<u64>,
    /// Each run of blocks of one version: (its first block, the version), in order.
    versions: Vec<(u64, u32)>,
    /// The blocks whose key images are stored.
    key_image_blocks: BlockRange,
}

impl<F: StoreFactory, M> Store<F, M> {
    fn counters(&self) -> LedgerCounters {
        self.counters_at(self.block_ids.len() as u64)
    }

    /// The counters after the first `num_blocks` blocks taken (at most all of them).
    fn counters_at(&self, num_blocks: u64) -> LedgerCounters {
        let n = self
            .block_ids
            .len()
            .min(usize::try_from(num_blocks).unwrap_or(usize::MAX));
        let last = n.checked_sub(1);
        LedgerCounters {
            num_blocks: n as u64,
            global_txo_count: last.map_or(0, |i| self.txo_counts[i]),
            latest_block_version: self
                .versions
                .iter()
                .rev()
                .find(|&&(first, _)| first < n as u64)
                .map_or(0, |&(_, version)| version),
            last_block_id: last.map_or([0; 32], |i| self.block_ids[i]),
        }
    }

    /// The blocks from 0 whose key images this store holds: what its answers to clients
    /// vouch for.
    fn vouched_for_clients(&self) -> u64 {
        let r = self.key_image_blocks;
        if r.start_block == 0 {
            (self.block_ids.len() as u64).min(r.end_block)
        } else {
            0
        }
    }
}

/// The ledger enclave: the attested sessions and the key-image store, each behind its own
/// lock, shared by every host thread.
pub struct LedgerEnclave<F: StoreFactory, M> {
    sessions: ClientSessions,
    store: Mutex<Store<F, M>>,
    /// Sessions with a `GetOutputs` request opened and not yet answered: the only ones on
    /// which the host may have an answer of its own sealed.
    awaiting_outputs: Mutex<BTreeSet<Vec<u8>>>,
    /// Attested channels from ledger routers, once the host enabled them.
    routers: Mutex<Option<PeerChannels>>,
}

impl<F: StoreFactory, M> core::fmt::Debug for LedgerEnclave<F, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerEnclave")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// The highest block version this enclave knows.
pub fn max_block_version(latest: u32) -> u32 {
    latest.max(BlockVersion::MAX.get())
}

impl<F: StoreFactory, M: RngCore + CryptoRng> LedgerEnclave<F, M> {
    /// An enclave answering on `sessions`, with an empty store of about `capacity` key images.
    pub fn new(
        sessions: ClientSessions,
        capacity: u64,
        factory: F,
        rng: M,
    ) -> Result<Self, LedgerEnclaveError> {
        Ok(Self {
            sessions,
            store: Mutex::new(Store {
                store: KeyImageStore::new(capacity, factory, rng)?,
                block_ids: Vec::new(),
                txo_counts: Vec::new(),
                versions: Vec::new(),
                key_image_blocks: BlockRange::new(0, u64::MAX),
            }),
            awaiting_outputs: Mutex::new(BTreeSet::new()),
            routers: Mutex::new(None),
        })
    }

    /// The sessions (handshakes, evidence, live count).
    pub fn sessions(&self) -> &ClientSessions {
        &self.sessions
    }

    /// Answers a client's NX hello (`Auth` of either attested service: one session serves
    /// key-image checks, `GetBlockIds` and `GetOutputs`).
    /// `peer` is the server's name for the client (normally its IP address), which bounds
    /// how many sessions one client can hold (see [`ClientSessions`]).
    pub fn accept(
        &self,
        hello: &[u8],
        peer: PeerKey,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        Ok(self.sessions.accept(hello, peer, now)?)
    }

    /// What the store holds.
    pub fn counters(&self) -> Result<LedgerCounters, LedgerEnclaveError> {
        Ok(self.lock()?.counters())
    }

    /// Key images stored, and the store's capacity.
    pub fn load(&self) -> Result<(u64, u64), LedgerEnclaveError> {
        let s = self.lock()?;
        Ok((s.store.len(), s.store.capacity()))
    }

    /// Makes this a store of the key images of blocks `start..end` only (`end` = `u64::MAX`:
    /// open-ended; `start == end`: none, as a ledger router's own enclave), before any block
    /// is added. Every block is still verified and counted (see the module docs). Refused
    /// ([`LedgerEnclaveError::BadBlockRange`]) when `start > end` or a block was added.
    pub fn set_key_image_blocks(&self, start: u64, end: u64) -> Result<(), LedgerEnclaveError> {
        let mut s = self.lock()?;
        if start > end || !s.block_ids.is_empty() {
            return Err(LedgerEnclaveError::BadBlockRange);
        }
        s.key_image_blocks = BlockRange::new(start, end);
        Ok(())
    }

    /// The blocks whose key images this store keeps (by default `0..u64::MAX`: all).
    pub fn key_image_blocks(&self) -> Result<BlockRange, LedgerEnclaveError> {
        Ok(self.lock()?.key_image_blocks)
    }

    /// The counters after the first `num_blocks` blocks taken (at most all of them).
    pub(crate) fn counters_at(
        &self,
        num_blocks: u64,
    ) -> Result<LedgerCounters, LedgerEnclaveError> {
        Ok(self.lock()?.counters_at(num_blocks))
    }

    /// Adds the next block's key images (those of a block in [`Self::key_image_blocks`];
    /// another block is verified and counted only). The block must be the next one
    /// (`index == counters().num_blocks`); all or nothing.
    pub fn add_block(&self, block: &LedgerBlock<'_>) -> Result<LedgerCounters, LedgerEnclaveError> {
        let LedgerBlock {
            block: header,
            contents,
            timestamp,
        } = *block;
        let mut s = self.lock()?;
        let before = s.counters();
        if header.index != before.num_blocks {
            return Err(LedgerEnclaveError::BlockOutOfOrder);
        }
        // The chain: the id is the header's, the parent is the last block taken (zero for
        // the origin), the contents are the ones the header commits to, and the TxOut count
        // follows from them. Public data only: these branches reveal nothing secret.
        let outputs = contents.outputs.len() as u64;
        let follows = header.is_id_valid()
            && header.parent_id == before.last_block_id
            && contents.hash() == header.contents_hash
            && before.global_txo_count.checked_add(outputs) == Some(header.cumulative_txo_count);
        if !follows {
            return Err(LedgerEnclaveError::NotInChain);
        }
        // The block index is public: whether its key images are kept says nothing secret.
        if s.key_image_blocks.contains(header.index) {
            s.store.add(&contents.key_images, header.index, timestamp)?;
        }
        s.block_ids.push(header.id);
        s.txo_counts.push(header.cumulative_txo_count);
        if s.versions.last().map(|&(_, v)| v) != Some(header.version) {
            s.versions.push((header.index, header.version));
        }
        Ok(s.counters())
    }

    /// Opens a `CheckKeyImagesRequest` frame, checks each key image and seals the
    /// `CheckKeyImagesResponse` (one result per query, in order; `num_blocks` the store's,
    /// or for a store of a block range what it holds from block 0, see the module docs).
    /// Refused before any lookup: a request of more than [`MAX_KEY_IMAGES_PER_REQUEST`] key
    /// images, and any request while the store lacks more than `ledger.max_blocks_behind`
    /// of `ledger.ledger_blocks` blocks. A refused frame is still consumed, so the session
    /// stays in step and the client may send its next request on it.
    pub fn check_key_images(
        &self,
        frame: &NonceMessage,
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<CheckOutcome, LedgerEnclaveError> {
        let request = open_check_request(&self.sessions, frame, now)?;
        let key_images = request.queries.len();
        let response = self.answer(request, ledger, false)?;
        let bytes = Zeroizing::new(response.encode_to_vec());
        wipe_results(response.results);
        let sealed = self.sessions.seal(&frame.channel_id, &bytes, now)?;
        Ok(CheckOutcome {
            response: sealed,
            key_images,
        })
    }

    /// Opens a `BlockIdsRequest` frame and seals the `BlockIdsResponse`: the id of each block
    /// asked for that this enclave has taken (empty past `num_blocks`), and the id of the last
    /// one. These are the ids of the chain verified from the origin block, so a client can
    /// authenticate untrusted blocks by recomputing their ids and following parent ids back
    /// from one of these. More than [`MAX_BLOCK_IDS`] indices are refused (the frame is still
    /// consumed). Block ids are public ledger data: which ones a client asks for is what its
    /// plain `GetBlocks` call shows anyway, so the lookups need not be oblivious.
    pub fn block_ids(
        &self,
        frame: &NonceMessage,
        now: UnixSeconds,
    ) -> Result<NonceMessage, LedgerEnclaveError> {
        let plain = self.sessions.open(frame, now)?;
        if frame.aad != BLOCK_IDS_AAD {
            return Err(LedgerEnclaveError::MalformedRequest);
        }
        let request = BlockIdsRequest::decode(plain.as_slice())
            .map_err(|_| LedgerEnclaveError::MalformedRequest)?;
        if request.indices.len() > MAX_BLOCK_IDS {
            return Err(LedgerEnclaveError::TooManyItems);
        }
        let response = {
            let s = self.lock()?;
            let id = |index: u64| Bytes32 {
                data: usize::try_from(index)
                    .ok()
                    .and_then(|i| s.block_ids.get(i))
                    .map_or_else(Vec::new, |id| id.to_vec()),
            };
            BlockIdsResponse {
                ids: request.indices.iter().map(|&i| id(i)).collect(),
                num_blocks: s.block_ids.len() as u64,
                global_txo_count: s.counters().global_txo_count,
                last_block_id: s.block_ids.last().map(|id| Bytes32 { data: id.to_vec() }),
            }
        };
        Ok(self
            .sessions
            .seal(&frame.channel_id, &response.encode_to_vec(), now)?)
    }

    /// Opens a `GetOutputsRequest` frame: returns the session it came on and the request, for
    /// the host to look the outputs up. More than [`MAX_GET_OUTPUTS`] indices are refused.
    pub fn open_get_outputs(
        &self,
        frame: &NonceMessage,
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, GetOutputsRequest), LedgerEnclaveError> {
        let plain = self.sessions.open(frame, now)?;
        if !frame.aad.is_empty() {
            return Err(LedgerEnclaveError::MalformedRequest);
        }
        let request = GetOutputsRequest::decode(plain.as_slice())
            .map_err(|_| LedgerEnclaveError::MalformedRequest)?;
        if request.indices.len() > MAX_GET_OUTPUTS {
            return Err(LedgerEnclaveError::TooManyItems);
        }
        let mut awaiting = self
            .awaiting_outputs
            .lock()
            .map_err(|_| LedgerEnclaveError::Storage)?;
        if awaiting.len() >= MAX_AWAITING_OUTPUTS {
            awaiting.clear();
        }
        awaiting.insert(frame.channel_id.clone());
        Ok((frame.channel_id.clone(), request))
    }

    /// Seals the host's `GetOutputsResponse` on the session `channel_id`, once for each
    /// `GetOutputs` request opened on it: the host cannot have words of its own sealed as the
    /// answer to any other call (a key-image check or `GetBlockIds`).
    pub fn seal_get_outputs(
        &self,
        channel_id: &[u8],
        response: &GetOutputsResponse,
        now: UnixSeconds,
    ) -> Result<NonceMessage, LedgerEnclaveError> {
        let was_awaited = self
            .awaiting_outputs
            .lock()
            .map_err(|_| LedgerEnclaveError::Storage)?
            .remove(channel_id);
        if !was_awaited {
            return Err(LedgerEnclaveError::Session(SessionError::UnknownSession));
        }
        let bytes = Zeroizing::new(response.encode_to_vec());
        Ok(self.sessions.seal(channel_id, &bytes, now)?)
    }

    /// Checks the key images of `request` (wiped here, answered or not). Refused before any
    /// lookup as [`Self::check_key_images`] says. `num_blocks` is the verified block count
    /// for a router, what the store holds from block 0 for a client.
    fn answer(
        &self,
        request: CheckKeyImagesRequest,
        ledger: LedgerView,
        for_router: bool,
    ) -> Result<CheckKeyImagesResponse, LedgerEnclaveError> {
        if request.queries.len() > MAX_KEY_IMAGES_PER_REQUEST {
            wipe_queries(request.queries);
            return Err(LedgerEnclaveError::TooManyItems);
        }
        let answered = self.lock().and_then(|mut s| {
            let verified = s.counters().num_blocks;
            let behind = ledger.ledger_blocks.saturating_sub(verified);
            if behind > ledger.max_blocks_behind {
                return Err(LedgerEnclaveError::StoreBehind { behind });
            }
            let results = s.store.check_queries(&request.queries)?;
            let c = if for_router {
                s.counters()
            } else {
                s.counters_at(s.vouched_for_clients())
            };
            Ok(CheckKeyImagesResponse {
                num_blocks: c.num_blocks,
                global_txo_count: c.global_txo_count,
                results,
                latest_block_version: c.latest_block_version,
                max_block_version: max_block_version(c.latest_block_version),
            })
        });
        wipe_queries(request.queries);
        answered
    }

    /// Lets ledger routers open attested channels to this store (see
    /// [`crate::ledger_router`]); `link` must be made for [`KEY_IMAGE_STORE_CHANNEL`], with
    /// this enclave's evidence and a verifier that accepts only fog ledger enclaves.
    pub fn set_router_link(&self, link: PeerChannels) {
        *lock_routers(&self.routers) = Some(link);
    }

    /// Replaces the evidence the router channels present (refreshed before it grows stale).
    pub fn set_router_evidence(
        &self,
        evidence: fog_attest::BoundEvidence,
    ) -> Result<(), LedgerEnclaveError> {
        match lock_routers(&self.routers).as_mut() {
            Some(link) => Ok(link.set_evidence(evidence)?),
            None => Ok(()),
        }
    }

    /// Answers a ledger router's handshake: the channel id and the reply.
    pub fn router_accept(
        &self,
        hello: &[u8],
        now: UnixSeconds,
    ) -> Result<(Vec<u8>, Vec<u8>), LedgerEnclaveError> {
        let mut routers = lock_routers(&self.routers);
        let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
        Ok(link.accept(hello, now)?)
    }

    /// Answers a router's encoded frame holding a [`CheckKeyImagesRequest`] on `channel_id`
    /// with an encoded frame holding a [`KeyImageStoreResponse`]: this store's key-image
    /// range and its answer (one result per key image, in order, looked up as for a client;
    /// `num_blocks` the blocks verified from the origin). Refused as
    /// [`Self::check_key_images`] is (too many key images, the store too far behind
    /// `ledger`); the frame is consumed either way.
    pub fn router_check(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, LedgerEnclaveError> {
        let plain = {
            let mut routers = lock_routers(&self.routers);
            let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
            Zeroizing::new(link.open(channel_id, frame, now)?)
        };
        let request = CheckKeyImagesRequest::decode(plain.as_slice())
            .map_err(|_| LedgerEnclaveError::MalformedRequest)?;
        drop(plain);
        let response = self.answer(request, ledger, true)?;
        let mut reply = KeyImageStoreResponse {
            block_range: Some(self.key_image_blocks()?),
            response: Some(response),
        };
        let bytes = Zeroizing::new(reply.encode_to_vec());
        if let Some(r) = reply.response.take() {
            wipe_results(r.results);
        }
        let mut routers = lock_routers(&self.routers);
        let link = routers.as_mut().ok_or(PeerError::UnknownChannel)?;
        Ok(link.seal(channel_id, &bytes, now)?)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Store<F, M>>, LedgerEnclaveError> {
        // A panic while the store was held may have left the ORAM half-updated: refuse.
        self.store.lock().map_err(|_| LedgerEnclaveError::Storage)
    }
}

/// Opens a client's `CheckKeyImagesRequest` frame on `sessions` (associated data empty).
pub(crate) fn open_check_request(
    sessions: &ClientSessions,
    frame: &NonceMessage,
    now: UnixSeconds,
) -> Result<CheckKeyImagesRequest, LedgerEnclaveError> {
    let plain = Zeroizing::new(sessions.open(frame, now)?);
    if !frame.aad.is_empty() {
        return Err(LedgerEnclaveError::MalformedRequest);
    }
    CheckKeyImagesRequest::decode(plain.as_slice())
        .map_err(|_| LedgerEnclaveError::MalformedRequest)
}

fn lock_routers(m: &Mutex<Option<PeerChannels>>) -> MutexGuard<'_, Option<PeerChannels>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Overwrites the user's key images before they are dropped.
pub(crate) fn wipe_queries(mut queries: Vec<KeyImageQuery>) {
    for q in &mut queries {
        if let Some(k) = q.key_image.as_mut() {
            k.data.zeroize();
        }
    }
}

/// Overwrites the answers (which of a user's key images are spent) before they are dropped.
pub(crate) fn wipe_results(mut results: Vec<KeyImageResult>) {
    for r in &mut results {
        if let Some(k) = r.key_image.as_mut() {
            k.data.zeroize();
        }
        r.spent_at.zeroize();
        r.timestamp.zeroize();
        r.key_image_result_code.zeroize();
    }
}
