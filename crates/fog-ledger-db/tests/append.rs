//! Appending, validation and reading.
#![allow(clippy::unwrap_used)]

mod common;

use common::{append_random_block, check_consistent, contents, key_image, next_block, Tip};
use fog_ledger_db::{Durability, LedgerDb, LedgerError};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{Range, TxOutMembershipElement},
    BlockVersion,
};
use rand::Rng;

fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

#[test]
fn ledger_db_is_send_sync_and_clone() {
    assert_send_sync::<LedgerDb>();
}

/// Everything a failed append must leave as it was.
#[derive(Debug, PartialEq)]
struct State {
    num_blocks: u64,
    num_txos: u64,
    root: TxOutMembershipElement,
    last: Option<Block>,
}

fn state(ledger: &LedgerDb) -> State {
    let s = ledger.snapshot().unwrap();
    State {
        num_blocks: s.num_blocks().unwrap(),
        num_txos: s.num_txos().unwrap(),
        root: s.root_element().unwrap(),
        last: s.last_block().unwrap(),
    }
}

#[test]
fn readers_return_what_was_appended_and_it_survives_reopening() {
    let mut rng = common::rng("readers", 1);
    let addrs = common::addresses(&mut rng, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let ledger = LedgerDb::create(&path).unwrap();

    assert_eq!(ledger.num_blocks().unwrap(), 0);
    assert_eq!(ledger.num_txos().unwrap(), 0);
    assert_eq!(ledger.last_block().unwrap(), None);
    assert_eq!(
        ledger.root_element().unwrap().range,
        Range { from: 0, to: 0 }
    );
    assert!(matches!(
        ledger.membership_proof(0),
        Err(LedgerError::TxOutIndexOutOfRange {
            index: 0,
            num_txos: 0
        })
    ));

    let mut appended = Vec::new();
    for _ in 0..12 {
        let n = rng.gen_range(1..10);
        appended.push(append_random_block(&mut rng, &ledger, &addrs, n));
    }
    assert_eq!(check_consistent(&ledger), 12);

    let num_txos = ledger.num_txos().unwrap();
    let mut global = 0u64;
    for (b, c) in &appended {
        assert_eq!(ledger.get_block(b.index).unwrap().as_ref(), Some(b));
        assert_eq!(
            ledger.get_block_contents(b.index).unwrap().as_ref(),
            Some(c)
        );
        assert_eq!(
            ledger.get_block_timestamp(b.index).unwrap(),
            Some(1_700_000_000 + b.index)
        );
        for o in &c.outputs {
            assert_eq!(ledger.get_tx_out(global).unwrap().as_ref(), Some(o));
            assert_eq!(ledger.block_index_of_tx_out(global).unwrap(), Some(b.index));
            let (proof, root) = ledger.membership_proof_with_root(global).unwrap();
            assert_eq!(proof.index, global);
            assert_eq!(proof.highest_index, num_txos - 1);
            fog_ledger_db::verify_membership_proof(o, &proof, &root.hash).unwrap();
            global += 1;
        }
        for ki in &c.key_images {
            assert_eq!(ledger.check_key_image(ki).unwrap(), Some(b.index));
        }
    }
    assert_eq!(ledger.last_block().unwrap().as_ref(), Some(&appended[11].0));
    assert_eq!(ledger.check_key_image(&key_image(&mut rng)).unwrap(), None);
    assert_eq!(ledger.block_index_of_tx_out(num_txos).unwrap(), None);
    assert_eq!(ledger.get_block_contents(12).unwrap(), None);
    assert_eq!(ledger.get_block_timestamp(12).unwrap(), None);
    assert_eq!(ledger.get_tx_outs(3..3).unwrap(), vec![]);
    assert_eq!(
        ledger.get_tx_outs(2..5).unwrap(),
        (2..5)
            .map(|i| ledger.get_tx_out(i).unwrap().unwrap())
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        ledger.get_tx_outs(0..num_txos + 1),
        Err(LedgerError::TxOutIndexOutOfRange { .. })
    ));
    assert!(matches!(
        ledger.membership_proofs(&[0, num_txos]),
        Err(LedgerError::TxOutIndexOutOfRange { .. })
    ));
    // A proof does not verify for another TxOut or another root.
    let proof = ledger.membership_proof(1).unwrap();
    let root = ledger.root_element().unwrap();
    let other = ledger.get_tx_out(2).unwrap().unwrap();
    assert!(fog_ledger_db::verify_membership_proof(&other, &proof, &root.hash).is_err());
    let this = ledger.get_tx_out(1).unwrap().unwrap();
    assert!(fog_ledger_db::verify_membership_proof(&this, &proof, &[0; 32]).is_err());

    let before = state(&ledger);
    drop(ledger);
    let ledger = LedgerDb::open(&path).unwrap();
    assert_eq!(state(&ledger), before);
    assert_eq!(check_consistent(&ledger), 12);
    append_random_block(&mut rng, &ledger, &addrs, 3);
    assert_eq!(check_consistent(&ledger), 13);
}

#[test]
fn create_and_open_refuse_the_wrong_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    LedgerDb::create(&path).unwrap();
    assert!(matches!(
        LedgerDb::create(&path),
        Err(LedgerError::AlreadyExists(p)) if p == path
    ));

    let missing = dir.path().join("missing.redb");
    let err = LedgerDb::open(&missing).unwrap_err();
    assert!(matches!(&err, LedgerError::NotFound(p) if *p == missing));
    assert!(err.to_string().contains("missing.redb"));

    // Not a database at all.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = LedgerDb::open(&garbage).unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(matches!(err, LedgerError::Corrupt(_)), "{err:?}");

    // A database, but not a ledger.
    let other = dir.path().join("other.redb");
    drop(redb::Database::create(&other).unwrap());
    assert!(matches!(
        LedgerDb::open(&other),
        Err(LedgerError::Corrupt(_))
    ));

    // One process, one handle: a second open of a held file is refused, and could be retried.
    let held = LedgerDb::open(&path).unwrap();
    let err = LedgerDb::open(&path).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    drop(held);
    LedgerDb::open(&path).unwrap();
}

/// A ledger with an origin block and one more block (version 3), and what the next block
/// needs.
fn two_blocks(rng: &mut rand_chacha::ChaCha20Rng) -> (LedgerDb, Vec<fog_account::PublicAddress>) {
    let addrs = common::addresses(rng, 3);
    let ledger = LedgerDb::create_in_memory().unwrap();
    append_random_block(rng, &ledger, &addrs, 3);
    append_random_block(rng, &ledger, &addrs, 2);
    (ledger, addrs)
}

#[track_caller]
fn refused(ledger: &LedgerDb, block: &Block, c: &BlockContents) -> LedgerError {
    let before = state(ledger);
    let err = ledger.append_block(block, c, 0).unwrap_err();
    assert!(err.is_invalid_block(), "{err:?}");
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(state(ledger), before, "a refused block changed the ledger");
    err
}

#[test]
fn every_origin_rule_has_its_error() {
    let mut rng = common::rng("origin rules", 2);
    let addrs = common::addresses(&mut rng, 2);
    let ledger = LedgerDb::create_in_memory().unwrap();
    let c = contents(&mut rng, &addrs, 2, 0);
    let default_root = Block::new_origin(&c).root_element;

    let b = Block::new(1, [0; 32], 0, 2, default_root, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::InvalidBlockVersion { found: 1, .. }
    ));
    let b = Block::new(0, [0; 32], 1, 2, default_root, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::IndexMismatch {
            expected: 0,
            found: 1
        }
    ));
    let b = Block::new(0, [1; 32], 0, 2, default_root, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::ParentIdMismatch
    ));
    let mut root = default_root;
    root.hash = [1; 32];
    let b = Block::new(0, [0; 32], 0, 2, root, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::RootElementMismatch { .. }
    ));
    let empty = BlockContents::default();
    assert!(matches!(
        refused(&ledger, &Block::new_origin(&empty), &empty),
        LedgerError::NoOutputs
    ));
    // Key images are allowed in the origin block, as MobileCoin allows them.
    let mut with_ki = c.clone();
    with_ki.key_images.push(key_image(&mut rng));
    ledger
        .append_block(&Block::new_origin(&with_ki), &with_ki, 0)
        .unwrap();
    assert_eq!(check_consistent(&ledger), 1);
}

#[test]
fn every_block_rule_has_its_error() {
    let mut rng = common::rng("block rules", 3);
    let (ledger, addrs) = two_blocks(&mut rng);
    let tip = Tip::of(&ledger);
    let last = tip.last.clone().unwrap();
    let spent = ledger.get_block_contents(1).unwrap().unwrap().key_images[0];
    let existing = ledger.get_tx_out(0).unwrap().unwrap();
    let good = contents(&mut rng, &addrs, 3, 2);
    let n = tip.num_txos + 3;

    // Versions: above the maximum, and below the last block's.
    let b = Block::new(BlockVersion::MAX.get() + 1, last.id, 2, n, tip.root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::InvalidBlockVersion {
            found: 5,
            min: 3,
            max: 4
        }
    ));
    let b = Block::new(2, last.id, 2, n, tip.root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::InvalidBlockVersion { found: 2, .. }
    ));
    // Linkage.
    let b = Block::new(3, last.id, 3, n, tip.root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::IndexMismatch {
            expected: 2,
            found: 3
        }
    ));
    let b = Block::new(3, last.parent_id, 2, n, tip.root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::ParentIdMismatch
    ));
    // Contents.
    let c = contents(&mut rng, &addrs, 0, 1);
    let b = next_block(&tip, 3, &c);
    assert!(matches!(refused(&ledger, &b, &c), LedgerError::NoOutputs));
    let c = contents(&mut rng, &addrs, 2, 0);
    let b = next_block(&tip, 3, &c);
    assert!(matches!(refused(&ledger, &b, &c), LedgerError::NoKeyImages));
    let b = next_block(&tip, 3, &good);
    let other = contents(&mut rng, &addrs, 3, 2);
    assert!(matches!(
        refused(&ledger, &b, &other),
        LedgerError::ContentsHashMismatch
    ));
    let mut c = good.clone();
    c.outputs[1].masked_amount = None;
    let b = next_block(&tip, 3, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::MissingMaskedAmount { output: 1 }
    ));
    // Header fields.
    let b = Block::new(3, last.id, 2, n + 1, tip.root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::CumulativeTxoCountMismatch { expected, found } if expected == n && found == n + 1
    ));
    let mut b = next_block(&tip, 3, &good);
    b.id[0] ^= 1;
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::InvalidBlockId
    ));
    // The root after the block's outputs (or any other) is not the root before it.
    let mut root = tip.root;
    root.hash[31] ^= 1;
    let b = Block::new(3, last.id, 2, n, root, &good);
    assert!(matches!(
        refused(&ledger, &b, &good),
        LedgerError::RootElementMismatch { expected, .. } if expected == tip.root
    ));
    // Key images.
    let mut c = good.clone();
    c.key_images.push(spent);
    let b = next_block(&tip, 3, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::KeyImageAlreadySpent { key_image, block_index: 1 } if key_image == spent
    ));
    let mut c = good.clone();
    c.key_images.push(c.key_images[0]);
    let b = next_block(&tip, 3, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::DuplicateKeyImage(k) if k == good.key_images[0]
    ));
    // Output public keys.
    let mut c = good.clone();
    c.outputs.push(existing.clone());
    let b = next_block(&tip, 3, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::OutputPublicKeyAlreadyInLedger {
            global_index: 0,
            ..
        }
    ));
    let mut c = good.clone();
    c.outputs.push(c.outputs[0].clone());
    let b = next_block(&tip, 3, &c);
    assert!(matches!(
        refused(&ledger, &b, &c),
        LedgerError::DuplicateOutputPublicKey(pk) if pk == *good.outputs[0].public_key.as_bytes()
    ));

    // After all that, the good block appends, at the maximum version.
    let b = next_block(&tip, BlockVersion::MAX.get(), &good);
    ledger.append_block(&b, &good, 0).unwrap();
    assert_eq!(check_consistent(&ledger), 3);
}

#[test]
fn a_failure_halfway_through_the_writes_leaves_nothing_behind() {
    let mut rng = common::rng("halfway", 4);
    let (ledger, addrs) = two_blocks(&mut rng);
    let tip = Tip::of(&ledger);
    let existing = ledger.get_tx_out(1).unwrap().unwrap();

    // 40 outputs, the last one already in the ledger: the key images, 39 TxOuts and their
    // public keys are written before the duplicate is found.
    let good = contents(&mut rng, &addrs, 39, 2);
    let mut bad = good.clone();
    bad.outputs.push(existing);
    let b = next_block(&tip, 3, &bad);
    let before = state(&ledger);
    let err = ledger.append_block(&b, &bad, 0).unwrap_err();
    assert!(matches!(
        err,
        LedgerError::OutputPublicKeyAlreadyInLedger {
            global_index: 1,
            ..
        }
    ));
    assert_eq!(state(&ledger), before);
    for ki in &good.key_images {
        assert_eq!(ledger.check_key_image(ki).unwrap(), None);
    }
    for o in &good.outputs {
        assert_eq!(
            ledger
                .get_tx_out_index_by_public_key(o.public_key.as_bytes())
                .unwrap(),
            None
        );
    }
    assert_eq!(ledger.get_tx_out(tip.num_txos).unwrap(), None);
    assert_eq!(ledger.get_block(2).unwrap(), None);
    assert_eq!(ledger.get_block_contents(2).unwrap(), None);
    assert_eq!(check_consistent(&ledger), 2);

    // The same key images and outputs, without the duplicate, then append: nothing was left
    // marked as spent or taken.
    let b = next_block(&tip, 3, &good);
    ledger.append_block(&b, &good, 0).unwrap();
    assert_eq!(check_consistent(&ledger), 3);
}

#[test]
fn a_batch_appends_all_or_nothing() {
    let mut rng = common::rng("batch", 5);
    let (ledger, addrs) = two_blocks(&mut rng);

    // Build three blocks on a scratch copy of the chain to know their roots.
    let scratch = LedgerDb::create_in_memory().unwrap();
    for i in 0..2 {
        let b = ledger.get_block(i).unwrap().unwrap();
        let c = ledger.get_block_contents(i).unwrap().unwrap();
        scratch.append_block(&b, &c, 0).unwrap();
    }
    let mut batch = Vec::new();
    for _ in 0..3 {
        let (b, c) = append_random_block(&mut rng, &scratch, &addrs, 5);
        batch.push((b, c));
    }

    // The third block, broken: the first two are not kept either.
    let mut broken = batch.clone();
    let reused = broken[0].1.key_images[0];
    broken[2].1.key_images.push(reused);
    broken[2].0 = Block::new(
        3,
        broken[1].0.id,
        4,
        broken[2].0.cumulative_txo_count,
        broken[2].0.root_element,
        &broken[2].1,
    );
    let before = state(&ledger);
    let err = ledger
        .append_blocks(broken.iter().map(|(b, c)| (b, c, 9)))
        .unwrap_err();
    assert!(
        matches!(&err, LedgerError::InBatch { position: 2, source }
            if matches!(**source, LedgerError::KeyImageAlreadySpent { block_index: 2, .. })),
        "{err:?}"
    );
    assert!(err.is_invalid_block());
    assert_eq!(state(&ledger), before);

    ledger
        .append_blocks(batch.iter().map(|(b, c)| (b, c, 9)))
        .unwrap();
    assert_eq!(check_consistent(&ledger), 5);
    assert_eq!(
        ledger.root_element().unwrap(),
        scratch.root_element().unwrap()
    );
    assert_eq!(ledger.get_block_timestamp(4).unwrap(), Some(9));
}

#[test]
fn eventual_durability_appends_and_syncs() {
    let mut rng = common::rng("eventual", 6);
    let addrs = common::addresses(&mut rng, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let ledger = LedgerDb::create(&path).unwrap();
    let fast = ledger.with_durability(Durability::Eventual);
    for _ in 0..5 {
        append_random_block(&mut rng, &fast, &addrs, 20);
    }
    fast.sync().unwrap();
    assert_eq!(ledger.num_blocks().unwrap(), 5);
    drop((ledger, fast));
    assert_eq!(check_consistent(&LedgerDb::open(&path).unwrap()), 5);
}
