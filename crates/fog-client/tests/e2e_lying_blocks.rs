//! A lying operator against the real services in-process: the operator reports a missed
//! block range in its recovery DB (a "lost" ingress key), and its fog ledger host (or anyone
//! on the plain gRPC path) adds to the blocks `GetBlocks` returns a TxOut paying Bob that no
//! block of the chain holds, made with the real crates and with the block headers forged to
//! match. Bob's check must refuse it, naming the fog ledger; his balance is never wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use common::system::{
    fog_users, open_stores, run_ingest, start_node, truth, write_funded_origin, Checked,
    FogServices, FogUsers, Hooks, Intercepted, MOB,
};
use fog_client::{AccountState, ClientError, FogClient, GrpcTransport, Service};
use fog_crypto::RistrettoPrivate;
use fog_recovery_db::{BlockIndex, IngressPublicKey, RecoveryDb, ReportData, ReportDb};
use fog_transaction::{Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut};
use fog_types::ledger::BlockResponse;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// While `lying` is set, every `GetBlocks` answer gets `forged` added to its first block, with
/// the counts and headers after it made to match.
struct Lying {
    lying: Arc<AtomicBool>,
    forged: fog_transaction::wire::TxOut,
}

impl Hooks for Lying {
    fn blocks(&mut self, answer: &mut BlockResponse) {
        if self.lying.load(Ordering::SeqCst) && !answer.blocks.is_empty() {
            answer.blocks[0].outputs.push(self.forged.clone());
            for b in &mut answer.blocks {
                b.global_txo_count += 1;
            }
            answer.global_txo_count += 1;
            common::reforge(answer);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_tx_out_in_a_missed_range_is_refused_through_the_real_services() {
    let seed = 31u64;
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let FogUsers {
        files,
        report_listener,
        bob,
        ..
    } = fog_users(dir.path(), &mut rng).await;

    let (ledger, db, ingest) = open_stores(dir.path()).await;
    let ingress = ingest.ingress_public_key();
    write_funded_origin(&ledger, &bob, &ingress, &mut rng);

    // The operator declares block 0 missed: an ingress key of its own, reported lost.
    let lost =
        IngressPublicKey::from_bytes(&RistrettoPrivate::random(&mut rng).public_key().to_bytes())
            .unwrap();
    db.new_ingress_key(&lost, BlockIndex(0)).await.unwrap();
    db.set_report(
        &lost,
        "lost",
        &ReportData {
            ingest_invocation_id: None,
            evidence: vec![1],
            pubkey_expiry: BlockIndex(1),
        },
    )
    .await
    .unwrap();
    db.report_lost_ingress_key(&lost).await.unwrap();

    let _ingest = run_ingest(ingest);
    let (_node, node_addr, _cutter) = start_node(&ledger).await;
    let fog = FogServices::start(&db, &ledger, node_addr, report_listener, &ingress, &files).await;

    // Anyone can make a TxOut paying Bob's public address; no block of the chain holds it.
    let forged = TxOut::new(
        BlockVersion::THREE,
        Amount::new(1000 * MOB, TokenId::MOB),
        &bob.default_subaddress(),
        &RistrettoPrivate::random(&mut rng),
        EncryptedFogHint::fake_onetime_hint(&mut rng),
    )
    .unwrap()
    .to_wire();
    let lying = Arc::new(AtomicBool::new(true));
    let transport = Intercepted {
        inner: GrpcTransport::new(fog.grpc.clone()),
        hooks: Lying {
            lying: Arc::clone(&lying),
            forged,
        },
    };
    let mut bob = Checked::new(
        FogClient::new(transport, bob, AccountState::new(), fog.config.clone()),
        ledger.clone(),
        "bob",
    );

    // Checks until the missed range reaches the scan: every balance on the way is exact,
    // and the forged block is refused.
    let mut refused = None;
    for _ in 0..600 {
        match bob.client.check_balance().await {
            Ok(b) => {
                assert_eq!(
                    b.of(0),
                    truth(&ledger, bob.client.account(), b.block_count),
                    "balance at block count {} is not exact",
                    b.block_count
                );
                // The missed range holds the count at 0 until it is scanned.
                assert_eq!(b.block_count, 0, "block 0 was scanned and nothing refused");
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = refused.expect("the forged block was never refused");
    println!("refused: {e}");
    assert!(
        matches!(&e, ClientError::BadResponse { service: Service::Blocks, what } if what.contains("fog ledger enclave")),
        "{e}"
    );
    assert!(bob
        .client
        .state()
        .tx_outs
        .values()
        .all(|t| t.amount.value != 1000 * MOB));

    // With honest answers, the range is scanned and the balance is exact.
    lying.store(false, Ordering::SeqCst);
    let b = bob.balance_at_least(1).await;
    assert_eq!(b.of(0), u128::from(40 * MOB));
    assert!(bob.client.state().missed_ranges.is_empty());
}
