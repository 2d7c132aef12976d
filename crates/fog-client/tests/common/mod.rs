//! A scripted fog: a ledger, ingest invocations that write one record per fog TxOut, a view
//! service and a key-image service whose progress the test sets, all in memory. It answers
//! the sync core's requests, and knows the true balance of the account under test at every
//! block count. [`system`] runs the real services in-process instead, for the end-to-end
//! tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod system;

use std::collections::{BTreeMap, HashMap};

use fog_account::{AccountKey, PublicAddress};
use fog_client::{
    sync::{Request, Response, Step, Sync, SyncLimits, SyncProgress},
    AccountState, Balance, ClientError,
};
use fog_crypto::{
    kex_rng::{KexRng, KexRngPubkey, VERSION_ID},
    RistrettoPrivate,
};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{Range, TxOutMembershipElement},
    memo::{authenticated_sender_memo, AuthenticatedId, SenderMemoCredential},
    Amount, BlockVersion, EncryptedFogHint, KeyImage, TokenId, TxOut, TxOutRecord,
};
use fog_types::{
    common::BlockRange,
    ledger::{
        BlockData, BlockIdsResponse, BlockResponse, CheckKeyImagesResponse, KeyImageResult,
        KeyImageResultCode, TIMESTAMP_FOUND,
    },
    view::{
        DecommissionedIngestInvocation, FixedTxOutSearchResult, QueryResponse, RngRecord,
        TxOutSearchResultCode, FIXED_CIPHERTEXT_LENGTH,
    },
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Changes an answer; returns whether it applied.
pub type Tamper = Box<dyn FnMut(&mut Response) -> bool + Send>;

/// Makes the headers of a changed answer agree with its blocks again: each block's contents
/// hash, TxOut count (from its `global_txo_count`), parent (the forged block before it) and
/// id are recomputed.
pub fn reforge(r: &mut BlockResponse) {
    let mut parent: Option<[u8; 32]> = None;
    for b in &mut r.blocks {
        let header = Block::try_from_wire(b.block.as_ref().unwrap()).unwrap();
        let contents = BlockContents::try_from_wire(&fog_transaction::wire::BlockContents {
            key_images: b.key_images.clone(),
            outputs: b.outputs.clone(),
        })
        .unwrap();
        let forged = Block::new(
            header.version,
            parent.unwrap_or(header.parent_id),
            header.index,
            b.global_txo_count,
            header.root_element,
            &contents,
        );
        parent = Some(forged.id);
        b.block = Some(forged.to_wire());
    }
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn fog_account(rng: &mut ChaCha20Rng) -> AccountKey {
    AccountKey::random(rng).with_fog("insecure-fog://127.0.0.1:1", "", b"authority")
}

#[derive(Clone, Debug)]
pub enum Event {
    Rng(RngRecord),
    Decommission(DecommissionedIngestInvocation),
    Missed(BlockRange),
}

struct Invocation {
    id: i64,
    egress: RistrettoPrivate,
    start_block: u64,
    counter: u64,
}

/// One TxOut of the account under test, as the ledger holds it.
#[derive(Clone, Debug)]
pub struct Truth {
    pub block: u64,
    pub amount: Amount,
    pub key_image: KeyImage,
    pub spent_at: Option<u64>,
    pub global_index: u64,
}

/// Where a payment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    /// The user's default subaddress.
    User,
    /// The user's change subaddress (fog hint naming the default one).
    UserChange,
    /// Someone else with fog.
    Stranger,
    /// The user, signed by the sender account (authenticated sender memo).
    UserFromSender,
    /// The sender's own TxOut whose fog hint names the user (a hostile sender): ingest files
    /// its record under the user's RNG, encrypted to the user's `C_0`.
    SenderHintingUser,
}

pub struct FakeFog {
    pub rng: ChaCha20Rng,
    pub user: AccountKey,
    pub sender: AccountKey,
    user_c0_public: fog_crypto::RistrettoPublic,
    pub blocks: Vec<BlockData>,
    /// The true chain's headers (what the fog ledger enclave verified).
    pub headers: Vec<Block>,
    pub truth: BTreeMap<u64, Truth>,
    txo_count: u64,
    invocations: Vec<Invocation>,
    /// Search key → (payload, block).
    records: HashMap<[u8; 16], (Vec<u8>, u64)>,
    pub events: Vec<Event>,
    /// How many of the newest events the next view answer does not carry (a server that
    /// read its events before its block count). Only events created since the previous view
    /// answer can be hidden; applies to one answer.
    pub hide_events: usize,
    events_at_last_answer: usize,
    /// Records of blocks below this are in the view store.
    pub view_loaded: u64,
    /// The count view reports.
    pub view_count: u64,
    /// The count the key-image service reports (its store has blocks below it).
    pub ledger_count: u64,
    /// Blocks the untrusted block service returns (below this).
    pub block_service_count: u64,
    /// The highest count view ever reported.
    pub view_count_high: u64,
    /// Requests answered, by kind.
    pub view_requests: u64,
    pub key_image_requests: u64,
    pub block_requests: u64,
    pub block_id_requests: u64,
    pub keys_per_view_request: Vec<usize>,
    pub key_images_per_request: Vec<usize>,
    /// The largest answer, encoded.
    pub max_answer_bytes: usize,
    /// Changes the next answer of its kind (faults): returns whether it applied; it stays
    /// armed until it does.
    pub tamper: Option<Tamper>,
    /// Ingest is down: blocks get no records (for missed ranges).
    pub ingest_down: bool,
}

impl FakeFog {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let user = fog_account(&mut rng);
        let sender = fog_account(&mut rng);
        let user_c0_public = *user.default_subaddress().view_public_key();
        let mut f = Self {
            rng,
            user,
            sender,
            user_c0_public,
            blocks: Vec::new(),
            headers: Vec::new(),
            truth: BTreeMap::new(),
            txo_count: 0,
            invocations: Vec::new(),
            records: HashMap::new(),
            events: Vec::new(),
            hide_events: 0,
            events_at_last_answer: 0,
            view_loaded: 0,
            view_count: 0,
            ledger_count: 0,
            block_service_count: 0,
            view_count_high: 0,
            view_requests: 0,
            key_image_requests: 0,
            block_requests: 0,
            block_id_requests: 0,
            keys_per_view_request: Vec::new(),
            key_images_per_request: Vec::new(),
            max_answer_bytes: 0,
            tamper: None,
            ingest_down: false,
        };
        f.new_invocation();
        f
    }

    /// A new ingest invocation starting at the next block (the previous one, if any, is
    /// decommissioned with its last block).
    pub fn new_invocation(&mut self) -> i64 {
        let start = self.blocks.len() as u64;
        if let Some(prev) = self.invocations.last() {
            let last = start.saturating_sub(1);
            let id = prev.id;
            self.events
                .push(Event::Decommission(DecommissionedIngestInvocation {
                    ingest_invocation_id: id,
                    last_ingested_block: last,
                }));
        }
        let id = self.invocations.len() as i64 + 1;
        let egress = RistrettoPrivate::random(&mut self.rng);
        self.events.push(Event::Rng(RngRecord {
            ingest_invocation_id: id,
            pubkey: Some(KexRngPubkey {
                public_key: egress.public_key().to_bytes().to_vec(),
                version: VERSION_ID,
            }),
            start_block: start,
        }));
        self.invocations.push(Invocation {
            id,
            egress,
            start_block: start,
            counter: 0,
        });
        id
    }

    /// Reports a missed range (a lost ingress key).
    pub fn missed(&mut self, range: BlockRange) {
        self.events.push(Event::Missed(range));
    }

    fn address(&self, to: To) -> PublicAddress {
        match to {
            To::User | To::UserFromSender => self.user.default_subaddress(),
            To::UserChange => self.user.change_subaddress(),
            To::Stranger | To::SenderHintingUser => self.sender.default_subaddress(),
        }
    }

    /// Appends a block paying `payments` and spending the user's TxOuts at `spends` (global
    /// indices). Returns the global indices of the user's new TxOuts.
    pub fn add_block(&mut self, payments: &[(To, u64)], spends: &[u64]) -> Vec<u64> {
        let block = self.blocks.len() as u64;
        let mut outputs = Vec::new();
        let mut mine = Vec::new();
        for &(to, value) in payments {
            let address = self.address(to);
            let r = RistrettoPrivate::random(&mut self.rng);
            let credential = SenderMemoCredential::from_account(&self.sender);
            let tx_out = TxOut::new_with_memo(
                BlockVersion::THREE,
                Amount::new(value, TokenId::MOB),
                &address,
                &r,
                EncryptedFogHint::fake_onetime_hint(&mut self.rng),
                |ctx| {
                    Ok(if to == To::UserFromSender {
                        authenticated_sender_memo(
                            &credential,
                            address.view_public_key(),
                            ctx.tx_public_key.as_bytes(),
                            AuthenticatedId::None,
                        )
                    } else {
                        Default::default()
                    })
                },
            )
            .unwrap();
            let global = self.txo_count + outputs.len() as u64;
            if !matches!(to, To::Stranger | To::SenderHintingUser) {
                let sub = if to == To::UserChange {
                    fog_account::CHANGE_SUBADDRESS_INDEX
                } else {
                    0
                };
                let ki = tx_out
                    .key_image(
                        self.user.view_private_key(),
                        &self.user.subaddress_spend_private(sub),
                    )
                    .unwrap();
                self.truth.insert(
                    global,
                    Truth {
                        block,
                        amount: Amount::new(value, TokenId::MOB),
                        key_image: ki,
                        spent_at: None,
                        global_index: global,
                    },
                );
                mine.push(global);
            }
            outputs.push((tx_out, to));
        }
        // Ingest: one record per TxOut (the user's under its RNG, others under keys nobody
        // can derive).
        for (i, (tx_out, to)) in outputs.iter().enumerate() {
            if self.ingest_down {
                break;
            }
            let global = self.txo_count + i as u64;
            let record = TxOutRecord::new(tx_out, global, block, 1_700_000_000 + block).unwrap();
            let (key, payload) = if *to == To::Stranger {
                let mut k = [0u8; 16];
                self.rng.fill_bytes(&mut k);
                let payload = record.encrypt(
                    &mut self.rng,
                    self.sender.default_subaddress().view_public_key(),
                );
                (k, payload)
            } else {
                let inv = self.invocations.last_mut().unwrap();
                let mut kex = KexRng::from_static_static(&inv.egress, &self.user_c0_public);
                for _ in 0..inv.counter {
                    kex.advance();
                }
                inv.counter += 1;
                let payload = record.encrypt(&mut self.rng, &self.user_c0_public);
                (*kex.peek(), payload)
            };
            self.records.insert(key, (payload, block));
        }
        let mut key_images = Vec::new();
        for g in spends {
            let t = self.truth.get_mut(g).unwrap();
            assert!(t.spent_at.is_none());
            t.spent_at = Some(block);
            key_images.push(t.key_image);
        }
        key_images.sort();
        self.txo_count += outputs.len() as u64;
        let contents = BlockContents {
            key_images,
            outputs: outputs.iter().map(|(t, _)| t.clone()).collect(),
        };
        let header = match self.headers.last() {
            None => Block::new_origin(&contents),
            Some(parent) => {
                let root = TxOutMembershipElement {
                    range: Range {
                        from: 0,
                        to: parent.cumulative_txo_count.next_power_of_two() - 1,
                    },
                    hash: [block as u8; 32],
                };
                Block::new_with_parent(3, parent, root, &contents)
            }
        };
        assert_eq!(header.cumulative_txo_count, self.txo_count);
        let wire = contents.to_wire();
        self.blocks.push(BlockData {
            index: block,
            global_txo_count: self.txo_count,
            outputs: wire.outputs,
            timestamp: 1_700_000_000 + block,
            timestamp_result_code: TIMESTAMP_FOUND,
            block: Some(header.to_wire()),
            key_images: wire.key_images,
        });
        self.headers.push(header);
        mine
    }

    /// Every service caught up with the ledger.
    pub fn catch_up(&mut self) {
        let n = self.blocks.len() as u64;
        self.view_loaded = n;
        self.view_count = n;
        self.ledger_count = n;
        self.block_service_count = n;
    }

    /// The user's true balance for blocks below `n`.
    pub fn truth_at(&self, n: u64) -> u128 {
        self.truth
            .values()
            .filter(|t| t.block < n && t.spent_at.is_none_or(|s| s >= n))
            .map(|t| u128::from(t.amount.value))
            .sum()
    }

    fn visible_events(&mut self) -> Vec<Event> {
        let n = self
            .events
            .len()
            .saturating_sub(self.hide_events)
            .max(self.events_at_last_answer);
        self.hide_events = 0;
        self.events_at_last_answer = self.events.len();
        self.events[..n].to_vec()
    }

    pub fn answer(&mut self, request: Request) -> Response {
        let mut response = match request {
            Request::ViewQuery { aad, request } => {
                self.view_requests += 1;
                self.view_count_high = self.view_count_high.max(self.view_count);
                self.keys_per_view_request.push(request.get_txos.len());
                let since = aad.start_from_user_event_id;
                let mut r = QueryResponse {
                    highest_processed_block_count: self.view_count,
                    next_start_from_user_event_id: since,
                    last_known_block_count: self.blocks.len() as u64,
                    last_known_block_cumulative_txo_count: self.txo_count,
                    ..Default::default()
                };
                let visible = self.visible_events();
                if since != i64::MAX {
                    let events: Vec<(i64, Event)> = visible
                        .into_iter()
                        .enumerate()
                        .map(|(i, e)| (i as i64 + 1, e))
                        .filter(|(id, _)| *id > since)
                        .collect();
                    for (id, e) in events {
                        r.next_start_from_user_event_id = id;
                        match e {
                            Event::Rng(x) => r.rngs.push(x),
                            Event::Decommission(x) => r.decommissioned_ingest_invocations.push(x),
                            Event::Missed(x) => r.missed_block_ranges.push(x),
                        }
                    }
                }
                for key in &request.get_txos {
                    let k: [u8; 16] = key.as_slice().try_into().unwrap();
                    let found = self
                        .records
                        .get(&k)
                        .filter(|(_, block)| *block < self.view_loaded);
                    let mut ciphertext = vec![0u8; FIXED_CIPHERTEXT_LENGTH];
                    let (code, len) = match found {
                        Some((payload, _)) => {
                            ciphertext[..payload.len()].copy_from_slice(payload);
                            (TxOutSearchResultCode::Found, payload.len())
                        }
                        None => (TxOutSearchResultCode::NotFound, 0),
                    };
                    r.fixed_tx_out_search_results.push(FixedTxOutSearchResult {
                        search_key: key.clone(),
                        result_code: code as u32,
                        ciphertext,
                        payload_length: len as u32,
                    });
                }
                // Padding, as a partitioned view adds: zero key, not found.
                let padded = request.get_txos.len().next_power_of_two() + 2;
                for _ in request.get_txos.len()..padded {
                    r.fixed_tx_out_search_results.push(FixedTxOutSearchResult {
                        search_key: vec![0; 16],
                        result_code: TxOutSearchResultCode::NotFound as u32,
                        ciphertext: vec![0; FIXED_CIPHERTEXT_LENGTH],
                        payload_length: 0,
                    });
                }
                // Partition order, not request order.
                r.fixed_tx_out_search_results.reverse();
                Response::ViewQuery(r)
            }
            Request::CheckKeyImages(req) => {
                self.key_image_requests += 1;
                self.key_images_per_request.push(req.queries.len());
                let n = self.ledger_count;
                let results = req
                    .queries
                    .iter()
                    .map(|q| {
                        let ki = q.key_image.clone().unwrap();
                        let spent = self
                            .truth
                            .values()
                            .find(|t| t.key_image.0.as_slice() == ki.data.as_slice())
                            .and_then(|t| t.spent_at)
                            .filter(|b| *b < n);
                        KeyImageResult {
                            key_image: Some(ki),
                            spent_at: spent.unwrap_or(u64::MAX),
                            timestamp: spent.map_or(u64::MAX, |b| 1_700_000_000 + b),
                            timestamp_result_code: TIMESTAMP_FOUND,
                            key_image_result_code: if spent.is_some() {
                                KeyImageResultCode::Spent as u32
                            } else {
                                KeyImageResultCode::NotSpent as u32
                            },
                        }
                    })
                    .collect();
                Response::CheckKeyImages(CheckKeyImagesResponse {
                    num_blocks: n,
                    global_txo_count: self.txo_count,
                    results,
                    latest_block_version: 3,
                    max_block_version: 4,
                })
            }
            Request::GetBlocks(req) => {
                self.block_requests += 1;
                let n = self.block_service_count;
                let blocks = req
                    .ranges
                    .iter()
                    .flat_map(|r| r.start_block..r.end_block.min(n))
                    .map(|b| self.blocks[b as usize].clone())
                    .collect();
                Response::GetBlocks(BlockResponse {
                    blocks,
                    num_blocks: n,
                    global_txo_count: self.txo_count,
                })
            }
            Request::BlockIds(req) => {
                // The fog ledger enclave: ids of the true chain, as far as its store goes.
                self.block_id_requests += 1;
                let n = self.ledger_count;
                let id = |i: u64| fog_transaction::wire::Bytes32 {
                    data: if i < n {
                        self.headers[i as usize].id.to_vec()
                    } else {
                        Vec::new()
                    },
                };
                Response::BlockIds(BlockIdsResponse {
                    ids: req.indices.iter().map(|&i| id(i)).collect(),
                    num_blocks: n,
                    global_txo_count: self.headers[..n as usize]
                        .last()
                        .map_or(0, |h| h.cumulative_txo_count),
                    last_block_id: n.checked_sub(1).map(id),
                })
            }
        };
        use prost::Message as _;
        let size = match &response {
            Response::ViewQuery(r) => r.encoded_len(),
            Response::CheckKeyImages(r) => r.encoded_len(),
            Response::GetBlocks(r) => r.encoded_len(),
            Response::BlockIds(r) => r.encoded_len(),
        };
        self.max_answer_bytes = self.max_answer_bytes.max(size);
        if let Some(mut t) = self.tamper.take() {
            if !t(&mut response) {
                self.tamper = Some(t);
            }
        }
        response
    }

    /// One balance check of the user against this fog.
    pub fn sync(
        &mut self,
        state: &mut AccountState,
    ) -> Result<(Balance, SyncProgress), ClientError> {
        self.sync_with(state, SyncLimits::default())
    }

    pub fn sync_with(
        &mut self,
        state: &mut AccountState,
        limits: SyncLimits,
    ) -> Result<(Balance, SyncProgress), ClientError> {
        let mut sync = Sync::new(&self.user, state, limits)?;
        let mut step = sync.start(state)?;
        loop {
            match step {
                Step::Send(r) => {
                    let a = self.answer(r);
                    step = sync.handle(state, a)?;
                }
                Step::Done(b) => return Ok((b, *sync.progress())),
            }
        }
    }

    /// Checks the invariant for one reported balance: exact for its block count, never ahead
    /// of view or the key-image service.
    pub fn assert_exact(&self, b: &Balance) {
        assert!(
            b.block_count <= self.view_count_high,
            "block count {} ahead of view's {}",
            b.block_count,
            self.view_count_high
        );
        assert_eq!(
            b.of(0),
            self.truth_at(b.block_count),
            "balance at block count {} is wrong",
            b.block_count
        );
    }
}
