//! The client against the real services in-process, over gRPC on port-0 listeners: the
//! ledger node, ingest, view, fog ledger and report, with a SQLite recovery DB and a ledger
//! DB on disk. Alice pays Bob, Bob pays Carol with change back, every balance is exact for
//! its block count (checked against a view-key scan of the ledger) while blocks arrive, a
//! replayed spend is refused, and a service that is down or refuses attestation is named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::system::{
    fog_users, open_stores, run_ingest, start_node, write_funded_origin, FogServices, FogUsers,
    FEE, MOB,
};
use fog_account::AccountKey;
use fog_client::{
    history::{EntryKind, Sender},
    AccountState, ClientError, FogClient, GrpcTransport, Service, Transport,
};
use fog_transaction::{Amount, TokenId};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fog_users_pay_each_other_and_every_balance_is_exact() {
    let seed = 21u64;
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
    let ingress = ingest.ingress_public_key();
    write_funded_origin(&ledger, &alice, &ingress, &mut rng);
    let _ingest = run_ingest(ingest);

    // The node.
    let (_node, node_addr, cutter) = start_node(&ledger).await;
    std::mem::forget(cutter);

    // View, fog ledger, and report (the ingest enclave's evidence binding the ingress key).
    let fog = FogServices::start(&db, &ledger, node_addr, report_listener, &ingress, &files).await;
    let (grpc, config) = (fog.grpc.clone(), fog.config.clone());
    let client = |account: AccountKey, name| fog.client(account, &ledger, name);
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
    wrong.ledger_verifier = grpc.view_verifier.clone();
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
