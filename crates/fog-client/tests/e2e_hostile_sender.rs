//! A hostile sender against the real services in-process: Mallory pays himself in a real
//! RingCT transaction through the node, but writes Bob's public `C_0` into the output's fog
//! hint, encrypted to the public ingress key. Ingest files that record under Bob's RNG; view
//! finds it for Bob; it opens with Bob's `c_0` but its TxOut is not Bob's. Bob's checks must
//! step past it (counting it) and stay exact, before and after real payments around it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::system::{
    fog_users, open_stores, run_ingest, start_node, Checked, FogServices, FogUsers, FEE, MOB,
};
use fog_account::AccountKey;
use fog_ledger_db::LedgerDb;
use fog_node::write_origin_block;
use fog_transaction::{
    builder::{InputCredentials, TransactionBuilder},
    validation::RING_SIZE,
    Amount, BlockVersion, TokenId,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Mallory's transaction: spends his origin TxOut at `input` (ring members from the origin
/// block, proofs from the ledger) and pays it all, less the fee, to himself, with a fog hint
/// naming `victim`.
fn hostile_self_payment(
    ledger: &LedgerDb,
    mallory: &AccountKey,
    input: u64,
    victim: &AccountKey,
    ingress: &fog_crypto::RistrettoPublic,
    rng: &mut ChaCha20Rng,
) -> fog_transaction::tx::Tx {
    let mut ring_indices: Vec<u64> = (0..ledger.num_txos().unwrap())
        .filter(|&i| i != input)
        .take(RING_SIZE - 1)
        .collect();
    ring_indices.insert(0, input);
    let ring: Vec<_> = ring_indices
        .iter()
        .map(|&i| ledger.get_tx_out(i).unwrap().unwrap())
        .collect();
    let proofs = ledger.membership_proofs(&ring_indices).unwrap();
    let real = &ring[0];
    let (amount, _) = real.view_key_match(mallory.view_private_key()).unwrap();
    let spend = mallory.subaddress_spend_private(fog_account::DEFAULT_SUBADDRESS_INDEX);
    let onetime_private_key = real
        .onetime_private_key(mallory.view_private_key(), &spend)
        .unwrap();
    let mut builder = TransactionBuilder::new(BlockVersion::THREE, Amount::new(FEE, TokenId::MOB));
    builder.set_tombstone_block(ledger.num_blocks().unwrap() + 50);
    builder.add_input(InputCredentials {
        ring,
        membership_proofs: proofs,
        real_index: 0,
        onetime_private_key,
        view_private_key: fog_crypto::RistrettoPrivate::from_scalar(
            *mallory.view_private_key().as_scalar(),
        ),
    });
    builder.add_output_with_fog_hint_address(
        Amount::new(amount.value - FEE, TokenId::MOB),
        &mallory.default_subaddress(),
        &victim.default_subaddress(),
        Some(ingress),
    );
    builder.build(rng).unwrap()
}

/// Checks until the balance covers `blocks` blocks; the balance and the records the checks
/// rejected in all.
async fn checks_until(c: &mut Checked, blocks: u64) -> (fog_client::Balance, u64) {
    let mut rejected = 0;
    for _ in 0..600 {
        let b = c.balance().await;
        rejected += c.client.last_progress().records_rejected;
        if b.block_count >= blocks {
            return (b, rejected);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{}: the balance never reached block count {blocks}", c.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_naming_the_victim_in_a_hint_cannot_stop_the_victims_checks() {
    let seed = 23u64;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let FogUsers {
        files,
        report_listener,
        alice,
        bob,
        carol: mallory,
    } = fog_users(dir.path(), &mut rng).await;

    // The origin block funds Alice and Mallory among strangers, with fog hints to ingest.
    let (ledger, db, ingest) = open_stores(dir.path()).await;
    let ingress = ingest.ingress_public_key();
    let mut funding = vec![
        (
            alice.default_subaddress(),
            Amount::new(10 * MOB, TokenId::MOB)
        );
        2
    ];
    funding.push((
        mallory.default_subaddress(),
        Amount::new(10 * MOB, TokenId::MOB),
    ));
    for _ in 0..20 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(MOB, TokenId::MOB)));
    }
    let (_, origin) = write_origin_block(&ledger, &funding, Some(&ingress), &mut rng).unwrap();
    let mallory_tx_out = origin
        .iter()
        .find(|o| o.view_key_match(mallory.view_private_key()).is_ok())
        .unwrap();
    let mallory_input = ledger
        .get_tx_out_index_by_public_key(&mallory_tx_out.public_key.0)
        .unwrap()
        .unwrap();
    let _ingest = run_ingest(ingest);
    let (node, node_addr, cutter) = start_node(&ledger).await;
    std::mem::forget(cutter);

    let fog = FogServices::start(&db, &ledger, node_addr, report_listener, &ingress, &files).await;
    let (mut alice, mut bob) = (
        fog.client(alice, &ledger, "alice"),
        fog.client(bob, &ledger, "bob"),
    );

    // Alice pays Bob 3 MOB: a real record under Bob's RNG before the hostile one.
    alice.balance_at_least(1).await;
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
    let first = receipt.block_index.expect("landed");
    let b = bob.balance_at_least(first + 1).await;
    assert_eq!(b.of(0), u128::from(3 * MOB));
    assert_eq!(bob.client.last_progress().records_rejected, 0);

    // Mallory's transaction goes through the node like any other.
    let tx = hostile_self_payment(
        &ledger,
        &mallory,
        mallory_input,
        bob.client.account(),
        &ingress,
        &mut rng,
    );
    let key_image = tx.key_images()[0];
    node.submit_tx(tx).unwrap();
    let mut hostile_block = None;
    for _ in 0..100 {
        if let Some(b) = ledger.check_key_image(&key_image).unwrap() {
            hostile_block = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hostile_block = hostile_block.expect("Mallory's transaction landed");
    println!("Mallory's transaction landed in block {hostile_block}");

    // Bob's check reaches past the hostile record: exact, and the record is counted.
    let (b, mut rejected) = checks_until(&mut bob, hostile_block + 1).await;
    assert_eq!(b.of(0), u128::from(3 * MOB));

    // Alice pays Bob again after it; Bob finds it, and every later check succeeds.
    let receipt = alice
        .client
        .send(
            &bob.client.account().default_subaddress(),
            Amount::new(2 * MOB, TokenId::MOB),
            None,
            &mut rng,
        )
        .await
        .unwrap();
    let second = receipt.block_index.expect("landed");
    assert!(second > hostile_block);
    let (b, more) = checks_until(&mut bob, second + 1).await;
    rejected += more;
    assert_eq!(b.of(0), u128::from(5 * MOB));
    assert_eq!(rejected, 1, "the hostile record is skipped exactly once");
    for _ in 0..3 {
        let b = bob.balance().await;
        assert_eq!(b.of(0), u128::from(5 * MOB));
        assert_eq!(bob.client.last_progress().records_rejected, 0);
    }
}
