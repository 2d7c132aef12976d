//! The balance check as a sans-IO state machine: it says which request to send next, takes
//! the answer, and finally yields the [`Balance`]. It does no I/O, reads no clock and spawns
//! nothing, so tests, a CLI or a phone binding drive it the same way:
//!
//! ```text
//! let mut sync = Sync::new(&account, &state, SyncLimits::default())?;
//! let mut step = sync.start(&mut state)?;
//! while let Step::Send(request) = step {
//!     let response = transport.call(request).await?;   // the only I/O
//!     step = sync.handle(&mut state, response)?;
//! }
//! ```
//!
//! # Phases (services.md 3.4)
//! 1. **View.** Every request carries the next search keys of the RNGs still to search
//!    (at most [`SyncLimits::max_search_keys`] keys) and asks for the user events since the
//!    state's event id, so RNG records, decommissions and missed ranges arrive with search
//!    results. An RNG that answers every key found is asked twice as many next time; one
//!    that answers "not found" is dry. Found records are opened with `c_0`, rebuilt into
//!    TxOuts with the view key and stored by global index.
//! 2. **Missed ranges.** Each pending missed range is fetched with `FogBlockAPI.GetBlocks`
//!    (untrusted: the operator or anyone on the path may change it) and then authenticated
//!    before anything found in it counts. Each block's contents (its key images and TxOuts)
//!    must hash to its header's contents hash, its header must hash to its id, its parent id
//!    must be the id of the block before it and its cumulative TxOut count must follow from
//!    its TxOuts. Then `FogKeyImageAPI.GetBlockIds`, over the fog ledger enclave's attested
//!    channel, gives the id of the last block fetched, from the chain the enclave verified
//!    from the origin block: if it matches, every block fetched is that chain's, and so are
//!    the global indices of its TxOuts. Only then is every TxOut trial-decrypted with the
//!    view key counted. A range shrinks from its start as blocks are authenticated, and stays
//!    pending past the ledger's end or past the enclave's last block.
//! 3. **Key images.** Every owned TxOut not known spent is checked, at most
//!    [`SyncLimits::max_key_images`] per request.
//!
//! # Which view block count is confirmed
//! View answers with its highest processed block count `h`. This client claims `h_j` (the
//! count in answer `j`) only when (a) the user events of a later answer were read, and no
//! answer after `j` brought a new RNG record, so every invocation with records below `h_j`
//! is known; and (b) every RNG was searched dry in an answer after `j`, so all its records
//! below `h_j` (loaded before `h_j` was reported) are found. This holds whatever order the
//! server reads its counters and events in. Answer `-1` is the last one of the previous
//! sync. The claim is the largest such `j`, capped by every later answer's count (a
//! restarted view that reports less may not have reloaded everything). A new RNG record
//! sends every RNG back to be searched; and once everything is dry, if view has moved past
//! the claim, one more request (one key per RNG) confirms the newer count. An incremental
//! check with nothing new is one request.
//!
//! Decommissioned invocations are retired once the confirmed count passes their last block.
//!
//! # Failure
//! Every answer is checked before it changes anything that matters: result counts and keys,
//! result codes (anything but found/not found is an error), block indices outside the
//! request, key images out of order. A found record that does not open with `c_0`, or opens
//! to a TxOut this account does not own, is not an error: anyone can name this account in
//! the fog hint of a TxOut that pays someone else, so such a record counts as found (the RNG
//! moves past it), is skipped, and is counted in [`SyncProgress::records_rejected`]. Facts
//! learned before an error (found TxOuts, RNG records, spent statuses) stay in the state;
//! the confirmed count and the balance only move when a check completes.

use std::collections::{BTreeMap, BTreeSet};

use fog_account::AccountKey;
use fog_transaction::{
    block::{Block, BlockContents},
    KeyImage,
};
use fog_types::{
    common::BlockRange,
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, BlockResponse, CheckKeyImagesRequest,
        CheckKeyImagesResponse, KeyImageQuery, KeyImageResultCode,
    },
    view::{
        FixedTxOutSearchResult, QueryRequest, QueryRequestAad, QueryResponse,
        TxOutSearchResultCode, FIXED_CIPHERTEXT_LENGTH,
    },
};

use crate::{
    error::{ClientError, Result, Service},
    rng::{SearchKey, UserRng},
    scan::{OwnerKeys, RecordOpenError},
    state::{AccountState, Balance, Discovery, OwnedTxOut, RngState, SpentStatus},
};

/// Request sizes and bounds of one sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncLimits {
    /// Search keys per view request (MobileCoin's client: about 500).
    pub max_search_keys: usize,
    /// Key images per key-image request (MobileCoin's client: 100).
    pub max_key_images: usize,
    /// Blocks per `GetBlocks` request when scanning a missed range.
    pub max_blocks: u64,
    /// View requests one sync may make before giving up (a service that keeps announcing
    /// new RNGs, or a bug).
    pub max_view_requests: u64,
}

impl Default for SyncLimits {
    fn default() -> Self {
        Self {
            max_search_keys: 500,
            max_key_images: 100,
            max_blocks: 50,
            max_view_requests: 100_000,
        }
    }
}

/// A request the core wants sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `FogViewAPI.Query`: `aad` in clear, `request` encrypted.
    ViewQuery {
        /// The associated data (event id to start from).
        aad: QueryRequestAad,
        /// The search keys.
        request: QueryRequest,
    },
    /// `FogBlockAPI.GetBlocks` (untrusted).
    GetBlocks(BlockRequest),
    /// `FogKeyImageAPI.GetBlockIds` (attested, Fog's own).
    BlockIds(BlockIdsRequest),
    /// `FogKeyImageAPI.CheckKeyImages`.
    CheckKeyImages(CheckKeyImagesRequest),
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// To [`Request::ViewQuery`].
    ViewQuery(QueryResponse),
    /// To [`Request::GetBlocks`].
    GetBlocks(BlockResponse),
    /// To [`Request::BlockIds`].
    BlockIds(BlockIdsResponse),
    /// To [`Request::CheckKeyImages`].
    CheckKeyImages(CheckKeyImagesResponse),
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send this request and pass its answer to [`Sync::handle`].
    Send(Request),
    /// The check is complete.
    Done(Balance),
}

/// Counters of one sync (for progress displays and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// View requests sent.
    pub view_requests: u64,
    /// Search keys sent.
    pub search_keys: u64,
    /// Records found and opened (this account's).
    pub records_found: u64,
    /// Records found under this account's search keys that were skipped: they do not open
    /// with `c_0`, or they open to a TxOut this account does not own (a sender who named
    /// this account in the fog hint of someone else's TxOut, or a faulty service). Each
    /// still counts as found, so the RNG moves past it.
    pub records_rejected: u64,
    /// Missed blocks scanned with the view key and authenticated.
    pub blocks_scanned: u64,
    /// Key images checked.
    pub key_images_checked: u64,
    /// The view service's block count in its last answer.
    pub view_block_count: u64,
    /// The fog ledger's TxOut count in its last key-image answer (0 if none was asked):
    /// ring members are drawn below it, so they exist for `GetOutputs`.
    pub ledger_txo_count: u64,
}

struct LiveRng {
    rng: UserRng,
    batch: usize,
    to_search: bool,
    /// The answer (index in this sync) in which it was last seen dry.
    dry_at: Option<usize>,
}

impl LiveRng {
    fn new(rng: UserRng) -> Self {
        Self {
            rng,
            batch: 1,
            to_search: true,
            dry_at: None,
        }
    }

    /// Searches it again from its next key (one key if it was dry).
    fn search_again(&mut self) {
        if !self.to_search {
            self.batch = 1;
        }
        self.to_search = true;
        self.dry_at = None;
    }
}

enum InFlight {
    View(Vec<(Vec<u8>, Vec<SearchKey>)>),
    Blocks(BlockRange),
    BlockIds(Fetched),
    KeyImages(Vec<(u64, KeyImage)>),
}

/// Blocks of a missed range that were fetched, checked to form a chain and scanned, waiting
/// for the attested id that authenticates them.
struct Fetched {
    /// The first block's index.
    start: u64,
    /// The id of each block from `start` on, recomputed from its header.
    ids: Vec<[u8; 32]>,
    /// What the scan found in them.
    found: Vec<OwnedTxOut>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    View,
    Missed,
    KeyImages,
    Done,
}

/// One balance check in progress.
pub struct Sync {
    keys: OwnerKeys,
    limits: SyncLimits,
    live: BTreeMap<Vec<u8>, LiveRng>,
    phase: Phase,
    in_flight: Option<InFlight>,
    /// The count in the last answer of the previous sync (answer `-1`).
    previous: u64,
    /// The count in each view answer of this sync.
    counts: Vec<u64>,
    /// The last answer that brought a new RNG record.
    last_new_rng: Option<usize>,
    chased: bool,
    /// Key images still to check, in global-index order.
    key_image_queue: Vec<(u64, KeyImage)>,
    /// Blocks fetched whose attested id is to be asked next.
    fetched: Option<Fetched>,
    progress: SyncProgress,
}

impl core::fmt::Debug for Sync {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sync")
            .field("phase", &self.phase)
            .field("rngs", &self.live.len())
            .field("view_answers", &self.counts.len())
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

fn result_code_name(code: u32) -> String {
    match i32::try_from(code)
        .ok()
        .and_then(|c| TxOutSearchResultCode::try_from(c).ok())
    {
        Some(c) => format!("{c:?}"),
        None => format!("unknown code {code}"),
    }
}

impl Sync {
    /// Prepares a check of `account` from `state`: rebuilds the RNGs of the state.
    pub fn new(account: &AccountKey, state: &AccountState, limits: SyncLimits) -> Result<Self> {
        let keys = OwnerKeys::new(account);
        let mut live = BTreeMap::new();
        for (egress, r) in &state.rngs {
            let rng = UserRng::new(&r.pubkey, keys.c0(), r.counter)
                .map_err(|e| ClientError::State(format!("an RNG record is unusable: {e}")))?;
            live.insert(egress.clone(), LiveRng::new(rng));
        }
        Ok(Self {
            keys,
            limits: SyncLimits {
                max_search_keys: limits.max_search_keys.max(1),
                max_key_images: limits.max_key_images.max(1),
                max_blocks: limits.max_blocks.max(1),
                max_view_requests: limits.max_view_requests.max(2),
            },
            live,
            phase: Phase::View,
            in_flight: None,
            previous: state.last_seen_view_block_count,
            counts: Vec::new(),
            last_new_rng: None,
            chased: false,
            key_image_queue: Vec::new(),
            fetched: None,
            progress: SyncProgress::default(),
        })
    }

    /// Counters so far.
    pub fn progress(&self) -> &SyncProgress {
        &self.progress
    }

    /// The first request. The check always starts with a view request.
    pub fn start(&mut self, state: &mut AccountState) -> Result<Step> {
        if self.in_flight.is_some() || self.phase != Phase::View || self.progress.view_requests > 0
        {
            return Err(ClientError::Misuse("start called twice"));
        }
        Ok(Step::Send(self.view_request(state)))
    }

    /// Takes the answer to the last request and says what comes next.
    pub fn handle(&mut self, state: &mut AccountState, response: Response) -> Result<Step> {
        match (self.in_flight.take(), response) {
            (Some(InFlight::View(asked)), Response::ViewQuery(r)) => {
                self.on_view(state, &asked, &r)?
            }
            (Some(InFlight::Blocks(range)), Response::GetBlocks(r)) => {
                self.on_blocks(state, range, &r)?
            }
            (Some(InFlight::BlockIds(fetched)), Response::BlockIds(r)) => {
                self.on_block_ids(state, fetched, &r)?
            }
            (Some(InFlight::KeyImages(asked)), Response::CheckKeyImages(r)) => {
                self.on_key_images(state, &asked, &r)?
            }
            (None, _) => return Err(ClientError::Misuse("an answer with no request in flight")),
            _ => return Err(ClientError::Misuse("an answer to a different request")),
        }
        self.next(state)
    }

    fn next(&mut self, state: &mut AccountState) -> Result<Step> {
        if self.phase == Phase::View {
            if self.live.values().any(|l| l.to_search) {
                return self.checked_view_request(state);
            }
            let claim = self.claim();
            let last = self.counts.last().copied().unwrap_or(self.previous);
            if !self.chased && last > claim {
                // Confirm the newer count: one more request, every RNG searched again.
                self.chased = true;
                for l in self.live.values_mut() {
                    l.search_again();
                }
                return self.checked_view_request(state);
            }
            self.finish_view(state, claim);
            self.phase = Phase::Missed;
        }
        if self.phase == Phase::Missed {
            if let Some(fetched) = self.fetched.take() {
                let last = fetched.start + fetched.ids.len() as u64 - 1;
                self.in_flight = Some(InFlight::BlockIds(fetched));
                return Ok(Step::Send(Request::BlockIds(BlockIdsRequest {
                    indices: vec![last],
                })));
            }
            if let Some(first) = state.missed_ranges.first() {
                let end = first
                    .end_block
                    .min(first.start_block.saturating_add(self.limits.max_blocks));
                let range = BlockRange::new(first.start_block, end);
                self.in_flight = Some(InFlight::Blocks(range));
                return Ok(Step::Send(Request::GetBlocks(BlockRequest {
                    ranges: vec![range],
                })));
            }
            self.enter_key_images(state);
        }
        if self.phase == Phase::KeyImages {
            if !self.key_image_queue.is_empty() {
                let take = self.key_image_queue.len().min(self.limits.max_key_images);
                let at = self.key_image_queue.len() - take;
                let mut batch = self.key_image_queue.split_off(at);
                batch.reverse();
                let queries = batch
                    .iter()
                    .map(|(index, ki)| KeyImageQuery {
                        key_image: Some(fog_transaction::wire::KeyImage {
                            data: ki.0.to_vec(),
                        }),
                        start_block: state.tx_outs.get(index).map_or(0, |t| t.block_index),
                    })
                    .collect();
                self.in_flight = Some(InFlight::KeyImages(batch));
                return Ok(Step::Send(Request::CheckKeyImages(CheckKeyImagesRequest {
                    queries,
                })));
            }
            self.phase = Phase::Done;
        }
        let balance = state.balance();
        state.settle_pending_sends(balance.block_count);
        Ok(Step::Done(balance))
    }

    /// The view block count this sync can claim (module docs): the count of the latest
    /// answer `j` after the last new RNG record such that a later answer exists and every
    /// RNG went dry after `j`, capped by the counts of all later answers.
    fn claim(&self) -> u64 {
        let m = self.counts.len();
        // Answer indices shifted by one: 0 is the previous sync's last answer.
        let mut j = m; // the last answer of this sync, shifted: has no later answer
        j = j.min(
            self.live
                .values()
                .map(|l| l.dry_at.map_or(0, |d| d + 1))
                .min()
                .unwrap_or(usize::MAX),
        );
        if j == 0 {
            // Not even the previous count is confirmed (an RNG never went dry, which only
            // happens when the search did not finish).
            return 0;
        }
        let j = j - 1; // shifted index of the claimed answer
        if let Some(k) = self.last_new_rng {
            if j < k + 1 {
                return 0;
            }
        }
        let count_at = |shifted: usize| {
            if shifted == 0 {
                self.previous
            } else {
                self.counts[shifted - 1]
            }
        };
        (j..=m).map(count_at).min().unwrap_or(0)
    }

    fn enter_key_images(&mut self, state: &AccountState) {
        self.phase = Phase::KeyImages;
        self.key_image_queue = state
            .tx_outs
            .values()
            .filter(|t| !matches!(t.spent, SpentStatus::Spent { .. }))
            .map(|t| (t.global_index, t.key_image))
            .rev()
            .collect();
    }

    fn checked_view_request(&mut self, state: &AccountState) -> Result<Step> {
        if self.progress.view_requests >= self.limits.max_view_requests {
            return Err(ClientError::bad(
                Service::View,
                format!(
                    "the search did not settle within {} requests",
                    self.limits.max_view_requests
                ),
            ));
        }
        Ok(Step::Send(self.view_request(state)))
    }

    fn view_request(&mut self, state: &AccountState) -> Request {
        let mut budget = self.limits.max_search_keys;
        let mut asked = Vec::new();
        let mut keys = Vec::new();
        for (egress, l) in &self.live {
            if budget == 0 {
                break;
            }
            if !l.to_search {
                continue;
            }
            let n = l.batch.min(budget);
            budget -= n;
            let outputs: Vec<SearchKey> = (0..n as u64).map(|i| l.rng.output(i)).collect();
            keys.extend(outputs.iter().map(|k| k.to_vec()));
            asked.push((egress.clone(), outputs));
        }
        self.progress.view_requests += 1;
        self.progress.search_keys += keys.len() as u64;
        self.in_flight = Some(InFlight::View(asked));
        Request::ViewQuery {
            aad: QueryRequestAad {
                start_from_user_event_id: state.next_user_event_id,
                start_from_block_index: state.view_block_count,
            },
            request: QueryRequest { get_txos: keys },
        }
    }

    fn on_view(
        &mut self,
        state: &mut AccountState,
        asked: &[(Vec<u8>, Vec<SearchKey>)],
        r: &QueryResponse,
    ) -> Result<()> {
        // Check the whole answer before acting on any of it.
        let answer = self.counts.len();
        let results = Self::search_results(asked, r)?;
        let mut opened = Vec::new();
        let mut rejected = 0u64;
        let mut moves = Vec::with_capacity(asked.len());
        for (egress, keys) in asked {
            let mut gap = false;
            let mut found = 0u64;
            for key in keys {
                match results.get(key) {
                    Some(Some(payload)) if !gap => {
                        // Found: the RNG moves past this key whatever the record holds. A
                        // record that does not open, or opens to a TxOut that is not ours,
                        // is skipped: any sender can put our public `C_0` in a fog hint of
                        // a TxOut that pays someone else, and refusing the answer would stop
                        // every later check on the same record.
                        match self.keys.open_record(payload) {
                            Ok(owned) => opened.push(owned),
                            Err(RecordOpenError::Open(_) | RecordOpenError::NotOurs) => {
                                rejected += 1;
                            }
                        }
                        found += 1;
                    }
                    Some(Some(_)) => {
                        return Err(ClientError::bad(
                            Service::View,
                            "a record was found after a search key that was not",
                        ))
                    }
                    Some(None) => gap = true,
                    None => return Err(ClientError::bad(Service::View, "a search key is missing")),
                }
            }
            moves.push((egress, found, gap));
        }
        let mut new_rngs = Vec::new();
        for rec in &r.rngs {
            let Some(pubkey) = rec.pubkey.clone() else {
                return Err(ClientError::bad(Service::View, "an RNG record has no key"));
            };
            let egress = pubkey.public_key.clone();
            if state.rngs.contains_key(&egress)
                || state.retired_rngs.contains(&egress)
                || new_rngs.iter().any(|(e, _, _)| *e == egress)
            {
                continue;
            }
            match UserRng::new(&pubkey, self.keys.c0(), 0) {
                Ok(rng) => new_rngs.push((egress, Some(rng), rec)),
                // A key that is not a point was never an egress key: no record can be
                // under it, so it is retired at once.
                Err(fog_crypto::kex_rng::KexRngError::Key(_)) => new_rngs.push((egress, None, rec)),
                Err(e) => {
                    return Err(ClientError::bad(
                        Service::View,
                        format!("an RNG record is unusable: {e}"),
                    ))
                }
            }
        }

        // The answer is good: apply it.
        for (egress, found, dry) in moves {
            if let Some(l) = self.live.get_mut(egress) {
                for _ in 0..found {
                    l.rng.advance();
                }
                if dry {
                    l.to_search = false;
                    l.dry_at = Some(answer);
                } else {
                    l.batch = l.batch.saturating_mul(2).min(self.limits.max_search_keys);
                }
                if let Some(s) = state.rngs.get_mut(egress) {
                    s.counter = l.rng.counter();
                }
            }
        }
        self.progress.records_rejected += rejected;
        for owned in opened.into_iter().flatten() {
            if state.add_tx_out(owned) {
                self.progress.records_found += 1;
            }
        }
        let new_rng = !new_rngs.is_empty();
        for (egress, rng, rec) in new_rngs {
            let Some(rng) = rng else {
                state.retired_rngs.insert(egress);
                continue;
            };
            let last_ingested_block = state
                .pending_decommissions
                .remove(&rec.ingest_invocation_id);
            state.rngs.insert(
                egress.clone(),
                RngState {
                    ingest_invocation_id: rec.ingest_invocation_id,
                    pubkey: rec.pubkey.clone().unwrap_or_default(),
                    start_block: rec.start_block,
                    counter: 0,
                    last_ingested_block,
                },
            );
            self.live.insert(egress, LiveRng::new(rng));
        }
        for d in &r.decommissioned_ingest_invocations {
            match state
                .rngs
                .values_mut()
                .find(|s| s.ingest_invocation_id == d.ingest_invocation_id)
            {
                Some(s) => s.last_ingested_block = Some(d.last_ingested_block),
                None => {
                    state
                        .pending_decommissions
                        .insert(d.ingest_invocation_id, d.last_ingested_block);
                }
            }
        }
        for m in &r.missed_block_ranges {
            state.add_missed_range(*m);
        }
        state.next_user_event_id = state
            .next_user_event_id
            .max(r.next_start_from_user_event_id);

        self.counts.push(r.highest_processed_block_count);
        self.progress.view_block_count = r.highest_processed_block_count;
        if new_rng {
            // Every RNG must be searched dry again after this answer.
            self.last_new_rng = Some(answer);
            for l in self.live.values_mut() {
                l.search_again();
            }
        }
        Ok(())
    }

    /// The answer's results by search key: `Some(payload)` for found, `None` for not found.
    /// Padding results (all-zero search key, not found), which a partitioned view adds, are
    /// skipped. Refuses a key asked and not answered, a key answered twice, a result for a
    /// key not asked, and every result code other than found and not found.
    fn search_results(
        asked: &[(Vec<u8>, Vec<SearchKey>)],
        r: &QueryResponse,
    ) -> Result<BTreeMap<SearchKey, Option<Vec<u8>>>> {
        let wanted: BTreeSet<SearchKey> =
            asked.iter().flat_map(|(_, k)| k.iter().copied()).collect();
        let legacy;
        let results: &[FixedTxOutSearchResult] =
            if r.fixed_tx_out_search_results.is_empty() && !r.tx_out_search_results.is_empty() {
                legacy = r
                    .tx_out_search_results
                    .iter()
                    .map(|l| FixedTxOutSearchResult {
                        search_key: l.search_key.clone(),
                        result_code: l.result_code,
                        payload_length: u32::try_from(l.ciphertext.len()).unwrap_or(u32::MAX),
                        ciphertext: l.ciphertext.clone(),
                    })
                    .collect::<Vec<_>>();
                &legacy
            } else {
                &r.fixed_tx_out_search_results
            };
        let not_found = TxOutSearchResultCode::NotFound as u32;
        let mut out = BTreeMap::new();
        for res in results {
            let padding = res.result_code == not_found && res.search_key.iter().all(|&b| b == 0);
            let key = match SearchKey::try_from(res.search_key.as_slice()) {
                Ok(k) if wanted.contains(&k) => k,
                _ if padding => continue,
                _ => {
                    return Err(ClientError::bad(
                        Service::View,
                        "a result for a key not asked",
                    ))
                }
            };
            let value = if res.result_code == TxOutSearchResultCode::Found as u32 {
                let payload = res
                    .payload()
                    .filter(|p| !p.is_empty() && p.len() <= FIXED_CIPHERTEXT_LENGTH)
                    .ok_or_else(|| {
                        ClientError::bad(
                            Service::View,
                            "a found result's payload length is out of range",
                        )
                    })?;
                Some(payload.to_vec())
            } else if res.result_code == not_found {
                None
            } else {
                return Err(ClientError::bad(
                    Service::View,
                    format!("search result code {}", result_code_name(res.result_code)),
                ));
            };
            if out.insert(key, value).is_some() {
                return Err(ClientError::bad(
                    Service::View,
                    "two results for one search key",
                ));
            }
        }
        if out.len() != wanted.len() {
            return Err(ClientError::bad(
                Service::View,
                format!(
                    "search results for {} of {} search keys",
                    out.len(),
                    wanted.len()
                ),
            ));
        }
        Ok(out)
    }

    fn finish_view(&mut self, state: &mut AccountState, claim: u64) {
        state.view_block_count = state.view_block_count.max(claim);
        state.last_seen_view_block_count = self.counts.last().copied().unwrap_or(self.previous);
        let confirmed = state.view_block_count;
        let retire: Vec<Vec<u8>> = state
            .rngs
            .iter()
            .filter(|(_, s)| matches!(s.last_ingested_block, Some(last) if last < confirmed))
            .map(|(k, _)| k.clone())
            .collect();
        for k in retire {
            state.rngs.remove(&k);
            self.live.remove(&k);
            state.retired_rngs.insert(k);
        }
    }

    /// Checks that the blocks of `r` are the ones asked for and form a chain (each one's
    /// contents hash to its header, its header to its id, its parent is the block before and
    /// its TxOut count follows), and scans them. Nothing counts until their last id is
    /// attested ([`Self::on_block_ids`]).
    fn on_blocks(
        &mut self,
        state: &mut AccountState,
        range: BlockRange,
        r: &BlockResponse,
    ) -> Result<()> {
        if r.blocks.is_empty() {
            if r.num_blocks > range.start_block {
                return Err(ClientError::bad(
                    Service::Blocks,
                    format!("no blocks for {range} from a ledger of {}", r.num_blocks),
                ));
            }
            // The ledger does not have these blocks yet: the range stays pending and holds
            // the balance's block count below it.
            self.enter_key_images(state);
            return Ok(());
        }
        if r.blocks.len() as u64 > range.len() {
            return Err(ClientError::bad(
                Service::Blocks,
                format!("{} blocks in the answer for {range}", r.blocks.len()),
            ));
        }
        let mut ids: Vec<[u8; 32]> = Vec::with_capacity(r.blocks.len());
        let mut last_count = None;
        let mut found = Vec::new();
        for (b, index) in r.blocks.iter().zip(range.start_block..range.end_block) {
            let bad = |what: &str| {
                ClientError::bad(Service::Blocks, format!("block {}: {what}", b.index))
            };
            if b.index != index || !range.contains(b.index) {
                return Err(ClientError::bad(
                    Service::Blocks,
                    format!("block {} in the answer for {range}", b.index),
                ));
            }
            let header = b.block.as_ref().ok_or_else(|| {
                bad("no header (this fog ledger does not serve blocks a client can authenticate)")
            })?;
            let header = Block::try_from_wire(header).map_err(|_| bad("a malformed header"))?;
            let contents = BlockContents {
                key_images: b
                    .key_images
                    .iter()
                    .map(|k| <[u8; 32]>::try_from(k.data.as_slice()).map(KeyImage))
                    .collect::<core::result::Result<_, _>>()
                    .map_err(|_| bad("a key image is not 32 bytes"))?,
                outputs: b
                    .outputs
                    .iter()
                    .map(fog_transaction::TxOut::try_from_wire)
                    .collect::<core::result::Result<_, _>>()
                    .map_err(|_| bad("a malformed TxOut"))?,
            };
            let outputs = contents.outputs.len() as u64;
            if header.index != b.index || header.cumulative_txo_count != b.global_txo_count {
                return Err(bad("the header is another block's"));
            }
            if contents.hash() != header.contents_hash {
                return Err(bad("its contents do not match its header"));
            }
            if !header.is_id_valid() {
                return Err(bad("its id does not match its header"));
            }
            if let (Some(parent), Some(count)) = (ids.last(), last_count) {
                if header.parent_id != *parent
                    || Some(header.cumulative_txo_count) != outputs.checked_add(count)
                {
                    return Err(bad("it does not follow the block before it"));
                }
            }
            let first = header
                .cumulative_txo_count
                .checked_sub(outputs)
                .ok_or_else(|| bad("fewer TxOuts in the ledger than in the block"))?;
            for (i, tx_out) in contents.outputs.iter().enumerate() {
                if let Some(owned) = self.keys.recognize(
                    tx_out,
                    first + i as u64,
                    b.index,
                    b.timestamp,
                    Discovery::MissedRangeScan,
                ) {
                    found.push(owned);
                }
            }
            ids.push(header.id);
            last_count = Some(header.cumulative_txo_count);
        }
        self.fetched = Some(Fetched {
            start: range.start_block,
            ids,
            found,
        });
        Ok(())
    }

    /// Authenticates the fetched blocks with the fog ledger enclave's answer: the id of the
    /// last one, or, while the enclave has not reached it, the enclave's last block when that
    /// is among them (the blocks up to it count, the rest stay pending). A mismatch is an
    /// error and nothing found in the blocks counts.
    fn on_block_ids(
        &mut self,
        state: &mut AccountState,
        fetched: Fetched,
        r: &BlockIdsResponse,
    ) -> Result<()> {
        let n = fetched.ids.len() as u64;
        let last = fetched.start + n - 1;
        let [asked] = r.ids.as_slice() else {
            return Err(ClientError::bad(
                Service::BlockIds,
                format!("{} block ids for one block", r.ids.len()),
            ));
        };
        let id32 = |data: &[u8]| {
            <[u8; 32]>::try_from(data)
                .map_err(|_| ClientError::bad(Service::BlockIds, "a block id is not 32 bytes"))
        };
        let (verified, attested) = if r.num_blocks > last {
            (n, id32(&asked.data)?)
        } else if !asked.data.is_empty() {
            return Err(ClientError::bad(
                Service::BlockIds,
                format!(
                    "an id for block {last} from a chain of {} blocks",
                    r.num_blocks
                ),
            ));
        } else if r.num_blocks > fetched.start {
            let tip = r
                .last_block_id
                .as_ref()
                .ok_or_else(|| ClientError::bad(Service::BlockIds, "no id of the last block"))?;
            (r.num_blocks - fetched.start, id32(&tip.data)?)
        } else {
            // The enclave has not verified any of these blocks yet: the range stays pending.
            self.enter_key_images(state);
            return Ok(());
        };
        let index = fetched.start + verified - 1;
        if fetched.ids[(verified - 1) as usize] != attested {
            return Err(ClientError::bad(
                Service::Blocks,
                format!(
                    "block {index} is not the block of the chain the fog ledger enclave verified"
                ),
            ));
        }
        let end = fetched.start + verified;
        for owned in fetched.found {
            if owned.block_index < end {
                state.add_tx_out(owned);
            }
        }
        self.progress.blocks_scanned += verified;
        state.missed_scanned_up_to(end);
        if verified < n {
            // The rest waits for the enclave.
            self.enter_key_images(state);
        }
        Ok(())
    }

    fn on_key_images(
        &mut self,
        state: &mut AccountState,
        asked: &[(u64, KeyImage)],
        r: &CheckKeyImagesResponse,
    ) -> Result<()> {
        if r.results.len() != asked.len() {
            return Err(ClientError::bad(
                Service::KeyImages,
                format!("{} results for {} key images", r.results.len(), asked.len()),
            ));
        }
        let mut updates = Vec::with_capacity(asked.len());
        for ((index, ki), res) in asked.iter().zip(&r.results) {
            if res.key_image.as_ref().map(|k| k.data.as_slice()) != Some(ki.0.as_slice()) {
                return Err(ClientError::bad(
                    Service::KeyImages,
                    "results out of order or for other key images",
                ));
            }
            let block = state.tx_outs.get(index).map_or(0, |t| t.block_index);
            let status = if res.key_image_result_code == KeyImageResultCode::Spent as u32 {
                if res.spent_at < block || res.spent_at >= r.num_blocks {
                    return Err(ClientError::bad(
                        Service::KeyImages,
                        format!(
                            "spent at block {} for a TxOut of block {block} in a ledger of {}",
                            res.spent_at, r.num_blocks
                        ),
                    ));
                }
                SpentStatus::Spent {
                    block_index: res.spent_at,
                }
            } else if res.key_image_result_code == KeyImageResultCode::NotSpent as u32 {
                SpentStatus::NotSpent {
                    as_of: r.num_blocks,
                }
            } else {
                let name = i32::try_from(res.key_image_result_code)
                    .ok()
                    .and_then(|c| KeyImageResultCode::try_from(c).ok())
                    .map_or_else(
                        || format!("unknown code {}", res.key_image_result_code),
                        |c| format!("{c:?}"),
                    );
                return Err(ClientError::bad(
                    Service::KeyImages,
                    format!("key image result code {name}"),
                ));
            };
            updates.push((*index, status));
        }
        for (index, status) in updates {
            if let Some(t) = state.tx_outs.get_mut(&index) {
                t.spent = match (t.spent, status) {
                    // An older "not spent as of" stays true if a lagging server says less.
                    (SpentStatus::NotSpent { as_of: old }, SpentStatus::NotSpent { as_of }) => {
                        SpentStatus::NotSpent {
                            as_of: old.max(as_of),
                        }
                    }
                    (_, s) => s,
                };
            }
        }
        self.progress.key_images_checked += asked.len() as u64;
        self.progress.ledger_txo_count = r.global_txo_count;
        Ok(())
    }
}
