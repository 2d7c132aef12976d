//! A lying operator (or anyone on the path) against the missed-range scan: the blocks that
//! `GetBlocks` returns are changed to add a made-up TxOut paying the user, to drop the
//! user's TxOut, or to shift global indices so one TxOut counts twice, and their headers are
//! forged to match (contents hashes, ids, parent ids and TxOut counts recomputed, as an
//! attacker would). Each check must fail naming the fog ledger (before the fix each ended
//! with a wrong balance). Only the ids that the fog ledger enclave attests are out of the
//! attacker's reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{reforge, FakeFog, To};
use fog_client::{sync::Response, AccountState, ClientError, Service};
use fog_crypto::RistrettoPrivate;
use fog_transaction::{block::Block, Amount, BlockVersion, EncryptedFogHint, TokenId, TxOut};
use fog_types::common::BlockRange;

/// Block 0 pays the user 1 through view; ingest is down for blocks 1 and 2 (the user gets
/// 10 and 20 there), which view reports missed; block 3 pays 100 through view again.
fn with_missed_blocks(seed: u64) -> FakeFog {
    let mut f = FakeFog::new(seed);
    f.add_block(&[(To::User, 1)], &[]);
    f.ingest_down = true;
    f.add_block(&[(To::User, 10), (To::Stranger, 5)], &[]);
    f.add_block(&[(To::Stranger, 7), (To::UserChange, 20)], &[]);
    f.ingest_down = false;
    f.new_invocation();
    f.add_block(&[(To::User, 100)], &[]);
    f.missed(BlockRange::new(1, 3));
    f.catch_up();
    f
}

/// One check with `tamper` changing the first `GetBlocks` answer. It must fail naming the
/// fog ledger, with no balance reported; then a check with honest answers is exact.
fn check_against(f: &mut FakeFog, tamper: impl FnMut(&mut Response) -> bool + Send + 'static) {
    let mut state = AccountState::new();
    f.tamper = Some(Box::new(tamper));
    let outcome = f.sync(&mut state);
    f.tamper = None;
    let e = match outcome {
        Ok((b, _)) => {
            f.assert_exact(&b);
            panic!("the changed blocks were taken (balance {b:?})");
        }
        Err(e) => e,
    };
    println!("refused: {e}");
    assert!(
        matches!(&e, ClientError::BadResponse { service: Service::Blocks, what }
            if what.contains("is not the block of the chain the fog ledger enclave verified")),
        "{e}"
    );
    assert!(
        state.last_balance.is_none(),
        "a refused check reported a balance"
    );
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (4, 131));
}

/// Makes a TxOut paying the user 1 000 000 with the real crates, as anyone can (the user's
/// address is public).
fn made_up_payment(f: &mut FakeFog) -> TxOut {
    let r = RistrettoPrivate::random(&mut f.rng);
    TxOut::new(
        BlockVersion::THREE,
        Amount::new(1_000_000, TokenId::MOB),
        &f.user.default_subaddress(),
        &r,
        EncryptedFogHint::fake_onetime_hint(&mut f.rng),
    )
    .unwrap()
}

#[test]
fn a_made_up_tx_out_in_a_missed_block_never_counts() {
    let mut f = with_missed_blocks(41);
    let forged = made_up_payment(&mut f).to_wire();
    check_against(&mut f, move |r| {
        let Response::GetBlocks(b) = r else {
            return false;
        };
        let Some(first) = b.blocks.first_mut() else {
            return false;
        };
        first.outputs.push(forged.clone());
        for block in &mut b.blocks {
            block.global_txo_count += 1;
        }
        b.global_txo_count += 1;
        reforge(b);
        true
    });
}

#[test]
fn a_dropped_tx_out_in_a_missed_block_is_never_a_lower_exact_balance() {
    let mut f = with_missed_blocks(42);
    let user_index = f
        .truth
        .values()
        .find(|t| t.block == 1)
        .unwrap()
        .global_index;
    check_against(&mut f, move |r| {
        let Response::GetBlocks(b) = r else {
            return false;
        };
        let Some(first) = b.blocks.iter_mut().find(|b| b.index == 1) else {
            return false;
        };
        let at = (user_index - (first.global_txo_count - first.outputs.len() as u64)) as usize;
        first.outputs.remove(at);
        for block in &mut b.blocks {
            block.global_txo_count -= 1;
        }
        b.global_txo_count -= 1;
        reforge(b);
        true
    });
}

#[test]
fn shifted_global_indices_never_count_a_tx_out_twice() {
    // The range is reported missed although view has its records: shifted by the operator,
    // the scan would find the user's TxOuts at new indices.
    let mut f = FakeFog::new(43);
    f.add_block(&[(To::User, 1)], &[]);
    f.add_block(&[(To::User, 2), (To::UserChange, 4)], &[]);
    f.add_block(&[(To::User, 124)], &[]);
    f.add_block(&[(To::Stranger, 3)], &[]);
    f.missed(BlockRange::new(0, 3));
    f.catch_up();
    check_against(&mut f, |r| {
        let Response::GetBlocks(b) = r else {
            return false;
        };
        for block in &mut b.blocks {
            block.global_txo_count += 1000;
        }
        reforge(b);
        true
    });
}

/// The refusal a check ends in when `tamper` changes the first `GetBlocks` answer.
fn refusal(f: &mut FakeFog, tamper: impl FnMut(&mut Response) -> bool + Send + 'static) -> String {
    let mut state = AccountState::new();
    f.tamper = Some(Box::new(tamper));
    let e = f.sync(&mut state).unwrap_err();
    f.tamper = None;
    assert!(state.last_balance.is_none());
    assert!(state
        .tx_outs
        .values()
        .all(|t| t.block_index == 0 || t.block_index == 3));
    e.to_string()
}

#[test]
fn blocks_that_do_not_form_a_chain_are_refused_before_any_attested_call() {
    let mut f = with_missed_blocks(44);
    let forged = made_up_payment(&mut f).to_wire();
    let cases: Vec<(&str, common::Tamper)> = vec![
        (
            "no header",
            Box::new(|r| {
                let Response::GetBlocks(b) = r else {
                    return false;
                };
                b.blocks[0].block = None; // a server that serves MobileCoin's BlockData
                true
            }),
        ),
        (
            "contents do not match",
            Box::new(move |r| {
                let Response::GetBlocks(b) = r else {
                    return false;
                };
                b.blocks[0].outputs.push(forged.clone());
                true
            }),
        ),
        (
            "the header is another block's",
            Box::new(|r| {
                let Response::GetBlocks(b) = r else {
                    return false;
                };
                b.blocks[1].global_txo_count += 1;
                true
            }),
        ),
        (
            "does not follow",
            Box::new(|r| {
                let Response::GetBlocks(b) = r else {
                    return false;
                };
                b.blocks.swap(0, 1);
                for (b, i) in b.blocks.iter_mut().zip(1..) {
                    // Relabel without fixing the chain.
                    b.index = i;
                    let mut h = Block::try_from_wire(b.block.as_ref().unwrap()).unwrap();
                    h.index = i;
                    h.id = Block::compute_id(
                        h.version,
                        &h.parent_id,
                        h.index,
                        h.cumulative_txo_count,
                        &h.root_element,
                        &h.contents_hash,
                    );
                    b.block = Some(h.to_wire());
                }
                true
            }),
        ),
        (
            "id does not match",
            Box::new(|r| {
                let Response::GetBlocks(b) = r else {
                    return false;
                };
                let mut h = b.blocks[0].block.clone().unwrap();
                h.id.as_mut().unwrap().data[0] ^= 1;
                b.blocks[0].block = Some(h);
                true
            }),
        ),
    ];
    for (what, tamper) in cases {
        let before = f.block_id_requests;
        let e = refusal(&mut f, tamper);
        println!("{what}: {e}");
        assert!(
            e.contains("fog ledger (blocks)") && e.contains(what),
            "{what}: {e}"
        );
        assert_eq!(f.block_id_requests, before, "{what}: an id was asked");
    }
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    assert_eq!((b.block_count, b.of(0)), (4, 131));
}

#[test]
fn a_forged_chain_is_refused_by_the_attested_id() {
    let mut f = with_missed_blocks(45);
    let e = refusal(&mut f, |r| {
        let Response::GetBlocks(b) = r else {
            return false;
        };
        b.blocks[1].outputs.pop();
        b.blocks[1].global_txo_count -= 1;
        reforge(b);
        true
    });
    assert!(
        e.contains("block 2 is not the block of the chain the fog ledger enclave verified"),
        "{e}"
    );
    assert_eq!(f.block_id_requests, 1);
}

#[test]
fn blocks_past_the_enclaves_chain_wait_for_it() {
    let mut f = with_missed_blocks(46);
    // The fog ledger enclave has verified blocks 0 and 1 only; the block service serves all.
    f.ledger_count = 2;
    let mut state = AccountState::new();
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (2, 11));
    assert_eq!(
        p.blocks_scanned, 1,
        "block 1 is authenticated by the enclave's last id"
    );
    assert_eq!(state.missed_ranges, vec![BlockRange::new(2, 3)]);

    // Not even block 1: nothing of the range counts.
    let mut fresh = AccountState::new();
    f.ledger_count = 1;
    let (b, p) = f.sync(&mut fresh).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, p.blocks_scanned), (1, 0));
    assert_eq!(fresh.missed_ranges, vec![BlockRange::new(1, 3)]);

    f.ledger_count = 4;
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (4, 131));
    assert_eq!(p.blocks_scanned, 1);
    assert!(state.missed_ranges.is_empty());
}

#[test]
fn a_malformed_block_ids_answer_is_refused() {
    let mut f = with_missed_blocks(47);
    let mut state = AccountState::new();
    f.tamper = Some(Box::new(|r| {
        let Response::BlockIds(ids) = r else {
            return false;
        };
        ids.ids.push(ids.ids[0].clone());
        true
    }));
    let e = f.sync(&mut state).unwrap_err();
    assert!(
        matches!(&e, ClientError::BadResponse { service: Service::BlockIds, what } if what.contains("2 block ids")),
        "{e}"
    );
    assert!(state.last_balance.is_none());
}

#[test]
fn a_forged_block_below_the_enclaves_last_one_is_refused() {
    // The enclave has verified blocks 0 and 1 only: block 1 is checked against its last id.
    let mut f = with_missed_blocks(48);
    f.ledger_count = 2;
    let forged = made_up_payment(&mut f).to_wire();
    let e = refusal(&mut f, move |r| {
        let Response::GetBlocks(b) = r else {
            return false;
        };
        b.blocks[0].outputs.push(forged.clone());
        for block in &mut b.blocks {
            block.global_txo_count += 1;
        }
        reforge(b);
        true
    });
    assert!(
        e.contains("block 1 is not the block of the chain the fog ledger enclave verified"),
        "{e}"
    );
}
