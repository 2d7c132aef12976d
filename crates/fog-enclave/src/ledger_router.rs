//! The ledger router: the enclave clients talk to when the key images are split among
//! key-image stores by block range (MobileCoin's `fog_ledger_router`).
//!
//! The router holds a fog ledger enclave of its own ([`LedgerRouter::enclave`]), which
//! verifies the whole chain from the origin and answers clients' `GetBlockIds` and
//! `GetOutputs` exactly as a single fog ledger does; the host makes it with an empty
//! key-image range ([`LedgerEnclave::set_key_image_blocks`]`(0, 0)`), as none of its key images
//! is ever asked. Clients open their attested sessions with it as with a fog ledger. The
//! router opens attested channels of its own to every store ([`crate::peers`],
//! [`KEY_IMAGE_STORE_CHANNEL`]: both ends present fog-ledger evidence), and for each
//! `CheckKeyImages` request:
//! 1. [`LedgerRouter::open_check`] opens the client's frame inside the router (refused as a
//!    single fog ledger refuses it, the router's own verified block count standing for the
//!    store's);
//! 2. [`LedgerRouter::store_request`] seals the key images for each store, on a channel of
//!    that store that the host lends for this check alone;
//! 3. [`LedgerRouter::finish`] opens the stores' answers, merges them and seals one
//!    `CheckKeyImagesResponse` to the client.
//!
//! # What the merged answer vouches for
//! Each store says its key-image range `start..end` and how many blocks it verified from the
//! origin; it holds the key images of blocks `start..min(verified, end)` ([`ShardCoverage`]).
//! The answer's `num_blocks` is the smaller of the blocks the answering stores cover
//! contiguously from block 0 ([`contiguous_cover`]) and the router's own verified count: a
//! store that is down, behind, or whose answer does not open lowers it, never raises it. Only
//! the stores whose range starts within that count contribute, and a spend they report
//! counts only when its block is below it: "not spent" then means "not spent in the blocks
//! below `num_blocks`", as a single store's does. The TxOut count and block version come from
//! the router's own chain at `num_blocks`, never from a store. The chain itself is each
//! enclave's host's, as for a single fog ledger: stores and router verify it from an origin
//! block their hosts feed, and compare nothing with one another beyond the block count.
//!
//! # What the host sees
//! The number of key images (as with a single fog ledger: the frame's size), the stores asked
//! and the sizes of their answers, which depend on the number of key images only (a key
//! image that is not 32 bytes long goes to the stores as 32 zero bytes; the router answers it
//! `KeyImageError` by its length, which the client chose), and which stores the answer rests
//! on (their coverage is public: every store reports it in its metrics too). The merge
//! ([`merge_key_image_results`]) reads every contributing store's result for every key image,
//! in order, and takes a store's result by constant-time selects: the positions it touches
//! depend on the number of key images and stores alone, never on which store found a spend.
//!
//! Trust side: trusted. No I/O: the host carries every frame, and lends the time.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use fog_attest::{wire::NonceMessage, UnixSeconds};
use fog_oram::ct::{ct_eq_u64, ct_lt_u64, ct_select_u64};
use fog_oram::StoreFactory;
use fog_transaction::wire::KeyImage as WireKeyImage;
use fog_types::ledger::{
    CheckKeyImagesRequest, CheckKeyImagesResponse, KeyImageQuery, KeyImageResult,
    KeyImageResultCode, KeyImageStoreResponse, TIMESTAMP_FOUND,
};
use prost::Message as _;
use rand_core::{CryptoRng, RngCore};
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

pub use crate::ledger::KEY_IMAGE_STORE_CHANNEL;
use crate::ledger::{
    max_block_version, open_check_request, wipe_queries, wipe_results, LedgerEnclave,
    LedgerEnclaveError, LedgerView, KEY_IMAGE_LEN, MAX_KEY_IMAGES_PER_REQUEST,
};
use crate::peers::{Exchange, PeerChannels, PeerError, StoreLinks};
pub use crate::view_router::{contiguous_cover, ShardCoverage};

/// A client's key-image check the router opened, waiting for the stores' answers. It holds
/// the client's key images (wiped on drop); the host keeps it between the calls but cannot
/// read it.
pub struct PendingCheck {
    /// The client's session (`None` for a probe).
    client: Option<Vec<u8>>,
    key_images: Zeroizing<Vec<Vec<u8>>>,
    /// The requests sealed for it: only their answers are opened for it.
    exchange: Exchange,
}

impl core::fmt::Debug for PendingCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingCheck")
            .field("key_images", &self.key_images.len())
            .finish_non_exhaustive()
    }
}

impl PendingCheck {
    /// How many key images the client sent (public: the frame's size shows it).
    pub fn key_count(&self) -> usize {
        self.key_images.len()
    }
}

/// The merged answer.
#[derive(Debug)]
pub struct RoutedCheck {
    /// The `CheckKeyImagesResponse` sealed to the client (`None` for a probe), or why it
    /// could not be sealed (the client's session is gone): the stores' answers still count.
    pub frame: Result<Option<NonceMessage>, LedgerEnclaveError>,
    /// Per store answer given to [`LedgerRouter::finish`]: what it covers, or `None` when it
    /// was missing, did not open or decode, or did not answer every key image (the host
    /// should drop that channel).
    pub shards: Vec<Option<ShardCoverage>>,
    /// The block count the answer vouches for.
    pub num_blocks: u64,
    /// The stores whose results were merged (public).
    pub merged_shards: usize,
}

/// The ledger router enclave.
pub struct LedgerRouter<F: StoreFactory, M> {
    enclave: LedgerEnclave<F, M>,
    stores: StoreLinks,
    checks: AtomicU64,
}

impl<F: StoreFactory, M> core::fmt::Debug for LedgerRouter<F, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LedgerRouter")
            .field("enclave", &self.enclave)
            .finish_non_exhaustive()
    }
}

impl<F: StoreFactory, M: RngCore + CryptoRng> LedgerRouter<F, M> {
    /// A router answering clients with `enclave` (its sessions, its verified chain: see the
    /// module docs) and reaching its stores over `stores` (made for
    /// [`KEY_IMAGE_STORE_CHANNEL`], accepting fog ledger enclaves only).
    pub fn new(enclave: LedgerEnclave<F, M>, stores: PeerChannels) -> Self {
        Self {
            enclave,
            stores: StoreLinks::new(stores),
            checks: AtomicU64::new(0),
        }
    }

    /// The router's own fog ledger enclave: client handshakes, blocks, `GetBlockIds`,
    /// `GetOutputs`.
    pub fn enclave(&self) -> &LedgerEnclave<F, M> {
        &self.enclave
    }

    /// Key-image checks merged so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Its channels to the stores (the host drives their handshakes).
    pub fn store_links(&self) -> &StoreLinks {
        &self.stores
    }

    /// Opens a client's `CheckKeyImagesRequest` frame (associated data empty), as
    /// [`LedgerEnclave::check_key_images`] does: refused before anything is asked when it
    /// holds more than [`MAX_KEY_IMAGES_PER_REQUEST`] key images, or while the router's own
    /// chain lacks more than `ledger.max_blocks_behind` of `ledger.ledger_blocks` blocks. A
    /// refused frame is still consumed, so the session stays in step.
    pub fn open_check(
        &self,
        frame: &NonceMessage,
        ledger: LedgerView,
        now: UnixSeconds,
    ) -> Result<PendingCheck, LedgerEnclaveError> {
        let request = open_check_request(self.enclave.sessions(), frame, now)?;
        if request.queries.len() > MAX_KEY_IMAGES_PER_REQUEST {
            wipe_queries(request.queries);
            return Err(LedgerEnclaveError::TooManyItems);
        }
        let key_images = Zeroizing::new(
            request
                .queries
                .iter()
                .map(|q| {
                    q.key_image
                        .as_ref()
                        .map_or_else(Vec::new, |k| k.data.clone())
                })
                .collect::<Vec<_>>(),
        );
        wipe_queries(request.queries);
        let verified = self.enclave.counters()?.num_blocks;
        let behind = ledger.ledger_blocks.saturating_sub(verified);
        if behind > ledger.max_blocks_behind {
            return Err(LedgerEnclaveError::StoreBehind { behind });
        }
        Ok(PendingCheck {
            client: Some(frame.channel_id.clone()),
            key_images,
            exchange: Exchange::default(),
        })
    }

    /// A check of no key images, to learn what the stores cover.
    pub fn probe() -> PendingCheck {
        PendingCheck {
            client: None,
            key_images: Zeroizing::new(Vec::new()),
            exchange: Exchange::default(),
        }
    }

    /// The encoded frame asking a store the key images of `check`, sealed on the store channel
    /// `channel_id`. A key image that is not 32 bytes long goes as 32 zero bytes, so the
    /// frame's size depends on the number of key images alone.
    pub fn store_request(
        &self,
        check: &PendingCheck,
        channel_id: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let request = CheckKeyImagesRequest {
            queries: check
                .key_images
                .iter()
                .map(|k| {
                    let mut data = alloc::vec![0u8; KEY_IMAGE_LEN];
                    if k.len() == KEY_IMAGE_LEN {
                        data.copy_from_slice(k);
                    }
                    KeyImageQuery {
                        key_image: Some(WireKeyImage { data }),
                        start_block: 0,
                    }
                })
                .collect(),
        };
        let encoded = Zeroizing::new(request.encode_to_vec());
        wipe_queries(request.queries);
        self.stores
            .seal_request(channel_id, &encoded, now, &check.exchange)
    }

    /// Opens one store's answer to a check of `n` key images: its coverage and its answer,
    /// or `None` when it does not open or decode, or does not hold `n` results.
    fn open_answer(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        n: usize,
        now: UnixSeconds,
        of: &Exchange,
    ) -> Option<(ShardCoverage, Wiped)> {
        let plain = Zeroizing::new(self.stores.open_response(channel_id, frame, now, of).ok()?);
        let mut reply = KeyImageStoreResponse::decode(plain.as_slice()).ok()?;
        drop(plain);
        let response = Wiped(reply.response.take()?);
        let blocks = reply.block_range?;
        if blocks.start_block > blocks.end_block || response.0.results.len() != n {
            return None;
        }
        let coverage = ShardCoverage {
            blocks,
            processed: response
                .0
                .num_blocks
                .min(blocks.end_block)
                .max(blocks.start_block),
            loaded_end: response.0.num_blocks,
        };
        Some((coverage, response))
    }

    /// Opens the stores' answers (`(channel id, frame)`, or `None` for a store that did not
    /// answer), merges them and seals the client's answer (see the module docs for what it
    /// vouches for). With no usable answer at all, every key image is answered not spent in
    /// the blocks below 0. Fails only when the router's own enclave failed or the client's
    /// session is gone.
    pub fn finish(
        &self,
        check: PendingCheck,
        answers: &[Option<(&[u8], &[u8])>],
        now: UnixSeconds,
    ) -> Result<RoutedCheck, LedgerEnclaveError> {
        let n = check.key_images.len();
        let opened: Vec<Option<(ShardCoverage, Wiped)>> = answers
            .iter()
            .map(|a| {
                a.and_then(|(channel, frame)| {
                    self.open_answer(channel, frame, n, now, &check.exchange)
                })
            })
            .collect();
        let shards: Vec<Option<ShardCoverage>> = opened
            .iter()
            .map(|a| a.as_ref().map(|(coverage, _)| *coverage))
            .collect();
        let answering: Vec<ShardCoverage> = shards.iter().flatten().copied().collect();
        let own = self.enclave.counters()?;
        let num_blocks = contiguous_cover(&answering).min(own.num_blocks);
        let c = self.enclave.counters_at(num_blocks)?;
        let used: Vec<&[KeyImageResult]> = opened
            .iter()
            .flatten()
            .filter(|(coverage, _)| coverage.blocks.start_block <= num_blocks)
            .map(|(_, response)| response.0.results.as_slice())
            .collect();
        let merged_shards = used.len();
        let answer = Wiped(CheckKeyImagesResponse {
            num_blocks: c.num_blocks,
            global_txo_count: c.global_txo_count,
            results: merge_key_image_results(&used, &check.key_images, num_blocks, |_| {}),
            latest_block_version: c.latest_block_version,
            max_block_version: max_block_version(c.latest_block_version),
        });
        drop(used);
        drop(opened);
        let frame = match &check.client {
            Some(channel) => {
                let encoded = Zeroizing::new(answer.0.encode_to_vec());
                self.enclave
                    .sessions()
                    .seal(channel, &encoded, now)
                    .map(Some)
                    .map_err(LedgerEnclaveError::from)
            }
            None => Ok(None),
        };
        if check.client.is_some() {
            self.checks.fetch_add(1, Ordering::Relaxed);
        }
        Ok(RoutedCheck {
            frame,
            shards,
            num_blocks,
            merged_shards,
        })
    }
}

/// A key-image answer whose results (which key images were asked, whether they are spent)
/// are overwritten when it is dropped.
struct Wiped(CheckKeyImagesResponse);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe_results(core::mem::take(&mut self.0.results));
    }
}

/// Merges the contributing stores' results for the key images asked (`key_images`, in
/// request order) into one result per key image, in that order, each echoing its key image.
/// Result `i` starts as not spent (`spent_at` and `timestamp` `u64::MAX`, as a store presets
/// them); every store's result `i` that says spent at a block below `num_blocks`, and before
/// the block taken so far, replaces it by constant-time selects (so the earliest spend wins,
/// as in a single store). A key image that is not 32 bytes long is answered `KeyImageError`,
/// decided by its length (public: the client chose it). `trace` sees every result read, as
/// `store × key_images.len() + i`: the same positions whatever the results say.
pub fn merge_key_image_results(
    shards: &[&[KeyImageResult]],
    key_images: &[Vec<u8>],
    num_blocks: u64,
    mut trace: impl FnMut(usize),
) -> Vec<KeyImageResult> {
    let n = key_images.len();
    let spent = KeyImageResultCode::Spent as u64;
    let not_spent = KeyImageResultCode::NotSpent as u64;
    let malformed = KeyImageResultCode::KeyImageError as u64;
    key_images
        .iter()
        .enumerate()
        .map(|(i, asked)| {
            let mut code = not_spent;
            let mut spent_at = u64::MAX;
            let mut timestamp = u64::MAX;
            for (s, shard) in shards.iter().enumerate() {
                // Lengths are public: every store answers every key image.
                let Some(r) = shard.get(i) else { continue };
                trace(s * n + i);
                let take = ct_eq_u64(u64::from(r.key_image_result_code), spent)
                    & ct_lt_u64(r.spent_at, num_blocks)
                    & ct_lt_u64(r.spent_at, spent_at);
                code = ct_select_u64(take, spent, code);
                spent_at = ct_select_u64(take, r.spent_at, spent_at);
                timestamp = ct_select_u64(take, r.timestamp, timestamp);
            }
            let well_formed = Choice::from(u8::from(asked.len() == KEY_IMAGE_LEN));
            let result = KeyImageResult {
                key_image: Some(WireKeyImage {
                    data: asked.clone(),
                }),
                spent_at: ct_select_u64(well_formed, spent_at, u64::MAX),
                timestamp: ct_select_u64(well_formed, timestamp, u64::MAX),
                timestamp_result_code: TIMESTAMP_FOUND,
                key_image_result_code: ct_select_u64(well_formed, code, malformed) as u32,
            };
            spent_at.zeroize();
            timestamp.zeroize();
            code.zeroize();
            result
        })
        .collect()
}

impl<F: StoreFactory, M> AsRef<StoreLinks> for LedgerRouter<F, M> {
    fn as_ref(&self) -> &StoreLinks {
        &self.stores
    }
}
