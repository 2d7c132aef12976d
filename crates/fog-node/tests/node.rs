//! The node in-process behind a port-0 gRPC server: payments built with the transaction
//! builder land in blocks where the recipients' view keys find them, and every kind of bad
//! transaction is refused with its own rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use curve25519_dalek::scalar::Scalar;
use fog_account::{AccountKey, PublicAddress};
use fog_api::fog_node::{
    ledger_node_client::LedgerNodeClient, GetBlocksRequest, GetLedgerInfoRequest, SubmitTxRequest,
    SubmitTxResponse, SubmitTxResult,
};
use fog_crypto::RistrettoPrivate;
use fog_ledger_db::LedgerDb;
use fog_node::{serve, write_origin_block, Node, NodeConfig};
use fog_transaction::{
    block::{Block, BlockContents},
    builder::{InputCredentials, TransactionBuilder},
    tx::Tx,
    validation::{MOB_MINIMUM_FEE, RING_SIZE},
    Amount, BlockVersion, FogHint, TokenId, TxOut,
};
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tonic::{transport::Channel, Code};

const MOB: u64 = 1_000_000_000_000;

/// A sender funded in the origin block among other accounts' TxOuts (ring members), a fog
/// recipient, the node and a client.
struct World {
    rng: ChaCha20Rng,
    sender: AccountKey,
    recipient: AccountKey,
    ingest: RistrettoPrivate,
    node: Arc<Node>,
    client: LedgerNodeClient<Channel>,
}

fn rng_from(seed: u64) -> ChaCha20Rng {
    println!("seed {seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

/// An in-memory ledger whose origin block pays `sender` 8 × 10 MOB among 24 TxOuts of
/// strangers.
fn funded_ledger(
    sender: &AccountKey,
    ingest: &RistrettoPrivate,
    rng: &mut ChaCha20Rng,
) -> LedgerDb {
    let mut funding: Vec<(PublicAddress, Amount)> = (0..8)
        .map(|_| {
            (
                sender.default_subaddress(),
                Amount::new(10 * MOB, TokenId::MOB),
            )
        })
        .collect();
    for _ in 0..24 {
        let stranger = AccountKey::random(rng).default_subaddress();
        funding.push((stranger, Amount::new(5 * MOB, TokenId::MOB)));
    }
    let ledger = LedgerDb::create_in_memory().unwrap();
    write_origin_block(&ledger, &funding, Some(&ingest.public_key()), rng).unwrap();
    ledger
}

async fn world(seed: u64, config: NodeConfig, cutter: bool) -> World {
    let mut rng = rng_from(seed);
    let sender = AccountKey::random(&mut rng);
    let recipient =
        AccountKey::random(&mut rng).with_fog("fog://fog.example.com", "", b"test authority");
    let ingest = RistrettoPrivate::random(&mut rng);
    let ledger = funded_ledger(&sender, &ingest, &mut rng);
    let node = Arc::new(Node::new(ledger, config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::clone(&node)));
    if cutter {
        // Runs until the test's runtime ends.
        std::mem::forget(node.start_block_cutter());
    }
    let client = LedgerNodeClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    World {
        rng,
        sender,
        recipient,
        ingest,
        node,
        client,
    }
}

/// The ledger TxOuts that `account` owns (default or change subaddress): global index, TxOut,
/// value.
fn owned(ledger: &LedgerDb, account: &AccountKey) -> Vec<(u64, TxOut, u64)> {
    let n = ledger.num_txos().unwrap();
    ledger
        .get_tx_outs(0..n)
        .unwrap()
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let (amount, _) = t.view_key_match(account.view_private_key()).ok()?;
            Some((i as u64, t, amount.value))
        })
        .collect()
}

impl World {
    /// Credentials to spend the TxOut at `index` owned by `owner` (default subaddress, or
    /// change with `subaddress` 1), with 10 random mixins from the ledger.
    fn input(&mut self, owner: &AccountKey, index: u64, subaddress: u64) -> InputCredentials {
        let ledger = self.node.ledger();
        let n = ledger.num_txos().unwrap();
        let mut others: Vec<u64> = (0..n).filter(|i| *i != index).collect();
        others.shuffle(&mut self.rng);
        let mut indices = vec![index];
        indices.extend(others.into_iter().take(RING_SIZE - 1));
        let snapshot = ledger.snapshot().unwrap();
        let proofs = snapshot.membership_proofs(&indices).unwrap();
        let ring: Vec<TxOut> = indices
            .iter()
            .map(|i| snapshot.tx_out(*i).unwrap().unwrap())
            .collect();
        let a = owner.view_private_key();
        let x = ring[0]
            .onetime_private_key(a, &owner.subaddress_spend_private(subaddress))
            .unwrap();
        InputCredentials {
            ring,
            membership_proofs: proofs,
            real_index: 0,
            onetime_private_key: x,
            view_private_key: RistrettoPrivate::from_bytes(&a.to_bytes()[..]).unwrap(),
        }
    }

    /// The sender pays `pay` to the recipient from its `which`-th owned TxOut, change back.
    fn payment(&mut self, which: usize, pay: u64, tombstone: u64) -> Tx {
        let sender = std::mem::replace(&mut self.sender, AccountKey::random(&mut self.rng));
        let (index, _, value) = owned(self.node.ledger(), &sender)[which].clone();
        let input = self.input(&sender, index, 0);
        let mut b = TransactionBuilder::new(
            BlockVersion::THREE,
            Amount::new(MOB_MINIMUM_FEE, TokenId::MOB),
        );
        b.set_tombstone_block(tombstone);
        b.add_input(input);
        b.add_output(
            Amount::new(pay, TokenId::MOB),
            &self.recipient.default_subaddress(),
            Some(&self.ingest.public_key()),
        );
        b.add_change_output(
            Amount::new(value - pay - MOB_MINIMUM_FEE, TokenId::MOB),
            &sender,
            None,
        );
        let tx = b.build(&mut self.rng).unwrap();
        self.sender = sender;
        tx
    }

    async fn submit(&mut self, tx: &Tx) -> SubmitTxResponse {
        self.client
            .submit_tx(SubmitTxRequest {
                tx: Some(tx.to_wire()),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn block_count(&mut self) -> u64 {
        self.client
            .get_ledger_info(GetLedgerInfoRequest {})
            .await
            .unwrap()
            .into_inner()
            .block_count
    }

    async fn blocks(&mut self, first: u64) -> Vec<(Block, BlockContents)> {
        let answer = self
            .client
            .get_blocks(GetBlocksRequest { first, limit: 0 })
            .await
            .unwrap()
            .into_inner();
        answer
            .blocks
            .iter()
            .map(|d| {
                (
                    Block::try_from_wire(d.block.as_ref().unwrap()).unwrap(),
                    BlockContents::try_from_wire(d.contents.as_ref().unwrap()).unwrap(),
                )
            })
            .collect()
    }

    /// Waits until the ledger has `n` blocks (the cutter runs on an interval).
    async fn wait_for_blocks(&mut self, n: u64) {
        for _ in 0..600 {
            if self.block_count().await >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the ledger never reached {n} blocks");
    }
}

fn assert_refused(r: &SubmitTxResponse, result: SubmitTxResult, rule: &str) {
    assert_eq!(
        (r.result(), r.rule.as_str()),
        (result, rule),
        "expected {result:?} {rule}, got {r:?}"
    );
}

fn found_by(contents: &BlockContents, account: &AccountKey) -> Vec<(TxOut, u64)> {
    contents
        .outputs
        .iter()
        .filter_map(|o| {
            let (amount, _) = o.view_key_match(account.view_private_key()).ok()?;
            Some((o.clone(), amount.value))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_land_and_recipients_find_them() {
    let config = NodeConfig::default().with_block_interval(Duration::from_millis(100));
    let mut w = world(1, config, true).await;

    // The sender pays the recipient 3 MOB.
    let tx = w.payment(0, 3 * MOB, 50);
    let r = w.submit(&tx).await;
    assert_eq!(r.result(), SubmitTxResult::Accepted, "{r:?}");
    assert_eq!(r.block_count, 1);
    w.wait_for_blocks(2).await;

    let blocks = w.blocks(0).await;
    assert_eq!(blocks.len(), 2);
    let (block, contents) = &blocks[1];
    assert_eq!(block.index, 1);
    assert_eq!(block.parent_id, blocks[0].0.id);
    assert_eq!(contents.key_images, tx.key_images());
    assert_eq!(block.cumulative_txo_count, 32 + 2);

    // The recipient's view key finds exactly its payment, whose fog hint names it.
    let found = found_by(contents, &w.recipient);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, 3 * MOB);
    let mut hinted = [0u8; 32];
    assert!(bool::from(FogHint::ct_decrypt(
        &w.ingest,
        &found[0].0.e_fog_hint,
        &mut hinted
    )));
    assert_eq!(
        &hinted,
        w.recipient
            .default_subaddress()
            .view_public_key()
            .as_bytes()
    );
    // The sender finds its change.
    let change = found_by(contents, &w.sender);
    assert_eq!(change.len(), 1);
    assert_eq!(change[0].1, 10 * MOB - 3 * MOB - MOB_MINIMUM_FEE);

    // The recipient spends what it got, proving it against the grown ledger, to the sender.
    let index = w
        .node
        .ledger()
        .get_tx_out_index_by_public_key(found[0].0.public_key.as_bytes())
        .unwrap()
        .unwrap();
    let recipient = std::mem::replace(&mut w.recipient, AccountKey::random(&mut w.rng));
    let input = w.input(&recipient, index, 0);
    let mut b = TransactionBuilder::new(
        BlockVersion::THREE,
        Amount::new(MOB_MINIMUM_FEE, TokenId::MOB),
    );
    b.set_tombstone_block(60);
    b.add_input(input);
    b.add_output(
        Amount::new(MOB, TokenId::MOB),
        &w.sender.default_subaddress(),
        None,
    );
    b.add_change_output(
        Amount::new(2 * MOB - MOB_MINIMUM_FEE, TokenId::MOB),
        &recipient,
        Some(&w.ingest.public_key()),
    );
    let tx2 = b.build(&mut w.rng).unwrap();
    let r = w.submit(&tx2).await;
    assert_eq!(r.result(), SubmitTxResult::Accepted, "{r:?}");
    w.wait_for_blocks(3).await;
    let blocks = w.blocks(2).await;
    assert_eq!(blocks.len(), 1);
    let received = found_by(&blocks[0].1, &w.sender);
    assert_eq!(received.iter().map(|f| f.1).collect::<Vec<_>>(), vec![MOB]);
    assert_eq!(found_by(&blocks[0].1, &recipient).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_transaction_is_refused_with_its_rule() {
    // No cutter: blocks are cut by hand, so the pending set is what the test says.
    let mut w = world(2, NodeConfig::default(), false).await;

    let tx_a = w.payment(0, MOB, 50);
    let r = w.submit(&tx_a).await;
    assert_eq!(r.result(), SubmitTxResult::Accepted, "{r:?}");

    // The same input again while the first is pending.
    let tx_b = w.payment(0, 2 * MOB, 50);
    let r = w.submit(&tx_b).await;
    assert_refused(&r, SubmitTxResult::DoubleSpend, "KeyImageAlreadyPending");
    // The identical transaction again.
    let r = w.submit(&tx_a).await;
    assert_refused(&r, SubmitTxResult::DoubleSpend, "KeyImageAlreadyPending");

    let good = w.payment(1, MOB, 50);

    // A forged signature.
    let mut t = good.clone();
    t.signature.ring_signatures[0].responses[3] += Scalar::ONE;
    let r = w.submit(&t).await;
    assert_refused(
        &r,
        SubmitTxResult::Invalid,
        "InvalidTransactionSignature(RingSignature(InvalidSignature))",
    );

    // Outputs plus fee no longer equal the inputs.
    let mut t = good.clone();
    t.prefix.fee += 1;
    let r = w.submit(&t).await;
    assert_refused(
        &r,
        SubmitTxResult::Invalid,
        "InvalidTransactionSignature(ValueNotConserved)",
    );

    // A broken range proof.
    let mut t = good.clone();
    t.signature.range_proofs[0][200] ^= 1;
    let r = w.submit(&t).await;
    assert_eq!(r.result(), SubmitTxResult::Invalid);
    assert!(
        r.rule.starts_with("InvalidTransactionSignature(RangeProof"),
        "{r:?}"
    );

    // A proof claiming a ledger larger than the node's.
    let mut t = good.clone();
    t.prefix.inputs[0].proofs[0].highest_index = 10_000;
    let r = w.submit(&t).await;
    assert_refused(&r, SubmitTxResult::Invalid, "MissingTxOutMembershipProof");

    // A proof from another ledger of the same size.
    let mut other_rng = rng_from(99);
    let other = funded_ledger(
        &AccountKey::random(&mut other_rng),
        &RistrettoPrivate::random(&mut other_rng),
        &mut other_rng,
    );
    let mut t = good.clone();
    let index = t.prefix.inputs[0].proofs[5].index;
    t.prefix.inputs[0].proofs[5] = other.membership_proof(index).unwrap();
    let r = w.submit(&t).await;
    assert_eq!(r.result(), SubmitTxResult::Invalid);
    assert!(r.rule.starts_with("InvalidTxOutMembershipProof("), "{r:?}");

    // A tombstone already reached: the block being formed is block 1.
    let expired = w.payment(1, MOB, 1);
    let r = w.submit(&expired).await;
    assert_refused(&r, SubmitTxResult::Invalid, "TombstoneBlockExceeded");

    // Nothing of these was queued.
    assert_eq!(w.node.pending_count(), 1);

    // Not a transaction at all.
    let status = w
        .client
        .submit_tx(SubmitTxRequest { tx: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut wire = good.to_wire();
    wire.prefix.as_mut().unwrap().outputs[0].public_key = None;
    let status = w
        .client
        .submit_tx(SubmitTxRequest { tx: Some(wire) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "malformed transaction");

    // The first payment lands; spending its input again is now a double spend against the
    // ledger.
    let block = w.node.cut_block().unwrap().unwrap();
    assert_eq!(block.index, 1);
    assert_eq!(
        w.node
            .ledger()
            .get_block_contents(1)
            .unwrap()
            .unwrap()
            .key_images,
        tx_a.key_images()
    );
    assert_eq!(w.node.pending_count(), 0);
    let r = w.submit(&tx_b).await;
    assert_refused(&r, SubmitTxResult::DoubleSpend, "ContainsSpentKeyImage");
    assert_eq!(r.block_count, 2);

    // The good payment still validates, against the grown ledger.
    let r = w.submit(&good).await;
    assert_eq!(r.result(), SubmitTxResult::Accepted, "{r:?}");
    assert!(w.node.cut_block().unwrap().is_some());
    assert!(w.node.cut_block().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pending_set_answers_busy() {
    let mut w = world(3, NodeConfig::default().with_limits(1, 10), false).await;
    let first = w.payment(0, MOB, 50);
    let second = w.payment(1, MOB, 50);
    assert_eq!(w.submit(&first).await.result(), SubmitTxResult::Accepted);
    let r = w.submit(&second).await;
    assert_refused(&r, SubmitTxResult::Busy, "PendingSetFull");
    w.node.cut_block().unwrap().unwrap();
    assert_eq!(w.submit(&second).await.result(), SubmitTxResult::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_cut_without_waiting_and_conflicts_are_dropped() {
    // An interval the test never reaches: only a full batch (2 transactions) triggers a cut.
    let config = NodeConfig::default()
        .with_block_interval(Duration::from_secs(3600))
        .with_limits(100, 2);
    let mut w = world(4, config, true).await;
    let one = w.payment(0, MOB, 50);
    let two = w.payment(1, MOB, 50);
    assert_eq!(w.submit(&one).await.result(), SubmitTxResult::Accepted);
    assert_eq!(w.submit(&two).await.result(), SubmitTxResult::Accepted);
    w.wait_for_blocks(2).await;
    let contents = w.node.ledger().get_block_contents(1).unwrap().unwrap();
    let mut expected = [one.key_images(), two.key_images()].concat();
    expected.sort();
    assert_eq!(contents.key_images, expected);
    // Outputs are sorted by public key.
    assert!(contents
        .outputs
        .windows(2)
        .all(|p| p[0].public_key < p[1].public_key));
}

#[tokio::test]
async fn ledger_info_publishes_the_minimum_fees_and_bad_ones_are_refused() {
    let config = NodeConfig::default().with_minimum_fee(1, 1024);
    let mut w = world(31, config, false).await;
    let info = w
        .client
        .get_ledger_info(GetLedgerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let fees: std::collections::BTreeMap<u64, u64> = info.minimum_fees.into_iter().collect();
    assert_eq!(
        fees,
        std::collections::BTreeMap::from([(0, MOB_MINIMUM_FEE), (1, 1024)])
    );

    // A node with a fee MobileCoin would not accept does not start.
    let mut rng = rng_from(32);
    let sender = AccountKey::random(&mut rng);
    let ingest = RistrettoPrivate::random(&mut rng);
    let ledger = funded_ledger(&sender, &ingest, &mut rng);
    let Err(e) = Node::new(ledger, NodeConfig::default().with_minimum_fee(1, 1000)) else {
        panic!("a fee of 1000 is not a multiple of 128");
    };
    assert!(e.to_string().contains("token 1's minimum fee 1000"), "{e}");
}

/// A swap through the node: Alice offers 10 MOB for 100000 of token 1 as a signed
/// contingent input; Bob completes it with his token-1 input. A transaction breaking the
/// offer's rules is refused by rule; the valid one lands and pays both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_with_a_signed_contingent_input_lands_and_a_broken_one_is_refused() {
    use fog_transaction::{
        builder::{
            sign_prefix_with_presigned, InputSecret, InputSigner, OutputSecret, PresignedInput,
        },
        sci::{SignedContingentInput, SignedContingentInputBuilder},
    };
    const ASK: u64 = 100_000;
    let mut rng = rng_from(41);
    let alice = AccountKey::random(&mut rng);
    let bob = AccountKey::random(&mut rng);
    let ingest = RistrettoPrivate::random(&mut rng);
    let mut funding = vec![
        (
            alice.default_subaddress(),
            Amount::new(10 * MOB, TokenId::MOB),
        ),
        (bob.default_subaddress(), Amount::new(1_000_000, TokenId(1))),
    ];
    for _ in 0..24 {
        let stranger = AccountKey::random(&mut rng).default_subaddress();
        funding.push((stranger, Amount::new(5 * MOB, TokenId::MOB)));
    }
    let ledger = LedgerDb::create_in_memory().unwrap();
    write_origin_block(&ledger, &funding, Some(&ingest.public_key()), &mut rng).unwrap();
    let node =
        Arc::new(Node::new(ledger, NodeConfig::default().with_minimum_fee(1, 1024)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::clone(&node)));
    let client = LedgerNodeClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    // The world's own sender and recipient are unused here.
    let (sender, recipient) = (AccountKey::random(&mut rng), AccountKey::random(&mut rng));
    let mut w = World {
        rng,
        sender,
        recipient,
        ingest,
        node,
        client,
    };

    // Alice's offer, limited to tombstone 40.
    let (alice_index, _, offered) = owned(w.node.ledger(), &alice)[0].clone();
    let mut maker =
        SignedContingentInputBuilder::new(BlockVersion::THREE, w.input(&alice, alice_index, 0));
    maker
        .add_required_output(
            Amount::new(ASK, TokenId(1)),
            &alice.default_subaddress(),
            None,
            &mut w.rng,
        )
        .unwrap();
    maker.set_max_tombstone_block(40);
    let offer_bytes = maker.build(&mut w.rng).unwrap().encode_to_vec();

    // Bob reads the offer, checks it, proves its ring against the ledger and completes it.
    let mut sci = SignedContingentInput::decode(&offer_bytes).unwrap();
    sci.validate().unwrap();
    let proofs = w
        .node
        .ledger()
        .snapshot()
        .unwrap()
        .membership_proofs(&sci.tx_out_global_indices)
        .unwrap();
    sci.set_membership_proofs(proofs).unwrap();
    let (bob_index, _, bob_value) = owned(w.node.ledger(), &bob)[0].clone();
    let mut b = TransactionBuilder::new(
        BlockVersion::THREE,
        Amount::new(MOB_MINIMUM_FEE, TokenId::MOB),
    );
    b.set_tombstone_block(60);
    b.add_input(w.input(&bob, bob_index, 0));
    b.add_presigned_input(sci.clone()).unwrap();
    b.add_change_output(Amount::new(bob_value - ASK, TokenId(1)), &bob, None);
    b.add_change_output(
        Amount::new(offered - MOB_MINIMUM_FEE, TokenId::MOB),
        &bob,
        None,
    );
    let good = b.build(&mut w.rng).unwrap();
    assert_eq!(good.prefix.tombstone_block, 40);

    // Broken: the tombstone pushed past the offer's limit, Bob's input re-signed.
    let mut bad = good.clone();
    bad.prefix.tombstone_block = 45;
    let a = bob.view_private_key();
    let mut owned_secret = None;
    for input in bad.prefix.inputs.iter().filter(|i| i.input_rules.is_none()) {
        let (real_index, t) = input
            .ring
            .iter()
            .enumerate()
            .find(|(_, t)| t.view_key_match(a).is_ok())
            .unwrap();
        let (amount, shared) = t.view_key_match(a).unwrap();
        let (_, blinding) = t.masked_amount().unwrap().get_value(&shared).unwrap();
        owned_secret = Some(InputSecret {
            onetime_private_key: t
                .onetime_private_key(a, &bob.subaddress_spend_private(0))
                .unwrap(),
            real_index,
            amount,
            blinding,
        });
    }
    let owned_secret = owned_secret.unwrap();
    let presigned = PresignedInput {
        mlsag: sci.mlsag.clone(),
        amount: sci.pseudo_output_amount.amount(),
        pseudo_output_blinding: sci.pseudo_output_amount.blinding,
    };
    let signers: Vec<InputSigner<'_>> = bad
        .prefix
        .inputs
        .iter()
        .map(|i| match i.input_rules {
            Some(_) => InputSigner::Presigned(&presigned),
            None => InputSigner::Owned(&owned_secret),
        })
        .collect();
    let outputs: Vec<OutputSecret> = bad
        .prefix
        .outputs
        .iter()
        .map(|o| match o.view_key_match(a) {
            Ok((amount, shared)) => OutputSecret {
                amount,
                blinding: o.masked_amount().unwrap().get_value(&shared).unwrap().1,
            },
            Err(_) => OutputSecret {
                amount: sci.required_output_amounts[0].amount(),
                blinding: sci.required_output_amounts[0].blinding,
            },
        })
        .collect();
    let bad = sign_prefix_with_presigned(bad.prefix, &signers, &outputs, &mut w.rng).unwrap();
    let r = w.submit(&bad).await;
    assert_refused(
        &r,
        SubmitTxResult::Invalid,
        "InputRule(MaxTombstoneBlockExceeded)",
    );

    // Broken: the rules rewritten to drop the payment to Alice (her signature no longer
    // covers them).
    let mut forged = good.clone();
    for i in &mut forged.prefix.inputs {
        if let Some(rules) = i.input_rules.as_mut() {
            rules.required_outputs.clear();
        }
    }
    let r = w.submit(&forged).await;
    assert_refused(
        &r,
        SubmitTxResult::Invalid,
        "InvalidTransactionSignature(RingSignature(InvalidSignature))",
    );

    // The valid swap is accepted and lands.
    let r = w.submit(&good).await;
    assert_eq!(r.result(), SubmitTxResult::Accepted, "{r:?}");
    w.node.cut_block().unwrap().unwrap();
    let blocks = w.blocks(1).await;
    assert_eq!(blocks.len(), 1);
    let contents = &blocks[0].1;
    assert!(contents.key_images.contains(&sci.key_image()));
    let to_alice: Vec<u64> = found_by(contents, &alice)
        .into_iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(to_alice, vec![ASK]);
    let mut to_bob: Vec<u64> = found_by(contents, &bob).into_iter().map(|f| f.1).collect();
    to_bob.sort_unstable();
    let mut expected = vec![bob_value - ASK, offered - MOB_MINIMUM_FEE];
    expected.sort_unstable();
    assert_eq!(to_bob, expected);
}
