//! Atomic swaps through the real services in-process: Alice offers MOB for token 1 as a
//! signed contingent input, Bob checks and fills it (fully, then another offer partly) with
//! his own token-1 TxOuts; both balances move by exactly the traded amounts. A tampered
//! offer, a fill below the minimum and a filled offer used again are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{sync::Arc, time::Duration};

use common::system::{
    fog_users, listener, open_stores, run_ingest, FogServices, FogUsers, FEE, MOB,
};
use fog_account::AccountKey;
use fog_client::{
    swap::{check_offer, fill_offer, make_offer, Fill, Take},
    ClientError,
};
use fog_node::{write_origin_block, Node, NodeConfig};
use fog_transaction::{Amount, TokenId};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const T1: TokenId = TokenId(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_made_checked_and_filled_through_the_node() {
    let seed = 61u64;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let FogUsers {
        files,
        report_listener,
        alice,
        bob,
        carol: _,
    } = fog_users(dir.path(), &mut rng).await;

    // The origin funds Alice with MOB and Bob with token 1 (this test's own funding).
    let (ledger, db, ingest) = open_stores(dir.path()).await;
    let ingress = ingest.ingress_public_key();
    let mut funding = Vec::new();
    for _ in 0..3 {
        funding.push((
            alice.default_subaddress(),
            Amount::new(10 * MOB, TokenId::MOB),
        ));
        funding.push((bob.default_subaddress(), Amount::new(1_000_000, T1)));
    }
    for _ in 0..30 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    write_origin_block(&ledger, &funding, Some(&ingress), &mut rng).unwrap();
    let _ingest = run_ingest(ingest);

    // A node that takes token 1 (minimum fee 1024).
    let node = Arc::new(
        Node::new(
            ledger.clone(),
            NodeConfig::default()
                .with_block_interval(Duration::from_millis(100))
                .with_minimum_fee(1, 1024),
        )
        .unwrap(),
    );
    let (node_listener, node_addr) = listener().await;
    tokio::spawn(fog_node::serve(node_listener, Arc::clone(&node)));
    std::mem::forget(node.start_block_cutter());

    let fog = FogServices::start(&db, &ledger, node_addr, report_listener, &ingress, &files).await;
    let verifier = fog.config.ingest_verifier.clone();
    let mut alice = fog.client(alice, &ledger, "alice");
    let mut bob = fog.client(bob, &ledger, "bob");
    let a0 = alice.balance_at_least(1).await;
    let b0 = bob.balance_at_least(1).await;
    assert_eq!(a0.of(0), 30 * MOB as u128);
    assert_eq!(b0.of(1), 3_000_000);

    // Full fill: 10 MOB for 200000 of token 1.
    let offer = make_offer(
        &mut alice.client,
        &verifier,
        Amount::new(10 * MOB, TokenId::MOB),
        Amount::new(200_000, T1),
        Fill::Full,
        100,
        &mut rng,
    )
    .await
    .unwrap();
    let (_, summary) = check_offer(&offer.bytes).unwrap();
    assert_eq!(summary.give, Amount::new(10 * MOB, TokenId::MOB));
    assert_eq!(summary.ask, vec![Amount::new(200_000, T1)]);
    assert_eq!(summary.fill, Fill::Full);

    // A tampered offer is refused before anything is fetched or signed.
    // (Here the claimed pseudo-output value, which the maker's signature binds.)
    let mut sci = fog_transaction::sci::SignedContingentInput::decode(&offer.bytes).unwrap();
    sci.pseudo_output_amount.value += 1;
    let tampered = sci.encode_to_vec();
    match check_offer(&tampered) {
        Err(ClientError::InvalidRequest(m)) => assert!(m.contains("offer"), "{m}"),
        other => panic!("a tampered offer was not refused: {other:?}"),
    }
    // A full offer cannot be taken in part.
    let e = fill_offer(
        &mut bob.client,
        &verifier,
        &offer.bytes,
        Take::Value(MOB),
        None,
        &mut rng,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::InvalidRequest(_)), "{e}");

    let receipt = fill_offer(
        &mut bob.client,
        &verifier,
        &offer.bytes,
        Take::All,
        None,
        &mut rng,
    )
    .await
    .unwrap();
    assert_eq!(receipt.paid, vec![Amount::new(200_000, T1)]);
    assert_eq!(receipt.received, Amount::new(10 * MOB, TokenId::MOB));
    let landed = node.ledger().num_blocks().unwrap() + 1;
    wait_for(&mut bob, landed, |b| b.of(0) == u128::from(10 * MOB - FEE)).await;
    let b = wait_for(&mut alice, landed, |b| b.of(1) == 200_000).await;
    assert_eq!(b.of(0), 20 * MOB as u128);
    let b = wait_for(&mut bob, landed, |b| b.of(1) == 2_800_000).await;
    assert_eq!(b.of(0), u128::from(10 * MOB - FEE));

    // The same offer again: its input is spent.
    let e = fill_offer(
        &mut bob.client,
        &verifier,
        &offer.bytes,
        Take::All,
        None,
        &mut rng,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::DoubleSpend { .. }), "{e}");

    // Partial fill: 10 MOB for 100000 of token 1, at least 2 MOB taken.
    let offer = make_offer(
        &mut alice.client,
        &verifier,
        Amount::new(10 * MOB, TokenId::MOB),
        Amount::new(100_000, T1),
        Fill::Partial { min_fill: 2 * MOB },
        100,
        &mut rng,
    )
    .await
    .unwrap();
    let (_, summary) = check_offer(&offer.bytes).unwrap();
    assert_eq!(summary.fill, Fill::Partial { min_fill: 2 * MOB });
    let e = fill_offer(
        &mut bob.client,
        &verifier,
        &offer.bytes,
        Take::Value(MOB),
        None,
        &mut rng,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::InvalidRequest(_)), "{e}");
    let receipt = fill_offer(
        &mut bob.client,
        &verifier,
        &offer.bytes,
        Take::Value(4 * MOB),
        None,
        &mut rng,
    )
    .await
    .unwrap();
    assert_eq!(receipt.paid, vec![Amount::new(40_000, T1)]);
    let landed = node.ledger().num_blocks().unwrap() + 1;
    // Alice: 6 MOB back as fractional change, 40000 of token 1 more.
    let b = wait_for(&mut alice, landed, |b| b.of(1) == 240_000).await;
    assert_eq!(b.of(0), 16 * MOB as u128);
    let b = wait_for(&mut bob, landed, |b| b.of(1) == 2_760_000).await;
    assert_eq!(b.of(0), u128::from(14 * MOB - 2 * FEE));
}

async fn wait_for(
    who: &mut common::system::Checked,
    blocks: u64,
    done: impl Fn(&fog_client::Balance) -> bool,
) -> fog_client::Balance {
    for _ in 0..600 {
        let b = who.balance().await;
        if b.block_count >= blocks && done(&b) {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{}: the balance never got there", who.name);
}
