//! The view router: the enclave clients talk to when the records are split among view stores
//! by block range (MobileCoin's `fog_view_router`).
//!
//! A client opens its attested session with the router exactly as with a view (the router
//! presents the view enclave's evidence and answers the same messages). The router opens
//! attested channels of its own to every store ([`crate::peers`], [`STORE_CHANNEL`]: both ends
//! present view-enclave evidence), and for each client query:
//! 1. [`ViewRouter::open_query`] opens the client's frame inside the router;
//! 2. [`ViewRouter::store_request`] seals the query (the client's keys and event position)
//!    for each store, on a channel of that store that the host lends for this query alone;
//! 3. [`ViewRouter::finish`] opens the stores' answers, merges them and seals one answer to
//!    the client.
//!
//! # What the merged answer vouches for
//! Each store says its configured range `start..end` and the end of the run of processed
//! blocks from `start` ([`ShardCoverage`]). The router vouches for the blocks the answering
//! stores cover contiguously from block 0 ([`contiguous_cover`]): a store that is down,
//! loading, or answers for another range than expected lowers the count, never raises it.
//! Only the stores whose range starts within that cover contribute search results: a record
//! found by a store past a gap would be a record beyond the count the answer vouches for,
//! after RNG outputs the missing store would have found (which clients refuse). The events
//! come from the answering store with the shortest page (every store loads every event from
//! the same recovery DB, in the same order, so one page is a prefix of another's); a store
//! whose events disagree with that prefix is left out. When any store holds more events than
//! the page, the count is capped at the client's own, as a single view does.
//!
//! # What the host sees
//! The number of keys (as with a single view), the stores asked and the sizes of their
//! answers, which depend on the stores' partitions and the number of keys only, and which
//! stores the answer rests on (their coverage is public: every store reports it in its
//! metrics too). The merge itself ([`merge_results`]) is a bitonic sorting network over the
//! query's keys, one over each store's results, and linear passes: the positions it touches
//! depend on the number of keys and of results alone, never on which store found which key;
//! and the answer holds `padded_batch(n)` results for `n` keys whatever was found, every key
//! asked among them (not found when no store holds it, or no store is inside the cover).
//!
//! Trust side: trusted. No I/O: the host carries every frame, and lends the time.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use fog_attest::{wire::NonceMessage, EnclaveResponder, PeerKey, SessionLimits, UnixSeconds};
use fog_oram::ct::{ct_eq_u64, ct_select_u64};
use fog_oram::osort::{bitonic_sort, ct_gt_prefix};
use fog_types::common::BlockRange;
use fog_types::view::{
    FixedTxOutSearchResult, QueryRequest, QueryRequestAad, QueryResponse, StoreQueryRequest,
    StoreQueryResponse, FIXED_CIPHERTEXT_LENGTH,
};
use prost::Message as _;
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

use crate::peers::{Exchange, PeerChannels, PeerError, StoreLinks};
use crate::sessions::ClientSessions;
use crate::view::{MISS_PAYLOAD_LENGTH, RESULT_FOUND, RESULT_NOT_FOUND, SEARCH_KEY_LEN};
pub use crate::view_enclave::STORE_CHANNEL;
use crate::view_enclave::{padded_batch, ViewEnclaveError, MAX_SEARCH_KEYS};

/// What one store's answer says of its blocks (public).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardCoverage {
    /// The store's configured blocks, `start..end` (`end` = `u64::MAX`: open-ended).
    pub blocks: BlockRange,
    /// The end of the run of processed blocks from `blocks.start_block`.
    pub processed: u64,
    /// One past the highest block the store loaded.
    pub loaded_end: u64,
}

/// The blocks a set of stores covers without a gap from block 0: the largest `c` such that
/// every block below `c` lies in some store's processed run `start..processed`, and no
/// further than the highest block any of them loaded (as a single store: a missed range may
/// reach past the ledger's end).
pub fn contiguous_cover(shards: &[ShardCoverage]) -> u64 {
    let loaded = shards.iter().map(|s| s.loaded_end).max().unwrap_or(0);
    let mut cover = 0u64;
    loop {
        let next = shards
            .iter()
            .filter(|s| s.blocks.start_block <= cover)
            .map(|s| s.processed.min(s.blocks.end_block))
            .fold(cover, u64::max);
        if next == cover {
            return cover.min(loaded);
        }
        cover = next;
    }
}

/// A client query the router opened, waiting for the stores' answers. It holds the client's
/// search keys (wiped on drop); the host keeps it between the calls but cannot read it.
pub struct PendingQuery {
    /// The client's session (`None` for a probe).
    client: Option<Vec<u8>>,
    aad: QueryRequestAad,
    keys: Zeroizing<Vec<[u8; SEARCH_KEY_LEN]>>,
    /// The requests sealed for it: only their answers are opened for it.
    exchange: Exchange,
}

impl core::fmt::Debug for PendingQuery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingQuery")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl PendingQuery {
    /// How many search keys the client sent (public: the frame's size shows it).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

/// The merged answer.
#[derive(Debug)]
pub struct RoutedAnswer {
    /// The answer sealed to the client (`None` for a probe), or why it could not be sealed
    /// (the client's session is gone): the stores' answers still count.
    pub frame: Result<Option<NonceMessage>, ViewEnclaveError>,
    /// Per store answer given to [`ViewRouter::finish`]: what it covers, or `None` when it
    /// was missing, did not open or decode, or disagreed with the others' events (the host
    /// should drop that channel).
    pub shards: Vec<Option<ShardCoverage>>,
    /// The processed block count the answer vouches for.
    pub processed: u64,
    /// The stores whose results were merged (public).
    pub merged_shards: usize,
}

/// The view router enclave.
pub struct ViewRouter {
    sessions: ClientSessions,
    stores: StoreLinks,
    queries: AtomicU64,
}

impl core::fmt::Debug for ViewRouter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ViewRouter")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// A store's answer after opening and checking.
struct Answer {
    coverage: ShardCoverage,
    /// Its results sorted for the merge (set by `finish`).
    sorted: Option<Zeroizing<Vec<Entry>>>,
    response: QueryResponse,
    truncated: bool,
    loaded_end_timestamp: u64,
}

impl ViewRouter {
    /// A router answering clients with `responder` (view-enclave evidence) and reaching its
    /// stores over `stores` (made for [`STORE_CHANNEL`], accepting view enclaves only).
    pub fn new(
        responder: EnclaveResponder,
        session_capacity: usize,
        limits: SessionLimits,
        stores: PeerChannels,
    ) -> Self {
        Self {
            sessions: ClientSessions::new(responder, session_capacity, limits),
            stores: StoreLinks::new(stores),
            queries: AtomicU64::new(0),
        }
    }

    /// The client sessions (handshakes, evidence).
    pub fn sessions(&self) -> &ClientSessions {
        &self.sessions
    }

    /// Queries merged so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Answers a client's NX hello from `peer`, as a view does.
    pub fn auth(
        &self,
        hello: &[u8],
        peer: PeerKey,
        now: UnixSeconds,
    ) -> Result<Vec<u8>, ViewEnclaveError> {
        Ok(self.sessions.accept(hello, peer, now)?)
    }

    /// Its channels to the stores (the host drives their handshakes).
    pub fn store_links(&self) -> &StoreLinks {
        &self.stores
    }

    /// Opens a client's query frame (authenticated before anything else).
    pub fn open_query(
        &self,
        frame: &NonceMessage,
        now: UnixSeconds,
    ) -> Result<PendingQuery, ViewEnclaveError> {
        let plaintext = Zeroizing::new(self.sessions.open(frame, now)?);
        let aad = QueryRequestAad::decode(frame.aad.as_slice())
            .map_err(|_| ViewEnclaveError::Malformed)?;
        let mut request =
            QueryRequest::decode(plaintext.as_slice()).map_err(|_| ViewEnclaveError::Malformed)?;
        drop(plaintext);
        let too_many = request.get_txos.len() > MAX_SEARCH_KEYS;
        // A key of the wrong length is asked as the bad (all-zero) key, as a store would.
        let keys = Zeroizing::new(
            request
                .get_txos
                .iter()
                .map(|k| <[u8; SEARCH_KEY_LEN]>::try_from(k.as_slice()).unwrap_or_default())
                .collect::<Vec<_>>(),
        );
        request.get_txos.iter_mut().for_each(|k| k.zeroize());
        if too_many {
            return Err(ViewEnclaveError::TooManyKeys);
        }
        Ok(PendingQuery {
            client: Some(frame.channel_id.clone()),
            aad,
            keys,
            exchange: Exchange::default(),
        })
    }

    /// A query with no keys and no events, to learn what the stores cover.
    pub fn probe() -> PendingQuery {
        PendingQuery {
            client: None,
            aad: QueryRequestAad {
                start_from_user_event_id: i64::MAX,
                start_from_block_index: 0,
            },
            keys: Zeroizing::new(Vec::new()),
            exchange: Exchange::default(),
        }
    }

    /// The encoded frame asking a store `query`, sealed on the store channel `channel_id`.
    pub fn store_request(
        &self,
        query: &PendingQuery,
        channel_id: &[u8],
        now: UnixSeconds,
    ) -> Result<Vec<u8>, PeerError> {
        let mut request = StoreQueryRequest {
            aad: Some(query.aad),
            get_txos: query.keys.iter().map(|k| k.to_vec()).collect(),
        };
        let encoded = Zeroizing::new(request.encode_to_vec());
        request.get_txos.iter_mut().for_each(|k| k.zeroize());
        self.stores
            .seal_request(channel_id, &encoded, now, &query.exchange)
    }

    /// Opens one store's answer; `None` when it does not open or decode, or is malformed.
    fn open_answer(
        &self,
        channel_id: &[u8],
        frame: &[u8],
        now: UnixSeconds,
        of: &Exchange,
    ) -> Option<Answer> {
        let plaintext = Zeroizing::new(self.stores.open_response(channel_id, frame, now, of).ok()?);
        let mut reply = StoreQueryResponse::decode(plaintext.as_slice()).ok()?;
        drop(plaintext);
        let blocks = reply.block_range?;
        let mut response = reply.response.take()?;
        let well_formed = blocks.start_block < blocks.end_block
            && response.fixed_tx_out_search_results.iter().all(|r| {
                r.search_key.len() == SEARCH_KEY_LEN
                    && r.ciphertext.len() == FIXED_CIPHERTEXT_LENGTH
            });
        if !well_formed {
            wipe(&mut response.fixed_tx_out_search_results);
            return None;
        }
        Some(Answer {
            coverage: ShardCoverage {
                blocks,
                processed: response.highest_processed_block_count,
                loaded_end: reply.loaded_end,
            },
            response,
            sorted: None,
            truncated: reply.events_truncated,
            loaded_end_timestamp: reply.loaded_end_timestamp,
        })
    }

    /// Opens the stores' answers (`(channel id, frame)`, or `None` for a store that did not
    /// answer), merges them and seals the client's answer. `host` adds the last known block
    /// count when no store reported one. Fails only when no store answered at all, or the
    /// client's session is gone.
    pub fn finish(
        &self,
        query: PendingQuery,
        answers: &[Option<(&[u8], &[u8])>],
        now: UnixSeconds,
    ) -> Result<RoutedAnswer, ViewEnclaveError> {
        let mut opened: Vec<Option<Answer>> = answers
            .iter()
            .map(|a| {
                a.and_then(|(channel, frame)| {
                    self.open_answer(channel, frame, now, &query.exchange)
                })
            })
            .collect();
        // Events: the shortest page; a store whose page disagrees with it is left out.
        let chosen = opened
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                a.as_ref()
                    .map(|a| (i, a.response.next_start_from_user_event_id))
            })
            .min_by_key(|&(_, next)| next)
            .map(|(i, _)| i)
            .ok_or(ViewEnclaveError::Unavailable)?;
        // The events only: the results stay where they are wiped.
        let base = opened[chosen]
            .as_ref()
            .map(|a| QueryResponse {
                next_start_from_user_event_id: a.response.next_start_from_user_event_id,
                missed_block_ranges: a.response.missed_block_ranges.clone(),
                rngs: a.response.rngs.clone(),
                decommissioned_ingest_invocations: a
                    .response
                    .decommissioned_ingest_invocations
                    .clone(),
                ..QueryResponse::default()
            })
            .unwrap_or_default();
        for a in &mut opened {
            let agrees = a
                .as_ref()
                .is_some_and(|a| events_extend(&a.response, &base));
            if !agrees {
                if let Some(mut bad) = a.take() {
                    wipe(&mut bad.response.fixed_tx_out_search_results);
                }
            }
        }
        // Each store's results, sorted as the query's keys; a store whose results are not an
        // answer to exactly these keys is left out.
        let sorted = sorted_keys(&query.keys, &mut |_| {});
        for a in &mut opened {
            let sorted_answer = a.as_ref().and_then(|a| {
                sort_store(
                    &a.response.fixed_tx_out_search_results,
                    &sorted,
                    &mut |_| {},
                )
            });
            match (a.as_mut(), sorted_answer) {
                (Some(answer), Some(entries)) => answer.sorted = Some(entries),
                (Some(_), None) => {
                    if let Some(mut bad) = a.take() {
                        wipe(&mut bad.response.fixed_tx_out_search_results);
                    }
                }
                (None, _) => {}
            }
        }
        let truncated = opened.iter().flatten().any(|a| {
            a.truncated
                || a.response.next_start_from_user_event_id > base.next_start_from_user_event_id
        });
        let shards: Vec<Option<ShardCoverage>> = opened
            .iter()
            .map(|a| a.as_ref().map(|a| a.coverage))
            .collect();
        let cover = contiguous_cover(&shards.iter().flatten().copied().collect::<Vec<_>>());
        let processed = if truncated {
            cover.min(query.aad.start_from_block_index)
        } else {
            cover
        };
        // The timestamp of block `processed - 1`, from a store that reported it.
        let timestamp = opened
            .iter()
            .flatten()
            .find_map(|a| {
                let c = a.coverage;
                if c.blocks.start_block < processed && c.processed == processed {
                    Some(a.response.highest_processed_block_signature_timestamp)
                } else if processed > 0 && c.loaded_end == processed {
                    Some(a.loaded_end_timestamp)
                } else {
                    None
                }
            })
            .unwrap_or(0);
        let used: Vec<Zeroizing<Vec<Entry>>> = opened
            .iter_mut()
            .flatten()
            .filter(|a| a.coverage.blocks.start_block <= cover)
            .filter_map(|a| a.sorted.take())
            .collect();
        let merged_shards = used.len();
        let results = combine(&sorted, &used, &mut |_| {});
        drop(used);
        let (known, txos) = opened
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.response.last_known_block_count,
                    a.response.last_known_block_cumulative_txo_count,
                )
            })
            .max()
            .unwrap_or_default();
        for a in opened.iter_mut().flatten() {
            wipe(&mut a.response.fixed_tx_out_search_results);
        }
        let mut answer = QueryResponse {
            highest_processed_block_count: processed,
            highest_processed_block_signature_timestamp: timestamp,
            next_start_from_user_event_id: base.next_start_from_user_event_id,
            missed_block_ranges: base.missed_block_ranges,
            rngs: base.rngs,
            decommissioned_ingest_invocations: base.decommissioned_ingest_invocations,
            last_known_block_count: known,
            last_known_block_cumulative_txo_count: txos,
            fixed_tx_out_search_results: results,
            ..QueryResponse::default()
        };
        let frame = match &query.client {
            Some(channel) => {
                let encoded = Zeroizing::new(answer.encode_to_vec());
                self.sessions
                    .seal(channel, &encoded, now)
                    .map(Some)
                    .map_err(ViewEnclaveError::from)
            }
            None => Ok(None),
        };
        wipe(&mut answer.fixed_tx_out_search_results);
        if query.client.is_some() {
            self.queries.fetch_add(1, Ordering::Relaxed);
        }
        Ok(RoutedAnswer {
            frame,
            shards,
            processed,
            merged_shards,
        })
    }
}

/// Whether `a`'s events start with `base`'s (each of the three lists a prefix).
fn events_extend(a: &QueryResponse, base: &QueryResponse) -> bool {
    a.rngs.starts_with(&base.rngs)
        && a.decommissioned_ingest_invocations
            .starts_with(&base.decommissioned_ingest_invocations)
        && a.missed_block_ranges.starts_with(&base.missed_block_ranges)
}

fn wipe(results: &mut [FixedTxOutSearchResult]) {
    for r in results {
        r.search_key.zeroize();
        r.ciphertext.zeroize();
    }
}

/// Words of a merge entry: flag (1 for padding), two key words, code, payload length, 32
/// words of ciphertext.
const ENTRY_WORDS: usize = 5 + FIXED_CIPHERTEXT_LENGTH.div_ceil(8);
type Entry = [u64; ENTRY_WORDS];
const FLAG: usize = 0;
const KEY: usize = 1;
const CODE: usize = 3;
const LEN: usize = 4;
const TEXT: usize = 5;

/// A position the merge touches: `Pair(i, j)` for a compare-exchange, `At(i)` for a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeAccess {
    /// A compare-exchange of entries `i` and `j` in one of the sorts.
    Pair(usize, usize),
    /// Entry `i` read or written in a linear pass.
    At(usize),
}

/// The query's keys, padding last and then by key: `padded_batch(n)` entries of (flag, key
/// words), the all-zero (malformed) key counting as padding.
fn sorted_keys(
    keys: &[[u8; SEARCH_KEY_LEN]],
    trace: &mut impl FnMut(MergeAccess),
) -> Zeroizing<Vec<[u64; 3]>> {
    let k = padded_batch(keys.len());
    let mut out: Zeroizing<Vec<[u64; 3]>> = Zeroizing::new(vec![[1, 0, 0]; k]);
    for (e, key) in out.iter_mut().zip(keys) {
        let (hi, lo) = key_words(key);
        *e = [u64::from(ct_eq_u64(hi | lo, 0).unwrap_u8()), hi, lo];
    }
    bitonic_sort(
        &mut out,
        |a, b| ct_gt_prefix(a, b, 3),
        |x, y| trace(MergeAccess::Pair(x, y)),
    );
    out
}

fn key_words(key: &[u8]) -> (u64, u64) {
    let mut w = [0u8; 8];
    w.copy_from_slice(&key[..8]);
    let hi = u64::from_be_bytes(w);
    w.copy_from_slice(&key[8..SEARCH_KEY_LEN]);
    let lo = u64::from_be_bytes(w);
    w.zeroize();
    (hi, lo)
}

/// One store's results sorted as the query's keys are and cut to their length, or `None` when
/// its keys are not the query's (declassified: an attested store always answers exactly the
/// keys asked, so this says only whether a store is broken).
fn sort_store(
    results: &[FixedTxOutSearchResult],
    query: &[[u64; 3]],
    trace: &mut impl FnMut(MergeAccess),
) -> Option<Zeroizing<Vec<Entry>>> {
    let k = query.len();
    if results.len() < k
        || results.iter().any(|r| {
            r.search_key.len() != SEARCH_KEY_LEN || r.ciphertext.len() != FIXED_CIPHERTEXT_LENGTH
        })
    {
        return None;
    }
    let n = results.len().next_power_of_two();
    let mut entries: Zeroizing<Vec<Entry>> = Zeroizing::new(vec![[0u64; ENTRY_WORDS]; n]);
    for (i, (e, r)) in entries.iter_mut().zip(results).enumerate() {
        trace(MergeAccess::At(i));
        let (hi, lo) = key_words(&r.search_key);
        e[FLAG] = u64::from(ct_eq_u64(hi | lo, 0).unwrap_u8());
        e[KEY] = hi;
        e[KEY + 1] = lo;
        e[CODE] = u64::from(r.result_code);
        e[LEN] = u64::from(r.payload_length);
        let mut text = [0u8; 256];
        text[..FIXED_CIPHERTEXT_LENGTH].copy_from_slice(&r.ciphertext);
        for (w, chunk) in e[TEXT..].iter_mut().zip(text.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        text.zeroize();
    }
    for e in entries[results.len()..].iter_mut() {
        e[FLAG] = 1;
    }
    bitonic_sort(
        &mut entries,
        |a, b| ct_gt_prefix(a, b, 3),
        |x, y| trace(MergeAccess::Pair(x, y)),
    );
    entries.truncate(k);
    let mut same = Choice::from(1u8);
    for (i, (e, q)) in entries.iter().zip(query).enumerate() {
        trace(MergeAccess::At(i));
        same &= ct_eq_u64(e[FLAG], q[0]) & ct_eq_u64(e[KEY], q[1]) & ct_eq_u64(e[KEY + 1], q[2]);
    }
    bool::from(same).then_some(entries)
}

/// The answer for the query's sorted keys from the stores' sorted results: position `i` is
/// key `i`, found if any store found it (every store holds the same record for a key), a
/// repeat of the key before it or padding (zero key, not found) otherwise.
fn combine(
    query: &[[u64; 3]],
    stores: &[Zeroizing<Vec<Entry>>],
    trace: &mut impl FnMut(MergeAccess),
) -> Vec<FixedTxOutSearchResult> {
    let mut out = Vec::with_capacity(query.len());
    let found = u64::from(RESULT_FOUND);
    let mut prev = [1u64, 0, 0];
    for (i, q) in query.iter().enumerate() {
        trace(MergeAccess::At(i));
        let mut code = u64::from(RESULT_NOT_FOUND);
        let mut len = u64::from(MISS_PAYLOAD_LENGTH);
        let mut text = [0u64; ENTRY_WORDS - TEXT];
        for store in stores {
            let e = &store[i];
            let take = ct_eq_u64(e[CODE], found);
            code = ct_select_u64(take, found, code);
            len = ct_select_u64(take, e[LEN], len);
            for (t, w) in text.iter_mut().zip(&e[TEXT..]) {
                *t = ct_select_u64(take, *w, *t);
            }
        }
        let repeat = ct_eq_u64(q[1], prev[1]) & ct_eq_u64(q[2], prev[2]) & ct_eq_u64(prev[0], 0);
        let keep = ct_eq_u64(q[0], 0) & !repeat;
        prev = *q;
        let mut key = [0u8; SEARCH_KEY_LEN];
        key[..8].copy_from_slice(&ct_select_u64(keep, q[1], 0).to_be_bytes());
        key[8..].copy_from_slice(&ct_select_u64(keep, q[2], 0).to_be_bytes());
        let mut bytes = [0u8; 256];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(&text) {
            chunk.copy_from_slice(&ct_select_u64(keep, *w, 0).to_le_bytes());
        }
        out.push(FixedTxOutSearchResult {
            search_key: key.to_vec(),
            result_code: ct_select_u64(keep, code, u64::from(RESULT_NOT_FOUND)) as u32,
            ciphertext: bytes[..FIXED_CIPHERTEXT_LENGTH].to_vec(),
            payload_length: ct_select_u64(keep, len, u64::from(MISS_PAYLOAD_LENGTH)) as u32,
        });
        key.zeroize();
        bytes.zeroize();
        text.zeroize();
    }
    prev.zeroize();
    out
}

/// Merges the stores' results for a query of `keys` into `padded_batch(keys.len())`
/// results: every non-zero key asked, exactly once, found if any store found it, then
/// padding (zero key, not found); `None` if some store's results are not an answer to
/// exactly these keys. `trace` sees every position touched.
///
/// Obliviously: the query's keys are sorted (padding last, then by key) with a bitonic
/// network, and so is each store's answer (each store answers every key asked, in its own
/// order, with padding); the first `padded_batch(n)` entries of every sorted answer then hold
/// the query's keys at the same positions, and one linear pass takes, at each position, a
/// found result from any store by constant-time selects, and turns a repeated key into
/// padding. The positions touched depend on the number of keys and of each store's results
/// only. The cost is one sort per store instead of one over all the stores' results together.
pub fn merge_results(
    shards: &[&[FixedTxOutSearchResult]],
    keys: &[[u8; SEARCH_KEY_LEN]],
    mut trace: impl FnMut(MergeAccess),
) -> Option<Vec<FixedTxOutSearchResult>> {
    let query = sorted_keys(keys, &mut trace);
    let stores = shards
        .iter()
        .map(|s| sort_store(s, &query, &mut trace))
        .collect::<Option<Vec<_>>>()?;
    Some(combine(&query, &stores, &mut trace))
}

impl AsRef<StoreLinks> for ViewRouter {
    fn as_ref(&self) -> &StoreLinks {
        &self.stores
    }
}
