//! Balances stay exact across a restart of ingest, view and fog ledger. The whole system runs
//! in-process over gRPC (as in `e2e.rs`); Alice pays Bob; ingest, view and fog ledger are
//! stopped (their listeners closed) while the ledger node keeps cutting blocks, two of them
//! holding Alice's payments to Carol; then ingest reopens its state directory and recovery
//! DB (same sealed ingress key, resuming after the last block it scanned), and a new view and
//! a new fog ledger, with new enclaves, take the same addresses. The clients carry on with the
//! same URIs and their old sessions: each balance they report is exact for its block count and
//! its block count never goes back, all of them reach every block, Bob pays Carol with change,
//! and a wallet saved before the stop, reloaded, agrees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::system::{
    fog_users, listener, open_ingest, open_stores, provider, rebind, run_ingest, start_fog_ledger,
    start_node, start_report, start_view, wait_until, write_funded_origin, Checked, FogUsers,
    Hooks, Intercepted, FEE, MOB,
};
use fog_account::AccountKey;
use fog_api::fog_node::{SubmitTxResponse, SubmitTxResult};
use fog_attest::FogEnclave;
use fog_client::{
    history::EntryKind, AccountState, ClientConfig, ClientError, FogClient, GrpcConfig,
    GrpcTransport, Service, Transport,
};
use fog_crypto::CompressedRistrettoPublic;
use fog_recovery_db::RecoveryDb;
use fog_transaction::{wire::Tx, Amount, TokenId};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// While `hold` is set a submitted transaction is kept in `held` (and reported accepted)
/// instead of reaching the node.
struct Holding {
    hold: bool,
    held: Vec<Tx>,
}

impl Hooks for Holding {
    fn submit(&mut self, tx: &Tx) -> Option<SubmitTxResponse> {
        if !self.hold {
            return None;
        }
        self.held.push(tx.clone());
        Some(SubmitTxResponse {
            result: SubmitTxResult::Accepted.into(),
            ..SubmitTxResponse::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_stay_exact_across_a_restart_of_ingest_view_and_fog_ledger() {
    let seed = 33u64;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();

    // The fog authority and the report server's address, which the accounts carry.
    let FogUsers {
        files,
        report_listener,
        alice,
        bob,
        carol,
    } = fog_users(dir.path(), &mut rng).await;

    // Ledger, recovery DB, ingest; the origin block funds Alice among strangers.
    let (ledger, db, ingest) = open_stores(dir.path()).await;
    let state_dir = dir.path().join("ingest");
    let ingress = ingest.ingress_public_key();
    let ingress_key = CompressedRistrettoPublic::from(&ingress);
    write_funded_origin(&ledger, &alice, &ingress, &mut rng);
    let ingest_running = run_ingest(ingest);

    // The node, up for the whole test.
    let (_node, node_addr, _cutter) = start_node(&ledger).await;

    // View, fog ledger and report.
    let (view_provider, view_verifier) = provider(1, FogEnclave::View);
    let (view_listener, view_addr) = listener().await;
    let view_running = start_view(&db, &view_provider, view_listener);
    let (ledger_provider, ledger_verifier) = provider(2, FogEnclave::Ledger);
    let (fog_ledger_listener, fog_ledger_addr) = listener().await;
    let fog_ledger_running = start_fog_ledger(&ledger, &ledger_provider, fog_ledger_listener);
    let (ingest_provider, ingest_verifier) = provider(3, FogEnclave::Ingest);
    let _report = start_report(report_listener, &ingest_provider, &ingress, &files);

    let grpc = GrpcConfig::new(
        format!("http://{view_addr}"),
        format!("http://{fog_ledger_addr}"),
        format!("http://{node_addr}"),
        view_verifier,
        ledger_verifier,
    );
    let mut config = ClientConfig::new(ingest_verifier);
    config.poll_interval = Duration::from_millis(100);
    config.confirm_timeout = Duration::from_secs(60);
    let carol_address = carol.default_subaddress();
    let mut alice = Checked::new(
        FogClient::new(
            Intercepted {
                inner: GrpcTransport::new(grpc.clone()),
                hooks: Holding {
                    hold: false,
                    held: Vec::new(),
                },
            },
            alice,
            AccountState::new(),
            config.clone(),
        ),
        ledger.clone(),
        "alice",
    );
    let client = |account: AccountKey, name| {
        Checked::new(
            FogClient::new(
                GrpcTransport::new(grpc.clone()),
                account,
                AccountState::new(),
                config.clone(),
            ),
            ledger.clone(),
            name,
        )
    };
    let (mut bob, mut carol) = (client(bob, "bob"), client(carol, "carol"));

    // Before the restart: Alice pays Bob 3 MOB.
    assert_eq!(alice.balance_at_least(1).await.of(0), u128::from(40 * MOB));
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
    assert_eq!(
        alice.balance().await.of(0),
        u128::from(40 * MOB - 3 * MOB - FEE)
    );
    assert_eq!(
        bob.balance_at_least(landed + 1).await.of(0),
        u128::from(3 * MOB)
    );
    assert_eq!(carol.balance_at_least(landed + 1).await.of(0), 0);

    // Alice prepares two payments to Carol now, while everything is up: building a
    // transaction needs view (her inputs), the fog ledger (rings and their membership
    // proofs) and the report server. Her transport holds them back from the node, to be
    // submitted while ingest, view and fog ledger are down.
    alice.client.transport_mut().hooks.hold = true;
    let mut to_carol = Vec::new();
    for value in [MOB, 2 * MOB] {
        let r = alice
            .client
            .submit_payment(
                &carol_address,
                Amount::new(value, TokenId::MOB),
                None,
                &mut rng,
            )
            .await
            .unwrap();
        to_carol.push(r);
    }
    alice.client.transport_mut().hooks.hold = false;
    let held = std::mem::take(&mut alice.client.transport_mut().hooks.held);
    assert_eq!(held.len(), 2);
    assert_eq!(alice.client.pending_sends().len(), 2);

    // Carol's wallet as saved before the stop, to be reloaded after the restart.
    let carol_saved = (carol.client.state().to_bytes(), carol.last);

    // Stop ingest, view and fog ledger; their listeners are closed.
    ingest_running.stop().await;
    view_running.stop().await;
    fog_ledger_running.stop().await;
    for addr in [view_addr, fog_ledger_addr] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts connections after its service stopped"
        );
    }
    let scanned = db
        .get_last_scanned_block_index(&ingress_key)
        .await
        .unwrap()
        .expect("ingest scanned the blocks so far")
        .0;
    let blocks_at_stop = ledger.num_blocks().unwrap();
    assert_eq!(
        scanned + 1,
        blocks_at_stop,
        "ingest had scanned every block"
    );
    // A client asking now is told which service is down. (Alice and Bob do not ask: their
    // sessions stay as they were, to be refused as unknown by the new enclaves, after which
    // the transport authenticates anew.)
    let e = carol.client.check_balance().await.unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Unavailable {
                service: Service::View,
                ..
            }
        ),
        "{e}"
    );
    println!("while down: {e}");

    // The node takes Alice's payments, one block each, while ingest is down.
    let mut node_client = GrpcTransport::new(grpc.clone());
    for tx in held {
        let before = ledger.num_blocks().unwrap();
        let answer = node_client.submit_tx(tx).await.unwrap();
        assert_eq!(answer.result(), SubmitTxResult::Accepted, "{answer:?}");
        wait_until("the node cutting a block", 10, || {
            ledger.num_blocks().unwrap() > before
        })
        .await;
    }
    let down = blocks_at_stop..ledger.num_blocks().unwrap();
    assert_eq!(down.end - down.start, 2, "one block per payment");
    assert_eq!(
        db.get_last_scanned_block_index(&ingress_key)
            .await
            .unwrap()
            .unwrap()
            .0,
        scanned,
        "nothing scanned while ingest was down"
    );

    // Restart: ingest on the same state directory and recovery DB resumes with its sealed
    // ingress key after the last block it scanned; a new view and a new fog ledger, with new
    // enclaves (new session keys), load from the recovery DB and the ledger DB and take the
    // same addresses.
    let ingest = open_ingest(&ledger, &db, &state_dir).await;
    assert_eq!(
        ingest.ingress_public_key().to_bytes(),
        ingress.to_bytes(),
        "the ingress key (in every published fog report) survives the restart"
    );
    assert_eq!(ingest.status().next_block, scanned + 1);
    let _ingest = run_ingest(ingest);
    let _view = start_view(&db, &view_provider, rebind(view_addr).await);
    let _fog_ledger = start_fog_ledger(&ledger, &ledger_provider, rebind(fog_ledger_addr).await);

    // Every balance converges to the truth for every block, through the same URIs; Checked
    // asserts each one exact and that no block count went back across the restart.
    let all = ledger.num_blocks().unwrap();
    let b = bob.balance_at_least(all).await;
    assert_eq!(b.of(0), u128::from(3 * MOB));
    let c = carol.balance_at_least(all).await;
    assert_eq!(c.of(0), u128::from(3 * MOB));
    let a = alice.balance_at_least(all).await;
    assert_eq!(a.of(0), u128::from(40 * MOB - 6 * MOB - 3 * FEE));
    for r in &mut to_carol {
        alice.client.wait_for(r).await.unwrap();
        let block = r.block_index.expect("landed");
        assert!(down.contains(&block), "block {block} is not in {down:?}");
    }
    assert!(alice.client.pending_sends().is_empty());
    let carol_history = carol.client.history(&[]);
    for block in down.clone() {
        assert!(
            carol_history
                .iter()
                .any(|e| e.block_index == block && matches!(e.kind, EntryKind::Received { .. })),
            "carol's history has nothing received in block {block}: {carol_history:?}"
        );
    }

    // Bob pays Carol 1 MOB with change back to Bob.
    let receipt = bob
        .client
        .send(
            &carol_address,
            Amount::new(MOB, TokenId::MOB),
            None,
            &mut rng,
        )
        .await
        .unwrap();
    let landed = receipt.block_index.expect("landed");
    assert!(landed >= down.end);
    let b = bob.balance().await;
    assert_eq!(b.of(0), u128::from(3 * MOB - MOB - FEE));
    assert!(bob
        .client
        .history(&[])
        .iter()
        .any(|e| e.block_index == landed
            && matches!(e.kind, EntryKind::Received { change: true, .. })));

    // Final balances, exact for every block.
    let all = ledger.num_blocks().unwrap();
    let b = bob.balance_at_least(all).await;
    assert_eq!(b.of(0), u128::from(2 * MOB - FEE));
    let c = carol.balance_at_least(all).await;
    assert_eq!(c.of(0), u128::from(4 * MOB));
    let a = alice.balance_at_least(all).await;
    assert_eq!(a.of(0), u128::from(34 * MOB - 3 * FEE));

    // Carol's wallet saved before the stop, reloaded: it catches up through the restarted
    // services and agrees.
    let (carol_account, _, _) = carol.client.into_parts();
    let mut carol_reloaded = Checked::new(
        FogClient::new(
            GrpcTransport::new(grpc.clone()),
            carol_account,
            AccountState::from_bytes(&carol_saved.0).unwrap(),
            config.clone(),
        ),
        ledger.clone(),
        "carol reloaded",
    );
    carol_reloaded.last = carol_saved.1;
    assert_eq!(carol_reloaded.balance_at_least(all).await.of(0), c.of(0));

    // Bob's wallet saved after the restart, reloaded: the next check agrees.
    let (bob_account, bob_state, _) = bob.client.into_parts();
    let mut bob_reloaded = Checked::new(
        FogClient::new(
            GrpcTransport::new(grpc),
            bob_account,
            AccountState::from_bytes(&bob_state.to_bytes()).unwrap(),
            config,
        ),
        ledger.clone(),
        "bob reloaded",
    );
    bob_reloaded.last = b.block_count;
    assert_eq!(bob_reloaded.balance_at_least(all).await.of(0), b.of(0));
}
