//! MobileCoin's generated block vectors (`blocks/ids.jsonl`) against the ledger.
//!
//! The file's chain records, in each block, the root of the ledger *after* the block's
//! outputs, and breaks MobileCoin's append rules (blocks without key images, decreasing
//! versions); it was made to test block ids. These tests show that from the file, append its
//! origin block, and use its TxOuts to check the ledger's root-before rule.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use fog_ledger_db::{LedgerDb, LedgerError};
use fog_transaction::{
    block::{Block, BlockContents},
    membership::{self, Range, TxOutMembershipElement},
    wire,
};
use prost::Message;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("FOG_TEST_VECTORS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors"),
    }
}

struct Case {
    case: String,
    block: Block,
    contents: BlockContents,
    root_element: TxOutMembershipElement,
}

fn cases() -> Vec<Case> {
    let path = vectors_dir().join("blocks/ids.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set FOG_TEST_VECTORS)", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let hex_field = |name: &str| hex::decode(v[name].as_str().unwrap()).unwrap();
            let block = Block::decode(&hex_field("block_proto_hex")).unwrap();
            let contents = BlockContents::decode(&hex_field("block_contents_proto_hex")).unwrap();
            let root_wire = wire::TxOutMembershipElement::decode(
                hex_field("root_element_proto_hex").as_slice(),
            )
            .unwrap();
            let root_element = TxOutMembershipElement::try_from_wire(&root_wire).unwrap();
            assert_eq!(block.root_element, root_element);
            assert_eq!(hex::encode(block.id), v["block_id_hex"].as_str().unwrap());
            assert_eq!(block.index, v["index"].as_u64().unwrap());
            Case {
                case: v["case"].as_str().unwrap().to_owned(),
                block,
                contents,
                root_element,
            }
        })
        .collect()
}

/// The range of the root of a ledger of `n` TxOuts.
fn root_range(n: u64) -> Range {
    Range {
        from: 0,
        to: n.max(1).next_power_of_two() - 1,
    }
}

#[test]
fn the_chain_records_the_root_after_each_blocks_outputs() {
    let cases = cases();
    let mut by_range_after = 0;
    for c in cases.iter().filter(|c| c.case == "chained") {
        let after = c.block.cumulative_txo_count;
        let before = after - c.contents.outputs.len() as u64;
        assert_eq!(
            c.root_element.range,
            root_range(after),
            "block {}: the range is that of the ledger after the block",
            c.block.index
        );
        if root_range(before) != root_range(after) {
            by_range_after += 1;
        }
    }
    // At least one block (index 3: 9 TxOuts after, 6 before) tells the two apart by range.
    assert!(
        by_range_after >= 1,
        "no block distinguishes before/after by range"
    );

    // By hash: the origin's outputs then block 1's, recomputed.
    let origin = cases.iter().find(|c| c.block.index == 0).unwrap();
    let first = cases.iter().find(|c| c.block.index == 1).unwrap();
    let mut tree = BTreeMap::new();
    let mut n = 0;
    for o in &origin.contents.outputs {
        membership::append_leaf(&mut tree, n, o.merkle_leaf_hash()).unwrap();
        n += 1;
    }
    let before = membership::root_element(&tree, n).unwrap();
    for o in &first.contents.outputs {
        membership::append_leaf(&mut tree, n, o.merkle_leaf_hash()).unwrap();
        n += 1;
    }
    let after = membership::root_element(&tree, n).unwrap();
    assert_ne!(before, after);
    assert_eq!(first.block.root_element, after);
}

#[test]
fn the_chain_breaks_mobilecoins_append_rules() {
    let cases = cases();
    let chained: Vec<&Case> = cases.iter().filter(|c| c.case == "chained").collect();
    // Blocks after the origin without key images, which validate_append_block refuses.
    let without_key_images = chained
        .iter()
        .filter(|c| c.contents.key_images.is_empty())
        .count();
    // A version lower than an earlier block's.
    let version_drops = chained
        .windows(2)
        .filter(|w| w[1].block.version < w[0].block.version)
        .count();
    eprintln!(
        "{} chained blocks: {without_key_images} without key images, {version_drops} version drops",
        chained.len()
    );
    assert!(without_key_images + version_drops > 0);
}

#[test]
fn the_origin_vector_appends_and_the_ledger_checks_the_root_before_each_block() {
    let cases = cases();
    let origin = cases.iter().find(|c| c.block.index == 0).unwrap();
    let first = cases.iter().find(|c| c.block.index == 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerDb::create(dir.path().join("l.redb")).unwrap();
    ledger
        .append_block(&origin.block, &origin.contents, 0)
        .unwrap();
    assert_eq!(ledger.last_block().unwrap().as_ref(), Some(&origin.block));
    assert_eq!(
        ledger.get_block_contents(0).unwrap().as_ref(),
        Some(&origin.contents)
    );

    // The file's block 1 has no key image: refused, as MobileCoin's ledger refuses it.
    assert!(matches!(
        ledger.append_block(&first.block, &first.contents, 0),
        Err(LedgerError::NoKeyImages)
    ));

    // With a key image added, its recorded root (the one after its outputs) is refused...
    let mut contents = first.contents.clone();
    contents.key_images.push(fog_transaction::KeyImage([7; 32]));
    let after_root = Block::new(
        first.block.version,
        origin.block.id,
        1,
        first.block.cumulative_txo_count,
        first.block.root_element,
        &contents,
    );
    let before = ledger.root_element().unwrap();
    match ledger.append_block(&after_root, &contents, 0) {
        Err(LedgerError::RootElementMismatch { expected, found }) => {
            assert_eq!(expected, before);
            assert_eq!(found, first.block.root_element);
        }
        other => panic!("expected a root element mismatch, got {other:?}"),
    }
    assert_eq!(ledger.num_blocks().unwrap(), 1);

    // ...and the same block recording the ledger's root before it appends. The ledger's root
    // element is then the one the file's block 1 records: the same tree, by our code.
    let before_root = Block::new(
        first.block.version,
        origin.block.id,
        1,
        first.block.cumulative_txo_count,
        before,
        &contents,
    );
    ledger.append_block(&before_root, &contents, 0).unwrap();
    assert_eq!(ledger.root_element().unwrap(), first.block.root_element);
    assert_eq!(common::check_consistent(&ledger), 2);
}
