//! Writes the seed corpora of the `client_state` and `client_answers` fuzz targets.
//!
//! `client_answers` seeds are whole balance checks: a scripted set of services (a view service
//! with one RNG and two records, a four-block ledger with a missed range, a key-image service)
//! answers a real `fog_client::Sync`, and each seed holds the starting state and every answer
//! as the target reads them. Others hold a `GetOutputs` answer with its proofs, a signed report
//! answer and fog report URLs. The fixed account, authority, attestation key and time are the
//! target's. `client_state` seeds are stored states, the ones the checks end with included.
//!
//! `cargo run -p fog-client --example fuzz_seeds -- fuzz/seeds` (from the workspace root)
//! writes `fuzz/seeds/client_state/*.bin` and `fuzz/seeds/client_answers/*.bin`.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fog_account::AccountKey;
use fog_attest::chain::GeneratedAuthority;
use fog_attest::ed25519_dalek::SigningKey;
use fog_attest::report::sign_reports;
use fog_attest::{
    fog_identity, BoundEvidence, FogEnclave, Report, ReportData, SimProvider, UnixSeconds,
};
use fog_client::rng::UserRng;
use fog_client::scan::OwnerKeys;
use fog_client::state::{Discovery, OwnedTxOut, PendingSend, SpentStatus};
use fog_client::{AccountState, Request, Response, Step, Sync, SyncLimits};
use fog_crypto::kex_rng::{KexRngPubkey, VERSION_ID};
use fog_crypto::RistrettoPrivate;
use fog_ledger_db::LedgerDb;
use fog_transaction::amount::{MaskedAmount, MaskedAmountVersion};
use fog_transaction::block::{Block, BlockContents};
use fog_transaction::membership::{Range, TxOutMembershipElement};
use fog_transaction::{
    Amount, BlockVersion, EncryptedFogHint, EncryptedMemo, KeyImage, MemoPayload, TokenId, TxOut,
    TxOutRecord,
};
use fog_types::common::BlockRange;
use fog_types::ledger::{
    BlockData, BlockIdsResponse, BlockResponse, CheckKeyImagesResponse, GetOutputsResponse,
    KeyImageResult, KeyImageResultCode, OutputResult, OutputResultCode, TIMESTAMP_FOUND,
};
use fog_types::view::{
    FixedTxOutSearchResult, QueryResponse, RngRecord, TxOutSearchResult, TxOutSearchResultCode,
    FIXED_CIPHERTEXT_LENGTH,
};
use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The target's time, account, authority and attestation key.
const NOW: UnixSeconds = UnixSeconds(1_750_000_000);

fn account() -> AccountKey {
    AccountKey::new(
        RistrettoPrivate::from_bytes_mod_order(&[0x5e; 32]),
        RistrettoPrivate::from_bytes_mod_order(&[0xa1; 32]),
    )
}

fn authority() -> GeneratedAuthority {
    GeneratedAuthority::generate(
        &mut ChaCha20Rng::seed_from_u64(0x5eed),
        "fuzz",
        UnixSeconds(NOW.0 - 86_400),
        UnixSeconds(NOW.0 + 3650 * 86_400),
    )
    .expect("authority")
}

fn ingest_provider() -> SimProvider {
    SimProvider::from_quoting_key(
        SigningKey::from_bytes(&[0x1d; 32]),
        fog_identity(FogEnclave::Ingest),
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write a seed");
}

/// `[len u16 LE][bytes]`, as the target reads a state and each answer.
fn push_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(
        &u16::try_from(bytes.len())
            .expect("a short message")
            .to_le_bytes(),
    );
    out.extend_from_slice(bytes);
}

/// A TxOut of the right sizes paying nobody this account knows.
fn stranger(seed: u8) -> TxOut {
    TxOut {
        masked_amount: Some(MaskedAmount {
            version: MaskedAmountVersion::V2,
            commitment: [seed; 32],
            masked_value: u64::from(seed),
            masked_token_id: vec![seed; 8],
        }),
        target_key: fog_crypto::CompressedRistrettoPublic([seed ^ 0x0f; 32]),
        public_key: fog_crypto::CompressedRistrettoPublic([seed; 32]),
        e_fog_hint: EncryptedFogHint([seed; 84]),
        e_memo: Some(EncryptedMemo([seed; 66])),
    }
}

/// A TxOut paying `value` to this account's default subaddress.
fn ours(value: u64, seed: u8) -> TxOut {
    TxOut::new(
        BlockVersion::THREE,
        Amount::new(value, TokenId::MOB),
        &account().default_subaddress(),
        &RistrettoPrivate::from_bytes_mod_order(&[seed; 32]),
        EncryptedFogHint([0x11; 84]),
    )
    .expect("an output")
}

/// The scripted services of one balance check.
struct Services {
    egress: KexRngPubkey,
    /// Search key → record payload.
    records: BTreeMap<[u8; 16], Vec<u8>>,
    /// The ledger's blocks, with their timestamps.
    chain: Vec<(Block, BlockContents)>,
    /// Key images spent, with their block.
    spent: BTreeMap<[u8; 32], u64>,
    /// View answers in the legacy (variable-size) form.
    legacy: bool,
    /// Blocks the fog ledger enclave has verified.
    enclave_blocks: u64,
    /// The view service's processed count.
    view_blocks: u64,
}

impl Services {
    /// One RNG with a record of ours (TxOut 2, block 1) and one that is not ours; a ledger of
    /// four blocks whose blocks 2 and 3 no ingest scanned: block 2 pays us (TxOut 3), block 3
    /// spends TxOut 2.
    fn new() -> Self {
        let account = account();
        let keys = OwnerKeys::new(&account);
        let egress = KexRngPubkey {
            public_key: RistrettoPrivate::from_bytes_mod_order(&[0x33; 32])
                .public_key()
                .to_bytes()
                .to_vec(),
            version: VERSION_ID,
        };
        let rng = UserRng::new(&egress, keys.c0(), 0).expect("a user RNG");
        let mut coins = ChaCha20Rng::seed_from_u64(11);
        let by_view = ours(7_000, 0x71);
        let by_scan = ours(5_000, 0x72);
        let spent_ki = keys
            .recognize(&by_view, 2, 1, NOW.0, Discovery::View)
            .expect("ours")
            .key_image;
        let c0_public = *account.default_subaddress().view_public_key();
        let record = TxOutRecord::new(&by_view, 2, 1, NOW.0 + 1)
            .expect("a record")
            .encrypt(&mut coins, &c0_public);
        let not_ours = TxOutRecord::new(&stranger(0x90), 1, 0, NOW.0)
            .expect("a record")
            .encrypt(&mut coins, &c0_public);
        let records = BTreeMap::from([(rng.output(0), record), (rng.output(1), not_ours)]);

        let root = TxOutMembershipElement {
            range: Range { from: 0, to: 0 },
            hash: [0; 32],
        };
        let mut chain: Vec<(Block, BlockContents)> = Vec::new();
        let contents = [
            (vec![], vec![stranger(1), stranger(2)]),
            (vec![KeyImage([0xa0; 32])], vec![by_view]),
            (vec![KeyImage([0xa1; 32])], vec![by_scan, stranger(3)]),
            (vec![spent_ki], vec![stranger(4)]),
        ];
        for (index, (key_images, outputs)) in contents.into_iter().enumerate() {
            let contents = BlockContents {
                key_images,
                outputs,
            };
            let block = match chain.last() {
                None => Block::new_origin(&contents),
                Some((last, _)) => Block::new(
                    3,
                    last.id,
                    index as u64,
                    last.cumulative_txo_count + contents.outputs.len() as u64,
                    root,
                    &contents,
                ),
            };
            chain.push((block, contents));
        }
        Self {
            egress,
            records,
            chain,
            spent: BTreeMap::from([(spent_ki.0, 3)]),
            legacy: false,
            enclave_blocks: 4,
            view_blocks: 4,
        }
    }

    fn answer(&self, request: &Request) -> Response {
        match request {
            Request::ViewQuery { aad, request } => {
                let mut r = QueryResponse {
                    highest_processed_block_count: self.view_blocks,
                    highest_processed_block_signature_timestamp: NOW.0,
                    next_start_from_user_event_id: aad.start_from_user_event_id.max(2),
                    last_known_block_count: self.chain.len() as u64,
                    last_known_block_cumulative_txo_count: 6,
                    ..QueryResponse::default()
                };
                if aad.start_from_user_event_id < 1 {
                    r.rngs.push(RngRecord {
                        ingest_invocation_id: 1,
                        pubkey: Some(self.egress.clone()),
                        start_block: 0,
                    });
                }
                if aad.start_from_user_event_id < 2 {
                    r.missed_block_ranges.push(BlockRange::new(2, 4));
                }
                let found = TxOutSearchResultCode::Found as u32;
                let not_found = TxOutSearchResultCode::NotFound as u32;
                for key in &request.get_txos {
                    let hit = <[u8; 16]>::try_from(key.as_slice())
                        .ok()
                        .and_then(|k| self.records.get(&k));
                    let (code, payload) = hit.map_or((not_found, &[][..]), |p| (found, &p[..]));
                    if self.legacy {
                        r.tx_out_search_results.push(TxOutSearchResult {
                            search_key: key.clone(),
                            result_code: code,
                            ciphertext: payload.to_vec(),
                            padding: vec![0; FIXED_CIPHERTEXT_LENGTH - payload.len()],
                        });
                    } else {
                        let mut ciphertext = payload.to_vec();
                        ciphertext.resize(FIXED_CIPHERTEXT_LENGTH, 0);
                        r.fixed_tx_out_search_results.push(FixedTxOutSearchResult {
                            search_key: key.clone(),
                            result_code: code,
                            ciphertext,
                            payload_length: payload.len() as u32,
                        });
                    }
                }
                if !self.legacy {
                    // A partitioned view pads with results for the all-zero key.
                    r.fixed_tx_out_search_results.push(FixedTxOutSearchResult {
                        search_key: vec![0; 16],
                        result_code: not_found,
                        ciphertext: vec![0; FIXED_CIPHERTEXT_LENGTH],
                        payload_length: 0,
                    });
                }
                Response::ViewQuery(r)
            }
            Request::GetBlocks(r) => {
                let mut blocks = Vec::new();
                for range in &r.ranges {
                    for (block, contents) in &self.chain {
                        if range.contains(block.index) {
                            let wire = contents.to_wire();
                            blocks.push(BlockData {
                                index: block.index,
                                global_txo_count: block.cumulative_txo_count,
                                outputs: wire.outputs,
                                timestamp: NOW.0 + block.index,
                                timestamp_result_code: TIMESTAMP_FOUND,
                                block: Some(block.to_wire()),
                                key_images: wire.key_images,
                            });
                        }
                    }
                }
                Response::GetBlocks(BlockResponse {
                    blocks,
                    num_blocks: self.chain.len() as u64,
                    global_txo_count: 6,
                })
            }
            Request::BlockIds(r) => {
                let verified = &self.chain[..self.enclave_blocks as usize];
                let id = |i: u64| fog_transaction::wire::Bytes32 {
                    data: verified
                        .get(i as usize)
                        .map_or_else(Vec::new, |(b, _)| b.id.to_vec()),
                };
                Response::BlockIds(BlockIdsResponse {
                    ids: r.indices.iter().map(|&i| id(i)).collect(),
                    num_blocks: self.enclave_blocks,
                    global_txo_count: 6,
                    last_block_id: verified
                        .last()
                        .map(|(b, _)| fog_transaction::wire::Bytes32 {
                            data: b.id.to_vec(),
                        }),
                })
            }
            Request::CheckKeyImages(r) => {
                let results = r
                    .queries
                    .iter()
                    .map(|q| {
                        let ki = q.key_image.clone().unwrap_or_default();
                        let spent = <[u8; 32]>::try_from(ki.data.as_slice())
                            .ok()
                            .and_then(|k| self.spent.get(&k).copied());
                        KeyImageResult {
                            key_image: Some(ki),
                            spent_at: spent.unwrap_or(u64::MAX),
                            timestamp: spent.map_or(u64::MAX, |b| NOW.0 + b),
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
                    num_blocks: self.chain.len() as u64,
                    global_txo_count: 6,
                    results,
                    latest_block_version: 3,
                    max_block_version: 4,
                })
            }
        }
    }

    /// Runs one balance check from `state`: the seed (selector 0, the state, every answer)
    /// and the state it ends with.
    fn check(&self, mut state: AccountState) -> (Vec<u8>, AccountState) {
        let mut seed = vec![0u8];
        push_chunk(&mut seed, &state.to_bytes());
        let mut sync = Sync::new(&account(), &state, SyncLimits::default()).expect("a sync");
        let mut step = sync.start(&mut state).expect("a first request");
        while let Step::Send(request) = step {
            let response = self.answer(&request);
            let bytes = match &response {
                Response::ViewQuery(r) => r.encode_to_vec(),
                Response::GetBlocks(r) => r.encode_to_vec(),
                Response::BlockIds(r) => r.encode_to_vec(),
                Response::CheckKeyImages(r) => r.encode_to_vec(),
            };
            push_chunk(&mut seed, &bytes);
            step = sync
                .handle(&mut state, response)
                .expect("the scripted answers are good");
        }
        (seed, state)
    }
}

/// A state with something in every field.
fn busy_state() -> AccountState {
    let mut s = AccountState::new();
    s.view_block_count = 40;
    s.last_seen_view_block_count = 42;
    s.next_user_event_id = 7;
    s.retired_rngs.insert(vec![1; 32]);
    s.pending_decommissions.insert(5, 6);
    for (i, spent) in [
        SpentStatus::Unknown,
        SpentStatus::NotSpent { as_of: 40 },
        SpentStatus::Spent { block_index: 33 },
    ]
    .into_iter()
    .enumerate()
    {
        s.add_tx_out(OwnedTxOut {
            global_index: 100 + i as u64,
            block_index: 10 + i as u64,
            timestamp: NOW.0,
            amount: Amount::new(5 + i as u64, TokenId(i as u64)),
            subaddress_index: fog_account::CHANGE_SUBADDRESS_INDEX,
            key_image: KeyImage([i as u8; 32]),
            public_key: [0x80 + i as u8; 32],
            memo: MemoPayload::default(),
            spent,
            discovery: if i == 0 {
                Discovery::MissedRangeScan
            } else {
                Discovery::View
            },
        });
    }
    s.add_missed_range(BlockRange::new(50, 60));
    s.pending_sends.push(PendingSend {
        key_images: vec![KeyImage([1; 32])],
        tombstone_block: 70,
        change_public_key: [2; 32],
        amount: Amount::new(3, TokenId::MOB),
        fee: Amount::new(4, TokenId::MOB),
    });
    s.balance();
    s
}

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "fuzz/seeds".into(), Into::into);
    let states = root.join("client_state");
    let answers = root.join("client_answers");
    for d in [&states, &answers] {
        std::fs::create_dir_all(d).expect("create the seed directory");
    }

    // Balance checks: a first one, one after it, one with legacy view answers, one whose
    // fog ledger enclave is a block behind.
    let services = Services::new();
    let (seed, after) = services.check(AccountState::new());
    write(&answers, "sync-first", &seed);
    let (seed, again) = services.check(after.clone());
    write(&answers, "sync-again", &seed);
    let legacy = Services {
        legacy: true,
        ..Services::new()
    };
    write(
        &answers,
        "sync-legacy",
        &legacy.check(AccountState::new()).0,
    );
    let behind = Services {
        enclave_blocks: 3,
        ..Services::new()
    };
    let (seed, partial) = behind.check(AccountState::new());
    write(&answers, "sync-enclave-behind", &seed);

    write(&states, "empty", &AccountState::new().to_bytes());
    write(&states, "busy", &busy_state().to_bytes());
    write(&states, "after-first-check", &after.to_bytes());
    write(&states, "after-second-check", &again.to_bytes());
    write(&states, "after-partial-check", &partial.to_bytes());

    // GetOutputs: TxOuts 0 to 3 of a two-block ledger with their proofs.
    let db = LedgerDb::create_in_memory().expect("a ledger");
    let mut outputs = vec![stranger(1), stranger(2)];
    outputs.sort_by_key(|o| o.public_key);
    let origin = BlockContents {
        key_images: vec![],
        outputs,
    };
    let block0 = Block::new_origin(&origin);
    db.append_block(&block0, &origin, NOW.0).expect("origin");
    let mut outputs = vec![stranger(3), stranger(4)];
    outputs.sort_by_key(|o| o.public_key);
    let contents = BlockContents {
        key_images: vec![KeyImage([0xa0; 32])],
        outputs,
    };
    let root_element = db.root_element().expect("a root");
    let block1 = Block::new(3, block0.id, 1, 4, root_element, &contents);
    db.append_block(&block1, &contents, NOW.0 + 1)
        .expect("block 1");
    let asked = [0u64, 1, 2, 3];
    let proofs = db.membership_proofs(&asked).expect("proofs");
    let response = GetOutputsResponse {
        results: asked
            .iter()
            .zip(proofs)
            .map(|(&index, proof)| OutputResult {
                index,
                result_code: OutputResultCode::Exists as u32,
                output: Some(
                    db.get_tx_out(index)
                        .expect("read")
                        .expect("a TxOut")
                        .to_wire(),
                ),
                proof: Some(proof.to_wire()),
            })
            .collect(),
        num_blocks: 2,
        global_txo_count: 4,
        latest_block_version: 3,
        max_block_version: 4,
    };
    let mut seed = vec![1u8, asked.len() as u8];
    for i in asked {
        seed.extend_from_slice(&i.to_le_bytes());
    }
    seed.extend_from_slice(&response.encode_to_vec());
    write(&answers, "get-outputs", &seed);

    // A report answer signed by the target's authority for its fog address (report id "").
    let authority = authority();
    let provider = ingest_provider();
    let ingress = RistrettoPrivate::from_bytes_mod_order(&[0x62; 32])
        .public_key()
        .to_bytes();
    let channel_key = [0x2c; 32];
    let report = |id: &str| Report {
        fog_report_id: id.into(),
        evidence: BoundEvidence {
            evidence: provider.evidence_at(&ReportData::bind(&channel_key, Some(&ingress)), NOW),
            channel_key,
            custom_identity: Some(ingress),
        },
        pubkey_expiry: 110,
    };
    let signed = sign_reports(
        &[report(""), report("other")],
        authority.chain.clone(),
        &authority.leaf_key,
    );
    let mut seed = vec![2u8];
    seed.extend_from_slice(&signed.encode_to_vec());
    write(&answers, "report", &seed);

    for (name, url) in [
        ("report-url-insecure", "insecure-fog://localhost:3225"),
        ("report-url", "fog://fog.example.com"),
        ("report-url-port", "fog://fog.example.com:8443/"),
    ] {
        let mut seed = vec![3u8];
        seed.extend_from_slice(url.as_bytes());
        write(&answers, name, &seed);
    }
}
