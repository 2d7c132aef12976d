//! The view service end to end, in-process: ingest writes records to the recovery DB, view
//! loads them, and a client over the attested gRPC channel finds exactly its own records; the
//! answer carries the RNG records, decommissions and missed ranges since the event id asked
//! for; bad requests get their status and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, sync::Arc, time::Duration};

use fog_account::AccountKey;
use fog_api::fog_view::fog_view_api_client::FogViewApiClient;
use fog_attest::{
    wire::AuthMessage, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits,
    SimProvider, UnixSeconds, Verifier,
};
use fog_crypto::{kex_rng::KexRng, CompressedRistrettoPublic, RistrettoPrivate, RistrettoPublic};
use fog_enclave::boundary::view::ViewBoundary;
use fog_enclave_api::{view::ViewClient, SharedEnclave};
use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{
    BlockIndex, IngestInvocationId, RecoveryDb, ReportData as DbReport, ReportDb, SqliteRecoveryDb,
};
use fog_transaction::{
    Amount, BlockVersion, EncryptedFogHint, FogHint, KeyImage, TokenId, TxOut, TxOutRecord,
};
use fog_types::view::{QueryRequest, QueryRequestAad, QueryResponse, TxOutSearchResultCode};
use fog_view_server::{ViewConfig, ViewServer, ViewService};
use prost::Message as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tonic::{transport::Channel as Grpc, Code};

/// Appends `blocks` blocks of 10 TxOuts, most to the fog users; returns each user's global
/// indices.
fn build_ledger(
    ledger: &LedgerDb,
    users: &[AccountKey],
    ingest: &RistrettoPublic,
    blocks: u64,
    rng: &mut ChaCha20Rng,
) -> HashMap<usize, Vec<u64>> {
    let mut expected: HashMap<usize, Vec<u64>> = HashMap::new();
    for _ in 0..blocks {
        let mut made: Vec<(TxOut, Option<usize>)> = (0..10)
            .map(|i| {
                let fog_user = (i % 4 != 3).then(|| (rng.next_u32() as usize) % users.len());
                let (to, hint) = match fog_user {
                    Some(u) => {
                        let to = users[u].default_subaddress();
                        (to.clone(), FogHint::from_address(&to).encrypt(ingest, rng))
                    }
                    None => (
                        AccountKey::random(rng).default_subaddress(),
                        EncryptedFogHint::fake_onetime_hint(rng),
                    ),
                };
                let amount = Amount::new(5, TokenId::MOB);
                let r = RistrettoPrivate::random(rng);
                (
                    TxOut::new(BlockVersion::THREE, amount, &to, &r, hint).unwrap(),
                    fog_user,
                )
            })
            .collect();
        made.sort_by_key(|(t, _)| t.public_key);
        let first = ledger.num_txos().unwrap();
        for (i, (_, u)) in made.iter().enumerate() {
            if let Some(u) = u {
                expected.entry(*u).or_default().push(first + i as u64);
            }
        }
        let outputs: Vec<TxOut> = made.into_iter().map(|(t, _)| t).collect();
        let mut ki = [0u8; 32];
        rng.fill_bytes(&mut ki);
        let index = ledger.num_blocks().unwrap();
        fog_test_support::chain::append_next_block(
            ledger,
            outputs,
            vec![KeyImage(ki)],
            1_700_000_000 + index,
        )
        .unwrap();
    }
    expected
}

struct Client {
    grpc: FogViewApiClient<Grpc>,
    channel: Channel,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, verifier: Verifier) -> Self {
        let mut grpc = FogViewApiClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let (hs, hello) = ClientHandshake::start(verifier).unwrap();
        let answer = grpc
            .auth(AuthMessage { data: hello })
            .await
            .unwrap()
            .into_inner();
        let channel = hs
            .finish(&answer.data, UnixSeconds::now(), SessionLimits::default())
            .unwrap();
        Self { grpc, channel }
    }

    async fn query(&mut self, since: i64, keys: &[Vec<u8>]) -> (QueryResponse, usize) {
        let aad = QueryRequestAad {
            start_from_user_event_id: since,
            start_from_block_index: 0,
        }
        .encode_to_vec();
        let body = QueryRequest {
            get_txos: keys.to_vec(),
        }
        .encode_to_vec();
        let frame = self.channel.seal(&aad, &body, UnixSeconds::now()).unwrap();
        let answer = self.grpc.query(frame).await.unwrap().into_inner();
        let size = answer.data.len();
        let plain = self.channel.open(&answer, UnixSeconds::now()).unwrap();
        (QueryResponse::decode(plain.as_slice()).unwrap(), size)
    }
}

/// What a client does: rebuild each RNG, ask for its next keys until one is not found.
async fn find_all(
    client: &mut Client,
    rngs: &[fog_types::view::RngRecord],
    user: &AccountKey,
) -> Vec<u64> {
    let c0 = user.default_subaddress_view_private();
    let mut found = Vec::new();
    for rec in rngs {
        let mut rng = KexRng::from_kex_pubkey(rec.pubkey.as_ref().unwrap(), &c0).unwrap();
        loop {
            // Ask for the next 4 outputs at once.
            let mut probe = KexRng::from_stored(&rng.to_stored()).unwrap();
            let keys: Vec<Vec<u8>> = (0..4)
                .map(|_| {
                    let k = probe.peek().to_vec();
                    probe.advance();
                    k
                })
                .collect();
            let (resp, _) = client.query(i64::MAX, &keys).await;
            assert!(resp.rngs.is_empty(), "no events after i64::MAX");
            let by_key: HashMap<&[u8], _> = resp
                .fixed_tx_out_search_results
                .iter()
                .map(|r| (r.search_key.as_slice(), r))
                .collect();
            let mut advanced = 0;
            for k in &keys {
                let r = by_key[k.as_slice()];
                if r.result_code != TxOutSearchResultCode::Found as u32 {
                    assert_eq!(r.result_code, TxOutSearchResultCode::NotFound as u32);
                    break;
                }
                found.push(
                    TxOutRecord::decrypt(&c0, r.payload().unwrap())
                        .unwrap()
                        .global_index,
                );
                rng.advance();
                advanced += 1;
            }
            if advanced < keys.len() {
                break;
            }
        }
    }
    found.sort_unstable();
    found
}

fn sim() -> (SimProvider, Verifier) {
    let provider = SimProvider::generate(
        &mut ChaCha20Rng::seed_from_u64(3),
        fog_attest::fog_identity(FogEnclave::View),
    );
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(
            vec![IdentityRule::Measurement(
                fog_attest::fog_identity(FogEnclave::View).measurement,
            )],
            3600,
        ),
    );
    (provider, verifier)
}

/// A simulated ingest enclave with a fresh platform sealing key.
fn ingest_enclave() -> SharedEnclave {
    let (sealing, _) = fog_enclave::sealing::SealingKeyProvider::simulated_generate(
        &mut ChaCha20Rng::seed_from_u64(21),
    );
    fog_enclave::boundary::ingest::IngestBoundary::simulated(sealing, None).unwrap()
}

/// A simulated view enclave for `config`, its evidence from `provider` installed.
fn enclave(provider: &SimProvider, config: &ViewConfig) -> SharedEnclave {
    let enclave = ViewBoundary::simulated(&config.enclave(), None).unwrap();
    ViewClient::new(enclave.clone()).attest(provider).unwrap();
    enclave
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_to_view_to_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    println!("seed 11");
    let users: Vec<AccountKey> = (0..4)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let config = IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(10),
        ..IngestConfig::default()
    };
    let mut ingest = IngestServer::open(
        ledger.clone(),
        db.clone(),
        StateDir::new(dir.path().join("state")).unwrap(),
        config,
        Box::new(NoEvidence),
        ingest_enclave(),
    )
    .await
    .unwrap();
    let ingress = ingest.ingress_public_key();
    let mut expected = build_ledger(&ledger, &users, &ingress, 4, &mut rng);
    while ingest.process_next_block().await.unwrap() {}

    let (provider, verifier) = sim();
    let view_config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 10,
        batch_records: 7,
        ..ViewConfig::default()
    };
    let enclave = enclave(&provider, &view_config);
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, view_config));
    let mut batches = 0;
    let loaded = view.poll_with_progress(|_| batches += 1).await.unwrap();
    assert_eq!(loaded, 40);
    assert!(batches >= 4, "loaded in batches: {batches}");
    let status = view.status();
    assert_eq!(status.highest_processed_block_count, 4);
    assert_eq!(status.last_known_block_count, 4);
    assert_eq!(status.last_known_cumulative_txo_count, 40);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ViewService::new(view.clone()).into_server())
            .serve_with_incoming(fog_host::incoming(listener)),
    );
    let mut client = Client::connect(addr, verifier.clone()).await;

    // Events from the start: one RNG record; the counters.
    let (first, _) = client.query(0, &[]).await;
    assert_eq!(first.highest_processed_block_count, 4);
    assert_eq!(first.last_known_block_count, 4);
    assert_eq!(first.rngs.len(), 1);
    assert!(first.decommissioned_ingest_invocations.is_empty());
    assert!(first.missed_block_ranges.is_empty());
    let since = first.next_start_from_user_event_id;
    assert!(since > 0);
    let (again, _) = client.query(since, &[]).await;
    assert!(again.rngs.is_empty(), "nothing new since {since}");
    assert_eq!(again.next_start_from_user_event_id, since);

    for (u, user) in users.iter().enumerate() {
        let want = expected.get(&u).cloned().unwrap_or_default();
        assert_eq!(
            find_all(&mut client, &first.rngs, user).await,
            want,
            "user {u}"
        );
    }

    // Found and not-found answers are the same size.
    let c0 = users[0].default_subaddress_view_private();
    let kex = KexRng::from_kex_pubkey(first.rngs[0].pubkey.as_ref().unwrap(), &c0).unwrap();
    let (hit, hit_size) = client.query(i64::MAX, &[kex.peek().to_vec()]).await;
    let (miss, miss_size) = client.query(i64::MAX, &[vec![0x55; 16]]).await;
    assert_eq!(hit_size, miss_size);
    assert_eq!(
        hit.fixed_tx_out_search_results.len(),
        miss.fixed_tx_out_search_results.len()
    );

    // A rotation (new invocation, the old one decommissioned), more blocks, and a lost key
    // whose published range was never scanned.
    ingest.rotate_egress_key().await.unwrap();
    let more = build_ledger(&ledger, &users, &ingress, 2, &mut rng);
    for (u, v) in more {
        expected.entry(u).or_default().extend(v);
    }
    while ingest.process_next_block().await.unwrap() {}
    let lost = CompressedRistrettoPublic::from(&RistrettoPrivate::random(&mut rng).public_key());
    let start = db.new_ingress_key(&lost, BlockIndex(0)).await.unwrap();
    assert_eq!(start, BlockIndex(6));
    db.set_report(
        &lost,
        "lost",
        &DbReport {
            ingest_invocation_id: None,
            evidence: vec![1],
            pubkey_expiry: BlockIndex(9),
        },
    )
    .await
    .unwrap();
    db.report_lost_ingress_key(&lost).await.unwrap();
    assert_eq!(view.poll().await.unwrap(), 20);
    let (next, _) = client.query(since, &[]).await;
    assert_eq!(next.highest_processed_block_count, 6);
    assert_eq!(next.rngs.len(), 1, "the new invocation");
    assert_eq!(next.decommissioned_ingest_invocations.len(), 1);
    assert_eq!(
        IngestInvocationId(next.decommissioned_ingest_invocations[0].ingest_invocation_id),
        IngestInvocationId(first.rngs[0].ingest_invocation_id)
    );
    assert_eq!(
        next.decommissioned_ingest_invocations[0].last_ingested_block,
        3
    );
    assert_eq!(next.missed_block_ranges.len(), 1);
    assert_eq!(next.missed_block_ranges[0].start_block, 6);
    assert_eq!(next.missed_block_ranges[0].end_block, 9);
    let all_rngs: Vec<_> = first.rngs.iter().chain(&next.rngs).cloned().collect();
    for (u, user) in users.iter().enumerate() {
        let mut want = expected.get(&u).cloned().unwrap_or_default();
        want.sort_unstable();
        assert_eq!(
            find_all(&mut client, &all_rngs, user).await,
            want,
            "user {u} after rotation"
        );
    }

    // Bad requests: each its status, nothing changes.
    let records_before = view.enclave().records().unwrap();
    let mut grpc = FogViewApiClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = grpc
        .auth(AuthMessage {
            data: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // (A frame the server drops leaves its session behind by one counter: use a spare one.)
    let mut spare = Client::connect(addr, verifier.clone()).await;
    let mut frame = spare
        .channel
        .seal(b"not an aad \xff\xff", b"", UnixSeconds::now())
        .unwrap();
    let err = grpc.query(frame.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // (The enclave decodes the aad once the frame has authenticated it.)
    assert!(err.message().contains("malformed"), "{err:?}");
    frame.aad = Vec::new();
    frame.channel_id = vec![7; 64];
    let err = grpc.query(frame).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    // Oversize: more keys than allowed (a fresh session, since the channel counter moved).
    let mut fresh = Client::connect(addr, verifier).await;
    let many: Vec<Vec<u8>> = (0..5000u32)
        .map(|i| {
            let mut k = vec![0u8; 16];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        })
        .collect();
    let body = QueryRequest { get_txos: many }.encode_to_vec();
    let frame = fresh.channel.seal(&[], &body, UnixSeconds::now()).unwrap();
    let err = fresh.grpc.query(frame).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("too many search keys"), "{err:?}");
    assert_eq!(view.enclave().records().unwrap(), records_before);
    // The honest client still works.
    let (ok, _) = client.query(i64::MAX, &[]).await;
    assert_eq!(ok.highest_processed_block_count, 6);
}

/// Item 10: the query path does no recovery-DB work, so a frame that does not authenticate
/// costs the server nothing beyond the enclave's refusal; with the user-events table gone
/// from under the server, a bad frame still gets its session error and a good one its
/// answer (events from the enclave's copy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_do_no_recovery_db_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let users: Vec<AccountKey> = (0..2)
        .map(|_| AccountKey::random(&mut rng).with_fog("fog://f", "", b"k"))
        .collect();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let config = IngestConfig {
        user_capacity: 1 << 10,
        poll_interval: Duration::from_millis(10),
        ..IngestConfig::default()
    };
    let mut ingest = IngestServer::open(
        ledger.clone(),
        db.clone(),
        StateDir::new(dir.path().join("state")).unwrap(),
        config,
        Box::new(NoEvidence),
        ingest_enclave(),
    )
    .await
    .unwrap();
    let ingress = ingest.ingress_public_key();
    build_ledger(&ledger, &users, &ingress, 2, &mut rng);
    while ingest.process_next_block().await.unwrap() {}
    let (provider, verifier) = sim();
    let view_config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 10,
        ..ViewConfig::default()
    };
    let enclave = enclave(&provider, &view_config);
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, view_config));
    view.poll().await.unwrap();
    assert_eq!(view.status().highest_processed_block_count, 2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ViewService::new(view.clone()).into_server())
            .serve_with_incoming(fog_host::incoming(listener)),
    );
    let mut client = Client::connect(addr, verifier.clone()).await;

    // The events table disappears: any events query now fails.
    rusqlite::Connection::open(dir.path().join("recovery.db"))
        .unwrap()
        .execute_batch("ALTER TABLE user_events RENAME TO user_events_gone")
        .unwrap();

    // A frame for no session, and a forged one for the client's session.
    let aad = QueryRequestAad::default().encode_to_vec();
    let mut unknown = client
        .channel
        .seal(
            &aad,
            &QueryRequest::default().encode_to_vec(),
            UnixSeconds::now(),
        )
        .unwrap();
    let mut forged = unknown.clone();
    unknown.channel_id = vec![7; 64];
    forged.data[0] ^= 1;
    let status = client.grpc.query(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client.grpc.query(forged).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // A real query (a new session: the refused frames used the old one's counter) answers,
    // events included.
    let mut client = Client::connect(addr, verifier).await;
    let (r, _) = client.query(0, &[vec![9; 16]]).await;
    assert_eq!(r.rngs.len(), 1);
    assert_eq!(r.highest_processed_block_count, 2);

    // The enclave stops answering: the metrics keep its last counts (a counter that fell to
    // 0 would read as a reset).
    let (queries, keys) = view.counters();
    assert!(queries >= 1 && keys >= 1, "{queries} {keys}");
    let capacity = view.capacity();
    assert!(capacity >= 2 << 10);
    view.enclave().stop().unwrap();
    assert!(view.enclave().status().is_err());
    assert_eq!(view.counters(), (queries, keys));
    assert_eq!(view.capacity(), capacity);
    let text = fog_view_server::metrics::metrics_text(&view);
    assert!(
        text.contains(&format!("fog_view_search_keys_total {keys}\n")),
        "{text}"
    );
}
