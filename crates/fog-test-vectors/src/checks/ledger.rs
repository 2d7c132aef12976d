//! Checks of the ledger's files: the Merkle tree and its proofs, and block ids.

use std::collections::BTreeMap;

use fog_transaction::{
    block::{Block, BlockContents},
    membership::{self, TxOutMembershipElement, TxOutMembershipProof},
    wire, TxOut,
};
use prost::Message;

use crate::{ensure, ensure_eq_bytes, Case, CheckResult, Owner};

pub(super) fn register(r: &mut BTreeMap<&'static str, Owner>) {
    r.insert("merkle/proofs.jsonl", Owner::Checked(merkle_proofs));
    r.insert("blocks/ids.jsonl", Owner::Checked(block_ids));
}

fn merkle_proofs(c: &Case<'_>) -> CheckResult {
    let n = c.u64("n")?;
    let tx_outs = c.hex_list("tx_outs_proto_hex")?;
    let hashes = c.hex_list("tx_out_hashes_hex")?;
    let leaves = c.hex_list("leaf_hashes_hex")?;
    let proofs = c.hex_list("proofs_proto_hex")?;
    ensure(
        [tx_outs.len(), hashes.len(), leaves.len(), proofs.len()] == [n as usize; 4],
        || "list lengths differ from n".into(),
    )?;
    ensure_eq_bytes("nil hash", &membership::nil_hash(), &c.hex("nil_hash_hex")?)?;
    let mut store = BTreeMap::new();
    let mut decoded = Vec::new();
    for (i, bytes) in tx_outs.iter().enumerate() {
        let tx_out = TxOut::decode(bytes).map_err(|e| format!("TxOut {i}: {e}"))?;
        ensure_eq_bytes(&format!("TxOut {i} hash"), &tx_out.hash(), &hashes[i])?;
        let leaf = tx_out.merkle_leaf_hash();
        ensure_eq_bytes(&format!("leaf {i}"), &leaf, &leaves[i])?;
        membership::append_leaf(&mut store, i as u64, leaf).map_err(|e| e.to_string())?;
        decoded.push(tx_out);
    }
    let root = membership::root_element(&store, n).map_err(|e| e.to_string())?;
    let range = c.field_u64_pair("root_range")?;
    ensure((root.range.from, root.range.to) == range, || {
        format!("root range {:?}, expected {range:?}", root.range)
    })?;
    ensure_eq_bytes("root hash", &root.hash, &c.hex("root_hash_hex")?)?;
    ensure_eq_bytes(
        "root element protobuf",
        &root.to_wire().encode_to_vec(),
        &c.hex("root_element_proto_hex")?,
    )?;
    for (i, bytes) in proofs.iter().enumerate() {
        let ours = membership::membership_proof(&store, n, i as u64).map_err(|e| e.to_string())?;
        ensure_eq_bytes(
            &format!("proof {i}"),
            &ours.to_wire().encode_to_vec(),
            bytes,
        )?;
        let theirs = wire::TxOutMembershipProof::decode(bytes.as_slice())
            .map_err(|e| format!("proof {i}: {e}"))
            .and_then(|w| TxOutMembershipProof::try_from_wire(&w).map_err(|e| e.to_string()))?;
        membership::verify_membership_proof(&decoded[i], &theirs, &root.hash)
            .map_err(|e| format!("proof {i} does not verify: {e}"))?;
        if i + 1 < decoded.len() {
            ensure(
                membership::verify_membership_proof(&decoded[i + 1], &theirs, &root.hash).is_err(),
                || format!("proof {i} verifies another TxOut"),
            )?;
        }
    }
    Ok(())
}

fn block_ids(c: &Case<'_>) -> CheckResult {
    let contents_bytes = c.hex("block_contents_proto_hex")?;
    let contents = BlockContents::decode(&contents_bytes).map_err(|e| format!("contents: {e}"))?;
    ensure_eq_bytes(
        "contents re-encoding",
        &contents.to_wire().encode_to_vec(),
        &contents_bytes,
    )?;
    ensure_eq_bytes(
        "contents hash",
        &contents.hash(),
        &c.hex("contents_hash_hex")?,
    )?;
    let block_bytes = c.hex("block_proto_hex")?;
    let block = Block::decode(&block_bytes).map_err(|e| format!("block: {e}"))?;
    ensure_eq_bytes(
        "block re-encoding",
        &block.to_wire().encode_to_vec(),
        &block_bytes,
    )?;
    let root = wire::TxOutMembershipElement::decode(c.hex("root_element_proto_hex")?.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|w| TxOutMembershipElement::try_from_wire(&w).map_err(|e| e.to_string()))?;
    ensure(
        block.version as u64 == c.u64("version")?
            && block.index == c.u64("index")?
            && block.cumulative_txo_count == c.u64("cumulative_txo_count")?
            && block.root_element == root,
        || "block fields differ".into(),
    )?;
    ensure_eq_bytes("parent id", &block.parent_id, &c.hex("parent_id_hex")?)?;
    ensure_eq_bytes(
        "contents hash in block",
        &block.contents_hash,
        &contents.hash(),
    )?;
    let id = Block::compute_id(
        block.version,
        &block.parent_id,
        block.index,
        block.cumulative_txo_count,
        &root,
        &contents.hash(),
    );
    ensure_eq_bytes("block id", &id, &c.hex("block_id_hex")?)?;
    ensure(block.is_id_valid(), || "stored id is not valid".into())?;
    if c.str("case")? == "origin" {
        let origin = Block::new_origin(&contents);
        ensure(origin == block, || "origin block differs".into())?;
    }
    Ok(())
}
