//! The client against the real services in-process, over gRPC on port-0 listeners: the
//! ledger node, ingest, view, fog ledger and report, with a SQLite recovery DB and a ledger
//! DB on disk. Alice pays Bob, Bob pays Carol with change back, every balance is exact for
//! its block count (checked against a view-key scan of the ledger) while blocks arrive, a
//! replayed spend is refused, and a service that is down or refuses attestation is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use fog_account::{AccountKey, CHANGE_SUBADDRESS_INDEX, DEFAULT_SUBADDRESS_INDEX};
use fog_attest::{
    BoundEvidence, ChannelKeypair, EnclaveResponder, FogEnclave, IdentityRule, Policy, Provider,
    Report, ReportData, SimProvider, Verifier,
};
use fog_client::{
    history::{EntryKind, Sender},
    AccountState, Balance, ClientConfig, ClientError, FogClient, GrpcConfig, GrpcTransport,
    Service, Transport,
};
use fog_ingest_server::{IngestConfig, IngestServer, NoEvidence, StateDir};
use fog_ledger_db::LedgerDb;
use fog_ledger_server::{LedgerServer, LedgerServerConfig};
use fog_node::{write_origin_block, Node, NodeConfig};
use fog_recovery_db::SqliteRecoveryDb;
use fog_report_server::{authority::new_authority, InMemoryReportSource, SigningConfig};
use fog_transaction::{validation::MOB_MINIMUM_FEE, Amount, KeyImage, TokenId};
use fog_view_server::{build_enclave, ViewConfig, ViewServer, ViewService};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const MOB: u64 = 1_000_000_000_000;
const FEE: u64 = MOB_MINIMUM_FEE;

fn provider(seed: u64, enclave: FogEnclave) -> (SimProvider, Verifier) {
    let identity = fog_attest::fog_identity(enclave);
    let p = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let v = Verifier::new(
        p.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    (p, v)
}

fn responder(p: &SimProvider) -> EnclaveResponder {
    let keys = ChannelKeypair::generate().unwrap();
    let rd = ReportData::bind(keys.public_key(), None);
    let bound = BoundEvidence {
        evidence: p.evidence(&rd).unwrap(),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    EnclaveResponder::new(keys, bound).unwrap()
}

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr.to_string())
}

/// The true balance of `account` (default and change subaddresses) for blocks below `n`,
/// by scanning the ledger with the view key: what a user without fog must do.
fn truth(ledger: &LedgerDb, account: &AccountKey, n: u64) -> u128 {
    let a = account.view_private_key();
    let mut owned: Vec<(KeyImage, u64)> = Vec::new();
    let mut spent: BTreeSet<KeyImage> = BTreeSet::new();
    for b in 0..n {
        let contents = ledger.get_block_contents(b).unwrap().unwrap();
        spent.extend(contents.key_images.iter().copied());
        for o in &contents.outputs {
            let Ok((amount, _)) = o.view_key_match(a) else {
                continue;
            };
            let d = o.subaddress_spend_public_key(a).unwrap();
            for i in [DEFAULT_SUBADDRESS_INDEX, CHANGE_SUBADDRESS_INDEX] {
                let spend = account.subaddress_spend_private(i);
                if spend.public_key().to_bytes() == d.to_bytes() {
                    owned.push((o.key_image(a, &spend).unwrap(), amount.value));
                }
            }
        }
    }
    owned
        .iter()
        .filter(|(k, _)| !spent.contains(k))
        .map(|(_, v)| u128::from(*v))
        .sum()
}

/// One client with the invariant checked on every balance it reports.
struct Checked {
    client: FogClient<GrpcTransport>,
    ledger: LedgerDb,
    last: u64,
    name: &'static str,
}

impl Checked {
    async fn balance(&mut self) -> Balance {
        let b = self.client.check_balance().await.unwrap();
        assert!(
            b.block_count >= self.last,
            "{}: block count went back from {} to {}",
            self.name,
            self.last,
            b.block_count
        );
        assert!(b.block_count <= self.ledger.num_blocks().unwrap());
        assert_eq!(
            b.of(0),
            truth(&self.ledger, self.client.account(), b.block_count),
            "{}: balance at block count {} is not exact",
            self.name,
            b.block_count
        );
        self.last = b.block_count;
        b
    }

    /// Checks until the balance covers `blocks` blocks.
    async fn balance_at_least(&mut self, blocks: u64) -> Balance {
        for _ in 0..600 {
            let b = self.balance().await;
            if b.block_count >= blocks {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{}: the balance never reached block count {blocks}",
            self.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fog_users_pay_each_other_and_every_balance_is_exact() {
    let seed = 21u64;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();

    // The fog authority and the report server's address, which the accounts carry.
    let files = new_authority(&dir.path().join("authority"), "Test fog", 30).unwrap();
    let (report_listener, report_addr) = listener().await;
    let url = format!("insecure-fog://{report_addr}");
    let mut account = || AccountKey::random(&mut rng).with_fog(&url, "", &files.root_spki_der);
    let (alice, bob, carol) = (account(), account(), account());

    // Ledger, recovery DB, ingest; the origin block funds Alice among strangers.
    let ledger = LedgerDb::create(dir.path().join("ledger.redb")).unwrap();
    let db = SqliteRecoveryDb::open(dir.path().join("recovery.db")).unwrap();
    let ingest = IngestServer::open(
        ledger.clone(),
        db.clone(),
        StateDir::new(dir.path().join("ingest")).unwrap(),
        IngestConfig {
            user_capacity: 1 << 10,
            poll_interval: Duration::from_millis(20),
            ..IngestConfig::default()
        },
        Box::new(NoEvidence),
    )
    .await
    .unwrap();
    let ingress = ingest.ingress_public_key();
    let mut funding: Vec<_> = (0..4)
        .map(|_| {
            (
                alice.default_subaddress(),
                Amount::new(10 * MOB, TokenId::MOB),
            )
        })
        .collect();
    for _ in 0..30 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(&ledger, &funding, Some(&ingress), &mut rng).unwrap();
    tokio::spawn(ingest.run(std::future::pending()));

    // The node.
    let node = Arc::new(
        Node::new(
            ledger.clone(),
            NodeConfig::default().with_block_interval(Duration::from_millis(100)),
        )
        .unwrap(),
    );
    let (node_listener, node_addr) = listener().await;
    tokio::spawn(fog_node::serve(node_listener, Arc::clone(&node)));
    std::mem::forget(node.start_block_cutter());

    // View.
    let (view_provider, view_verifier) = provider(1, FogEnclave::View);
    let view_config = ViewConfig {
        partitions: 2,
        capacity_per_partition: 1 << 10,
        poll_interval: Duration::from_millis(20),
        ..ViewConfig::default()
    };
    let enclave = build_enclave(responder(&view_provider), &view_config).unwrap();
    let view = Arc::new(ViewServer::new(Arc::new(db.clone()), enclave, view_config));
    tokio::spawn(Arc::clone(&view).run(std::future::pending()));
    let (view_listener, view_addr) = listener().await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ViewService::new(Arc::clone(&view)).into_server())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(view_listener)),
    );

    // Fog ledger.
    let (ledger_provider, ledger_verifier) = provider(2, FogEnclave::Ledger);
    let ledger_server = LedgerServer::new(
        ledger.clone(),
        responder(&ledger_provider),
        LedgerServerConfig {
            key_image_capacity: 1 << 12,
            poll_interval: Duration::from_millis(20),
            ..LedgerServerConfig::default()
        },
    )
    .unwrap();
    let (fog_ledger_listener, fog_ledger_addr) = listener().await;
    tokio::spawn(fog_ledger_server::run(
        Arc::new(ledger_server),
        fog_ledger_listener,
        std::future::pending(),
    ));

    // Report: the ingest enclave's evidence binding the ingress key.
    let (ingest_provider, ingest_verifier) = provider(3, FogEnclave::Ingest);
    let channel = ChannelKeypair::generate().unwrap();
    let custom = ingress.to_bytes();
    let reports = Arc::new(InMemoryReportSource::new());
    reports.set(Report {
        fog_report_id: String::new(),
        evidence: BoundEvidence {
            evidence: ingest_provider
                .evidence(&ReportData::bind(channel.public_key(), Some(&custom)))
                .unwrap(),
            channel_key: *channel.public_key(),
            custom_identity: Some(custom),
        },
        pubkey_expiry: 1_000_000,
    });
    let signing = SigningConfig::load(&files.chain_pem, &files.leaf_key).unwrap();
    tokio::spawn(fog_report_server::serve(
        report_listener,
        reports,
        signing,
        std::future::pending(),
    ));

    let grpc = GrpcConfig::new(
        format!("http://{view_addr}"),
        format!("http://{fog_ledger_addr}"),
        format!("http://{node_addr}"),
        view_verifier.clone(),
        ledger_verifier.clone(),
    );
    let mut config = ClientConfig::new(ingest_verifier);
    config.poll_interval = Duration::from_millis(100);
    config.confirm_timeout = Duration::from_secs(120);
    let client = |account: AccountKey, name| Checked {
        client: FogClient::new(
            GrpcTransport::new(grpc.clone()),
            account,
            AccountState::new(),
            config.clone(),
        ),
        ledger: ledger.clone(),
        last: 0,
        name,
    };
    let alice_address = alice.default_subaddress();
    let (mut alice, mut bob, mut carol) = (
        client(alice, "alice"),
        client(bob, "bob"),
        client(carol, "carol"),
    );

    // Alice sees her funding once ingest, view and fog ledger have the origin block.
    let b = alice.balance_at_least(1).await;
    assert_eq!(b.of(0), 40 * MOB as u128);
    println!(
        "alice's first checks (4 TxOuts, {} blocks): {:?}",
        b.block_count,
        alice.client.transport().stats()
    );

    // Alice pays Bob 3 MOB; the send waits until her change shows up.
    let receipt = alice
        .client
        .send(
            &bob.client.account().default_subaddress(),
            Amount::new(3 * MOB, TokenId::MOB),
            None,
            &mut rng,
        )
        .await
        .unwrap();
    let landed = receipt.block_index.expect("landed");
    let b = alice.balance().await;
    assert!(b.block_count > landed);
    assert_eq!(b.of(0), u128::from(40 * MOB - 3 * MOB - FEE));
    assert_eq!(receipt.balance.as_ref().unwrap().of(0), b.of(0));
    assert!(alice.client.pending_sends().is_empty());

    // Bob sees it, with Alice as the authenticated sender.
    let b = bob.balance_at_least(landed + 1).await;
    assert_eq!(b.of(0), u128::from(3 * MOB));
    let history = bob.client.history(std::slice::from_ref(&alice_address));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].block_index, landed);
    assert_eq!(
        history[0].kind,
        EntryKind::Received {
            sender: Sender::Authenticated(0),
            change: false
        }
    );
    let alice_history = alice.client.history(&[]);
    assert!(alice_history
        .iter()
        .any(|e| e.kind == EntryKind::Spent && e.block_index == landed));
    assert!(alice_history.iter().any(|e| matches!(
        e.kind,
        EntryKind::Received { change: true, .. }
    ) && e.block_index == landed));

    // Bob pays Carol 1 MOB with change back to Bob, while Alice keeps paying Carol: every
    // balance anyone reports meanwhile is exact for its block count.
    let carol_address = carol.client.account().default_subaddress();
    let mut alice_rng = ChaCha20Rng::seed_from_u64(seed + 1);
    let carol_address_for_alice = carol_address.clone();
    let alice_task = tokio::spawn(async move {
        for _ in 0..2 {
            alice
                .client
                .send(
                    &carol_address_for_alice,
                    Amount::new(MOB, TokenId::MOB),
                    None,
                    &mut alice_rng,
                )
                .await
                .unwrap();
            alice.balance().await;
        }
        alice
    });
    let mut bob_receipt = bob
        .client
        .submit_payment(
            &carol_address,
            Amount::new(MOB, TokenId::MOB),
            None,
            &mut rng,
        )
        .await
        .unwrap();
    for _ in 0..5 {
        carol.balance().await;
        bob.balance().await;
    }
    bob.client.wait_for(&mut bob_receipt).await.unwrap();
    let mut alice = alice_task.await.unwrap();
    let b = bob.balance().await;
    assert_eq!(b.of(0), u128::from(3 * MOB - MOB - FEE));
    let a = alice.balance().await;
    assert_eq!(a.of(0), u128::from(40 * MOB - 3 * MOB - 2 * MOB - 3 * FEE));
    let all = ledger.num_blocks().unwrap();
    let c = carol.balance_at_least(all).await;
    assert_eq!(c.of(0), u128::from(3 * MOB));
    let bob_history = bob.client.history(&[]);
    assert_eq!(
        bob_history
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Received { change: true, .. }))
            .count(),
        1
    );

    // A replayed spend is refused by the node.
    let replay = bob
        .client
        .transport_mut()
        .submit_tx(bob_receipt.tx.clone())
        .await
        .unwrap();
    assert_ne!(
        replay.result(),
        fog_api::fog_node::SubmitTxResult::Accepted,
        "{replay:?}"
    );

    // The state saved and reloaded: the next check is incremental and agrees.
    bob.balance_at_least(all).await;
    let (account, state, _) = bob.client.into_parts();
    let saved = state.to_bytes();
    let mut bob2 = FogClient::new(
        GrpcTransport::new(grpc.clone()),
        account,
        AccountState::from_bytes(&saved).unwrap(),
        config.clone(),
    );
    let again = bob2.check_balance().await.unwrap();
    assert_eq!(again.of(0), b.of(0));
    let stats = bob2.transport().stats();
    println!("bob's incremental check: {stats:?}");
    // Two handshakes and one request per service.
    assert_eq!(stats.round_trips, 4, "{stats:?}");

    // A service that is down, and one whose enclave is not trusted, are named.
    let mut down = grpc.clone();
    down.view_uri = "http://127.0.0.1:1".into();
    let mut t = GrpcTransport::new(down);
    let e = t
        .view_query(Default::default(), Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Unavailable { service: Service::View, uri, .. } if uri.ends_with(":1")),
        "{e}"
    );
    let mut wrong = grpc.clone();
    wrong.ledger_verifier = view_verifier;
    let mut t = GrpcTransport::new(wrong);
    let e = t.check_key_images(Default::default()).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Attestation {
                service: Service::KeyImages,
                ..
            }
        ),
        "{e}"
    );
    println!("{e}");
}
