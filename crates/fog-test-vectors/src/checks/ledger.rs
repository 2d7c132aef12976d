//! Checks of the ledger's files: the Merkle tree and its proofs, and block ids.

use std::collections::BTreeMap;

use fog_transaction::{
    block::{Block, BlockContents},
    membership::{self, TxOutMembershipElement, TxOutMembershipProof},
    tx::Tx,
    validation::{self, TransactionValidationError, ValidationContext},
    wire, BlockVersion, TxOut,
};
use prost::Message;
use rand::SeedableRng;

use crate::{ensure, ensure_eq_bytes, Case, CheckResult, Owner};

pub(super) fn register(r: &mut BTreeMap<&'static str, Owner>) {
    r.insert("merkle/proofs.jsonl", Owner::Checked(merkle_proofs));
    r.insert("blocks/ids.jsonl", Owner::Checked(block_ids));
    r.insert(
        "transactions/valid.jsonl",
        Owner::Checked(valid_transaction),
    );
    r.insert(
        "transactions/invalid.jsonl",
        Owner::Checked(invalid_transaction),
    );
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

fn decode_proofs(list: &[Vec<u8>]) -> Result<Vec<TxOutMembershipProof>, String> {
    list.iter()
        .map(|b| {
            wire::TxOutMembershipProof::decode(b.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|w| TxOutMembershipProof::try_from_wire(&w).map_err(|e| e.to_string()))
        })
        .collect()
}

/// Decodes a transaction line, checks its encoding, hashes and ledger, and validates it.
fn transaction(c: &Case<'_>) -> Result<Result<(), TransactionValidationError>, String> {
    let bytes = c.hex("tx_proto_hex")?;
    let tx = Tx::decode(&bytes).map_err(|e| format!("Tx: {e}"))?;
    ensure_eq_bytes("Tx re-encoding", &tx.encode_to_vec(), &bytes)?;
    ensure_eq_bytes("tx hash", &tx.hash(), &c.hex("tx_hash_hex")?)?;
    ensure_eq_bytes("prefix hash", &tx.prefix.hash(), &c.hex("prefix_hash_hex")?)?;
    let images: Vec<Vec<u8>> = tx.key_images().iter().map(|k| k.0.to_vec()).collect();
    ensure(images == c.hex_list("key_images_hex")?, || {
        "key images differ".into()
    })?;
    ensure(
        tx.prefix.inputs.len() as u64 == c.u64("num_inputs")?
            && tx.prefix.outputs.len() as u64 == c.u64("num_outputs")?
            && tx.prefix.fee == c.u64("fee")?
            && tx.prefix.tombstone_block == c.u64("tombstone_block")?,
        || "counts, fee or tombstone differ".into(),
    )?;
    // Rebuild the ledger and its proofs for the tx's highest indices.
    let mut store = BTreeMap::new();
    let ledger = c.hex_list("ledger_tx_outs_proto_hex")?;
    for (i, b) in ledger.iter().enumerate() {
        let t = TxOut::decode(b).map_err(|e| format!("ledger TxOut {i}: {e}"))?;
        membership::append_leaf(&mut store, i as u64, t.merkle_leaf_hash())
            .map_err(|e| e.to_string())?;
    }
    let n = ledger.len() as u64;
    let root = membership::root_element(&store, n).map_err(|e| e.to_string())?;
    ensure_eq_bytes("ledger root", &root.hash, &c.hex("root_hash_hex")?)?;
    ensure_eq_bytes(
        "root element protobuf",
        &root.to_wire().encode_to_vec(),
        &c.hex("root_element_proto_hex")?,
    )?;
    let root_proofs = decode_proofs(&c.hex_list("root_proofs_proto_hex")?)?;
    let highest = tx.prefix.membership_proof_highest_indices();
    ensure(highest.len() == root_proofs.len(), || {
        "root proof count differs".into()
    })?;
    for (h, theirs) in highest.iter().zip(&root_proofs) {
        let ours = membership::membership_proof(&store, n, *h).map_err(|e| e.to_string())?;
        ensure(&ours == theirs, || {
            format!("root proof for index {h} differs")
        })?;
    }
    let fee_map = BTreeMap::from([(0u64, c.u64("minimum_fee")?)]);
    // The rules' ring size is the protocol's, whatever ring the line's transaction carries.
    let ring_size = validation::RING_SIZE;
    let ctx = ValidationContext {
        block_version: u32::try_from(c.u64("block_version")?)
            .ok()
            .and_then(BlockVersion::new)
            .ok_or("block version")?,
        current_block_index: c.u64("current_block_index")?,
        fee_map: &fee_map,
        root_proofs: &root_proofs,
        ring_size,
    };
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([8; 32]);
    Ok(validation::validate(&tx, &ctx, &mut rng))
}

fn valid_transaction(c: &Case<'_>) -> CheckResult {
    ensure(c.bool("expect_valid")?, || {
        "a valid line not expected valid".into()
    })?;
    transaction(c)?.map_err(|e| format!("refused: {e:?}"))?;
    // The sender's keys own the real inputs, and the recipient finds 250 MOB.
    let accounts = c.object("accounts")?;
    let sender = super::account(&accounts.object("sender_account")?)?;
    let recipient = super::account(&accounts.object("recipient_account")?)?;
    let tx = Tx::decode(&c.hex("tx_proto_hex")?).map_err(|e| e.to_string())?;
    let ledger = c.hex_list("ledger_tx_outs_proto_hex")?;
    let images = tx.key_images();
    for idx in c.u64_list("real_input_ledger_indices")? {
        let t = TxOut::decode(&ledger[idx as usize]).map_err(|e| e.to_string())?;
        t.view_key_match(sender.view_private_key())
            .map_err(|e| format!("sender does not own input {idx}: {e}"))?;
        let ki = t
            .key_image(
                sender.view_private_key(),
                &sender.subaddress_spend_private(0),
            )
            .map_err(|e| e.to_string())?;
        ensure(images.contains(&ki), || {
            format!("key image of input {idx} not spent")
        })?;
    }
    // The recipient finds one output; the sender's change subaddress finds the rest, and
    // inputs = payment + change + fee.
    let received: Vec<u64> = tx
        .prefix
        .outputs
        .iter()
        .filter_map(|o| o.view_key_match(recipient.view_private_key()).ok())
        .map(|(a, _)| a.value)
        .collect();
    let change: Vec<u64> = tx
        .prefix
        .outputs
        .iter()
        .filter(|o| {
            o.subaddress_spend_public_key(sender.view_private_key())
                .is_ok_and(|d| d == *sender.change_subaddress().spend_public_key())
        })
        .filter_map(|o| o.view_key_match(sender.view_private_key()).ok())
        .map(|(a, _)| a.value)
        .collect();
    let inputs: u64 = c
        .u64_list("real_input_ledger_indices")?
        .iter()
        .map(|i| {
            TxOut::decode(&ledger[*i as usize])
                .ok()
                .and_then(|t| t.view_key_match(sender.view_private_key()).ok())
                .map_or(0, |(a, _)| a.value)
        })
        .sum();
    ensure(
        received.len() == 1
            && change.len() == 1
            && inputs == received[0] + change[0] + tx.prefix.fee,
        || format!("inputs {inputs} != received {received:?} + change {change:?} + fee"),
    )
}

/// Our name for each MobileCoin error the vectors expect: the chain of variant names in the
/// Debug output, without payload strings.
fn variant_chain(debug: &str) -> Vec<&str> {
    debug
        .split(['(', ')', '{', ' '])
        .take_while(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

fn invalid_transaction(c: &Case<'_>) -> CheckResult {
    ensure(!c.bool("expect_valid")?, || {
        "an invalid line expected valid".into()
    })?;
    let result = transaction(c)?;
    let Err(err) = result else {
        return Err(format!("case {} was accepted", c.str("case")?));
    };
    let ours = format!("{err:?}");
    let theirs = c.str("expected_error_debug")?;
    let (a, b) = (variant_chain(&ours), variant_chain(theirs));
    ensure(
        a.first() == Some(&c.str("expected_error")?)
            && a.iter().zip(&b).all(|(x, y)| x == y)
            && a.len() >= b.len().min(2),
        || format!("got {ours}, expected {theirs}"),
    )
}
