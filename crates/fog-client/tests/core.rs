//! The sans-IO core against a scripted fog: RNG search, decommissions, missed ranges, key
//! images, the balance invariant under lagging and restarted services, and refusal of bad
//! answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FakeFog, To};
use fog_client::{
    history::{history, EntryKind, Sender},
    state::Discovery,
    sync::{Response, SyncLimits},
    AccountState, ClientError, Service, SpentStatus,
};
use fog_types::{common::BlockRange, view::TxOutSearchResultCode};
use proptest::prelude::*;
use rand::Rng;

const MOB: u64 = 1_000_000_000_000;

#[test]
fn a_fresh_check_finds_every_tx_out_and_is_exact() {
    let mut f = FakeFog::new(1);
    f.add_block(
        &[
            (To::User, 5 * MOB),
            (To::Stranger, 3),
            (To::UserChange, 2 * MOB),
        ],
        &[],
    );
    f.add_block(&[(To::Stranger, 9)], &[]);
    let spent = f.add_block(&[(To::User, 7)], &[]);
    f.add_block(&[(To::UserFromSender, 11)], &[spent[0]]);
    f.catch_up();
    let mut state = AccountState::new();
    let (b, p) = f.sync(&mut state).unwrap();
    assert_eq!(b.block_count, 4);
    assert_eq!(b.of(0), u128::from(5 * MOB + 2 * MOB + 11));
    f.assert_exact(&b);
    assert_eq!(state.tx_outs.len(), 4);
    assert_eq!(p.records_found, 4);
    assert!(state
        .tx_outs
        .values()
        .any(|t| t.subaddress_index == fog_account::CHANGE_SUBADDRESS_INDEX));
    assert_eq!(
        state.tx_outs[&spent[0]].spent,
        SpentStatus::Spent { block_index: 3 }
    );

    // History: the spend and the authenticated sender (only with the sender as contact).
    let contacts = [f.sender.default_subaddress()];
    let h = history(&f.user, &state, b.block_count, &contacts);
    assert_eq!(h.len(), 5);
    assert!(h
        .iter()
        .any(|e| e.kind == EntryKind::Spent && e.block_index == 3 && e.amount.value == 7));
    let signed = h.iter().find(|e| e.amount.value == 11).unwrap();
    assert_eq!(
        signed.kind,
        EntryKind::Received {
            sender: Sender::Authenticated(0),
            change: false
        }
    );
    let h = history(&f.user, &state, b.block_count, &[]);
    let signed = h.iter().find(|e| e.amount.value == 11).unwrap();
    assert!(matches!(
        signed.kind,
        EntryKind::Received {
            sender: Sender::Claimed(_),
            ..
        }
    ));
}

#[test]
fn an_incremental_check_with_nothing_new_is_one_request_per_service() {
    let mut f = FakeFog::new(2);
    for _ in 0..3 {
        f.add_block(&[(To::User, 3), (To::Stranger, 1)], &[]);
    }
    f.catch_up();
    let mut state = AccountState::new();
    let first = f.sync(&mut state).unwrap().0;
    // Saved and restored, as a wallet file would.
    let mut state = AccountState::from_bytes(&state.to_bytes()).unwrap();
    let (v, k) = (f.view_requests, f.key_image_requests);
    let again = f.sync(&mut state).unwrap().0;
    assert_eq!(again, first);
    assert_eq!(f.view_requests - v, 1, "one view request");
    assert_eq!(f.key_image_requests - k, 1, "one key-image request");
    assert_eq!(f.block_requests, 0);
}

#[test]
fn rngs_advance_in_doubling_batches_until_dry() {
    let mut f = FakeFog::new(3);
    for _ in 0..40 {
        f.add_block(&[(To::User, 1)], &[]);
    }
    f.catch_up();
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    assert_eq!(b.of(0), 40);
    f.assert_exact(&b);
    // The first request has no RNG yet; then 1, 2, 4, 8, 16, 32 keys (the last one dry).
    assert_eq!(&f.keys_per_view_request[..7], &[0, 1, 2, 4, 8, 16, 32]);
    let rng = state.rngs.values().next().unwrap();
    assert_eq!(rng.counter, 40);

    // Capped batches: never more than the limit per request, however many RNGs.
    let mut f = FakeFog::new(4);
    for i in 0..6 {
        for _ in 0..5 {
            f.add_block(&[(To::User, 1)], &[]);
        }
        if i < 5 {
            f.new_invocation();
        }
    }
    f.catch_up();
    let mut state = AccountState::new();
    let limits = SyncLimits {
        max_search_keys: 4,
        ..SyncLimits::default()
    };
    let (b, _) = f.sync_with(&mut state, limits).unwrap();
    assert_eq!(b.of(0), 30);
    f.assert_exact(&b);
    assert!(f.keys_per_view_request.iter().all(|&n| n <= 4));
}

#[test]
fn decommissioned_rngs_retire_once_their_last_block_is_covered() {
    let mut f = FakeFog::new(5);
    f.add_block(&[(To::User, 1)], &[]);
    f.add_block(&[(To::User, 2)], &[]);
    f.new_invocation(); // decommissions invocation 1 at block 1
    f.add_block(&[(To::User, 4)], &[]);
    // View has processed only block 0: the old RNG must stay.
    f.view_loaded = 1;
    f.view_count = 1;
    f.ledger_count = 3;
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!(b.block_count, 1);
    assert_eq!(state.rngs.len(), 2);
    assert!(state.retired_rngs.is_empty());

    f.catch_up();
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (3, 7));
    assert_eq!(state.rngs.len(), 1);
    assert_eq!(state.retired_rngs.len(), 1);
    // The retired RNG is never asked again: one key (the live RNG's) per request.
    let before = f.keys_per_view_request.len();
    f.sync(&mut state).unwrap();
    assert_eq!(&f.keys_per_view_request[before..], &[1]);
}

#[test]
fn missed_ranges_are_scanned_with_the_view_key_before_the_count_passes_them() {
    let mut f = FakeFog::new(6);
    f.add_block(&[(To::User, 1)], &[]);
    f.ingest_down = true;
    let lost = f.add_block(&[(To::User, 10), (To::Stranger, 5)], &[]);
    f.add_block(&[(To::UserChange, 20)], &[]);
    f.ingest_down = false;
    f.new_invocation();
    f.add_block(&[(To::User, 100)], &[]);
    f.missed(BlockRange::new(1, 3));
    f.catch_up();
    // The block service is behind: the range stays pending and holds the count.
    f.block_service_count = 1;
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!(b.block_count, 1);
    assert_eq!(state.missed_ranges, vec![BlockRange::new(1, 3)]);

    f.block_service_count = 4;
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (4, 131));
    assert!(state.missed_ranges.is_empty());
    assert_eq!(p.blocks_scanned, 2);
    assert_eq!(
        state.tx_outs[&lost[0]].discovery,
        Discovery::MissedRangeScan
    );
}

#[test]
fn a_tx_out_found_by_view_and_by_a_scan_counts_once() {
    let mut f = FakeFog::new(7);
    f.add_block(&[(To::User, 1)], &[]);
    f.add_block(&[(To::User, 2), (To::UserChange, 4)], &[]);
    // A missed range over blocks that were ingested after all.
    f.missed(BlockRange::new(0, 2));
    f.catch_up();
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!(b.of(0), 7);
    assert_eq!(state.tx_outs.len(), 3);
}

#[test]
fn the_count_never_passes_the_key_image_service() {
    let mut f = FakeFog::new(8);
    let t = f.add_block(&[(To::User, 50)], &[]);
    f.add_block(&[(To::Stranger, 1)], &[]);
    f.add_block(&[(To::Stranger, 1)], &[t[0]]);
    f.catch_up();
    f.ledger_count = 2; // the key-image store has not loaded block 2, which spends it
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (2, 50));
    f.ledger_count = 3;
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (3, 0));
}

#[test]
fn the_count_never_goes_backwards_when_services_restart_behind() {
    let mut f = FakeFog::new(9);
    for _ in 0..5 {
        f.add_block(&[(To::User, 1)], &[]);
    }
    f.catch_up();
    let mut state = AccountState::new();
    let (b, _) = f.sync(&mut state).unwrap();
    assert_eq!(b.block_count, 5);
    // View and the key-image store restart and reload from scratch.
    f.view_loaded = 2;
    f.view_count = 2;
    f.ledger_count = 1;
    let (b2, _) = f.sync(&mut state).unwrap();
    assert_eq!(b2, b);
    // A new block arrives while they are behind; nothing moves until they catch up.
    f.add_block(&[(To::User, 10)], &[]);
    let (b3, _) = f.sync(&mut state).unwrap();
    assert_eq!(b3, b);
    f.catch_up();
    let (b4, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b4);
    assert_eq!((b4.block_count, b4.of(0)), (6, 15));
}

#[test]
fn an_rng_announced_after_its_records_are_counted_is_searched_before_the_count_moves() {
    // The server reads user events before its block count: an answer counts blocks of an
    // invocation whose RNG record it does not carry yet.
    let mut f = FakeFog::new(10);
    f.add_block(&[(To::User, 1)], &[]);
    f.catch_up();
    let mut state = AccountState::new();
    f.sync(&mut state).unwrap();
    f.new_invocation();
    f.add_block(&[(To::User, 1000)], &[]);
    f.catch_up();
    f.hide_events = 2; // the decommission and the new RNG record
                       // The first answer hides the new RNG; later ones show it.
    let mut sync = fog_client::Sync::new(&f.user, &state, SyncLimits::default()).unwrap();
    let mut step = sync.start(&mut state).unwrap();
    let mut answers = 0;
    let balance = loop {
        match step {
            fog_client::Step::Send(r) => {
                let a = f.answer(r);
                answers += 1;
                step = sync.handle(&mut state, a).unwrap();
            }
            fog_client::Step::Done(b) => break b,
        }
    };
    assert!(answers > 1);
    f.assert_exact(&balance);
    assert_eq!((balance.block_count, balance.of(0)), (2, 1001));
}

#[test]
fn a_large_account_syncs_in_bounded_requests_and_answers() {
    let mut f = FakeFog::new(13);
    let payments = vec![(To::User, 1); 100];
    for _ in 0..30 {
        f.add_block(&payments, &[]);
    }
    f.catch_up();
    let mut state = AccountState::new();
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!(b.of(0), 3000);
    assert_eq!(p.records_found, 3000);
    assert!(f.keys_per_view_request.iter().all(|&n| n <= 500));
    assert!(f.key_images_per_request.iter().all(|&n| n <= 100));
    assert_eq!(f.key_image_requests, 30);
    // 500 fixed-size results are about 140 KB; far below gRPC's 4 MiB default.
    assert!(f.max_answer_bytes < 200_000, "{}", f.max_answer_bytes);
    println!(
        "3000 TxOuts: {} view requests, {} key-image requests, largest answer {} bytes, state {} bytes",
        f.view_requests,
        f.key_image_requests,
        f.max_answer_bytes,
        state.to_bytes().len()
    );
}

fn tampered(
    f: &mut FakeFog,
    state: &mut AccountState,
    tamper: impl FnMut(&mut Response) -> bool + Send + 'static,
) -> ClientError {
    f.tamper = Some(Box::new(tamper));
    f.sync(state).unwrap_err()
}

#[test]
fn a_record_that_is_not_ours_is_skipped_and_the_rng_moves_past_it() {
    // A hostile sender pays himself and names the user in the fog hint: ingest files that
    // record under the user's RNG, encrypted to the user's `C_0`, between two real payments.
    let mut f = FakeFog::new(17);
    f.add_block(
        &[(To::User, 1), (To::SenderHintingUser, 50), (To::User, 2)],
        &[],
    );
    f.catch_up();
    let mut state = AccountState::new();
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (1, 3));
    assert_eq!((p.records_found, p.records_rejected), (2, 1));
    let counter: u64 = state.rngs.values().map(|r| r.counter).sum();
    assert_eq!(counter, 3, "the RNG moved past the hostile record");

    // Every later check succeeds, exact, and does not meet the record again.
    f.add_block(&[(To::User, 4), (To::SenderHintingUser, 9)], &[]);
    f.catch_up();
    let (b, p) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!((b.block_count, b.of(0)), (2, 7));
    assert_eq!((p.records_found, p.records_rejected), (1, 1));
    let (b, p) = f.sync(&mut state).unwrap();
    assert_eq!((b.block_count, b.of(0)), (2, 7));
    assert_eq!((p.records_found, p.records_rejected), (0, 0));
}

#[test]
fn a_found_record_that_does_not_open_is_skipped_not_fatal() {
    let mut f = FakeFog::new(19);
    f.add_block(&[(To::User, 1), (To::User, 2)], &[]);
    f.catch_up();
    let mut state = AccountState::new();
    f.tamper = Some(Box::new(|r| {
        if let Response::ViewQuery(q) = r {
            for x in &mut q.fixed_tx_out_search_results {
                if x.result_code == TxOutSearchResultCode::Found as u32 {
                    x.ciphertext[40] ^= 1;
                }
            }
        }
        false // stays in place for every answer of the check
    }));
    let (b, p) = f.sync(&mut state).unwrap();
    f.tamper = None;
    // What view found and does not open is not counted: the balance can be late (the
    // operator can always withhold), never made up.
    assert_eq!((b.block_count, b.of(0)), (1, 0));
    assert_eq!((p.records_found, p.records_rejected), (0, 2));
    assert!(state.tx_outs.is_empty());
    f.add_block(&[(To::User, 4)], &[]);
    f.catch_up();
    let (b, p) = f.sync(&mut state).unwrap();
    assert_eq!((b.block_count, b.of(0)), (2, 4));
    assert_eq!((p.records_found, p.records_rejected), (1, 0));
}

#[test]
fn bad_and_unknown_result_codes_are_errors_and_change_nothing() {
    let mut f = FakeFog::new(11);
    f.add_block(&[(To::User, 1), (To::User, 2)], &[]);
    f.catch_up();
    let mut state = AccountState::new();
    let b = f.sync(&mut state).unwrap().0;
    f.add_block(&[(To::User, 4)], &[]);
    f.catch_up();

    for code in [
        TxOutSearchResultCode::BadSearchKey as u32,
        TxOutSearchResultCode::InternalError as u32,
        TxOutSearchResultCode::RateLimited as u32,
        TxOutSearchResultCode::IntentionallyUnused as u32,
        99,
    ] {
        let before = state.clone();
        let e = tampered(&mut f, &mut state, move |r| {
            if let Response::ViewQuery(q) = r {
                for x in &mut q.fixed_tx_out_search_results {
                    if x.search_key.iter().any(|&b| b != 0) {
                        x.result_code = code;
                    }
                }
                true
            } else {
                false
            }
        });
        assert!(
            matches!(&e, ClientError::BadResponse { service: Service::View, what } if what.contains("result code")),
            "{e}"
        );
        assert_eq!(state, before, "code {code} changed the state");
    }

    let cases: Vec<(&str, common::Tamper)> = vec![
        (
            "search results for",
            Box::new(|r| {
                if let Response::ViewQuery(q) = r {
                    q.fixed_tx_out_search_results
                        .retain(|x| x.search_key.iter().all(|&b| b == 0));
                    true
                } else {
                    false
                }
            }),
        ),
        (
            "two results",
            Box::new(|r| {
                if let Response::ViewQuery(q) = r {
                    let real = q
                        .fixed_tx_out_search_results
                        .iter()
                        .find(|x| x.search_key.iter().any(|&b| b != 0))
                        .cloned();
                    q.fixed_tx_out_search_results.extend(real);
                    true
                } else {
                    false
                }
            }),
        ),
        (
            "key not asked",
            Box::new(|r| {
                if let Response::ViewQuery(q) = r {
                    for x in &mut q.fixed_tx_out_search_results {
                        x.search_key[0] ^= 1;
                        x.result_code = 2;
                    }
                    true
                } else {
                    false
                }
            }),
        ),
        (
            "payload length",
            Box::new(|r| {
                if let Response::ViewQuery(q) = r {
                    for x in &mut q.fixed_tx_out_search_results {
                        if x.result_code == TxOutSearchResultCode::Found as u32 {
                            x.payload_length = 300;
                        }
                    }
                    true
                } else {
                    false
                }
            }),
        ),
    ];
    for (what, t) in cases {
        let before = state.clone();
        let e = tampered(&mut f, &mut state, t);
        assert!(
            matches!(&e, ClientError::BadResponse { service: Service::View, what: w } if w.contains(what)),
            "{what}: {e}"
        );
        assert_eq!(state, before, "{what} changed the state");
    }

    // Key-image answers.
    let e = tampered(&mut f, &mut state, |r| {
        if let Response::CheckKeyImages(k) = r {
            k.results[0].key_image_result_code = 3; // KeyImageError
            true
        } else {
            false
        }
    });
    assert!(
        matches!(&e, ClientError::BadResponse { service: Service::KeyImages, what } if what.contains("KeyImageError")),
        "{e}"
    );
    // The first requests of that check did apply (facts), but the balance did not move.
    assert_eq!(state.last_balance.as_ref(), Some(&b));
    let before = state.clone();
    let e = tampered(&mut f, &mut state, |r| {
        if let Response::CheckKeyImages(k) = r {
            k.results.reverse();
            k.results.push(k.results[0].clone());
            true
        } else {
            false
        }
    });
    assert!(matches!(
        e,
        ClientError::BadResponse {
            service: Service::KeyImages,
            ..
        }
    ));
    let e = tampered(&mut f, &mut state, |r| {
        if let Response::CheckKeyImages(k) = r {
            k.results[0].key_image_result_code = 1;
            k.results[0].spent_at = k.num_blocks;
            true
        } else {
            false
        }
    });
    assert!(matches!(
        e,
        ClientError::BadResponse {
            service: Service::KeyImages,
            ..
        }
    ));
    assert_eq!(state.last_balance, before.last_balance);

    // With honest answers again, everything is found.
    let (b, _) = f.sync(&mut state).unwrap();
    f.assert_exact(&b);
    assert_eq!(b.of(0), 7);
}

#[test]
fn a_record_after_a_gap_is_refused() {
    let mut f = FakeFog::new(12);
    for _ in 0..3 {
        f.add_block(&[(To::User, 1)], &[]);
    }
    f.catch_up();
    // Answers: events only; one key (found); two keys: make the first not found, so the
    // second is found after a gap.
    let mut state = AccountState::new();
    let mut sync = fog_client::Sync::new(&f.user, &state, SyncLimits::default()).unwrap();
    let mut step = sync.start(&mut state).unwrap();
    let mut n = 0;
    let err = loop {
        let fog_client::Step::Send(r) = step else {
            panic!("finished without reaching the gap")
        };
        let first_of_two = match &r {
            fog_client::Request::ViewQuery { request, .. } if request.get_txos.len() == 2 => {
                Some(request.get_txos[0].clone())
            }
            _ => None,
        };
        let mut a = f.answer(r);
        n += 1;
        if let (Some(key), Response::ViewQuery(q)) = (first_of_two, &mut a) {
            for x in &mut q.fixed_tx_out_search_results {
                if x.search_key == key {
                    x.result_code = TxOutSearchResultCode::NotFound as u32;
                }
            }
        }
        match sync.handle(&mut state, a) {
            Ok(s) => step = s,
            Err(e) => break e,
        }
    };
    assert_eq!(n, 3);
    assert!(
        matches!(&err, ClientError::BadResponse { what, .. } if what.contains("after a search key")),
        "{err}"
    );
    assert_eq!(
        state.tx_outs.len(),
        1,
        "the answer with the gap added nothing"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// While blocks arrive and the services lag, restart and rotate, every balance reported
    /// is exact for its block count, never ahead of view, and the count never goes back.
    #[test]
    fn every_reported_balance_is_exact(seed in any::<u64>()) {
        let mut f = FakeFog::new(seed);
        let mut state = AccountState::new();
        let mut last = 0u64;
        let mut unspent: Vec<u64> = Vec::new();
        for step in 0..30u64 {
            let rng = &mut f.rng;
            let roll: u32 = rng.gen_range(0..100);
            let mut payments = vec![(To::Stranger, 1)];
            for _ in 0..rng.gen_range(0..3) {
                let to = match rng.gen_range(0..3) { 0 => To::User, 1 => To::UserChange, _ => To::UserFromSender };
                payments.push((to, rng.gen_range(1..1000)));
            }
            let spends: Vec<u64> = if !unspent.is_empty() && rng.gen_bool(0.3) {
                vec![unspent.swap_remove(rng.gen_range(0..unspent.len()))]
            } else { vec![] };
            if roll < 8 { f.new_invocation(); }
            let lost = roll >= 90;
            f.ingest_down = lost;
            let start = f.blocks.len() as u64;
            let mine = f.add_block(&payments, &spends);
            f.ingest_down = false;
            if lost {
                f.missed(BlockRange::new(start, start + 1));
            }
            unspent.extend(mine);
            // Services progress at their own pace, sometimes restarting behind.
            let n = f.blocks.len() as u64;
            let rng = &mut f.rng;
            f.view_loaded = rng.gen_range(f.view_loaded.min(n)..=n);
            f.view_count = rng.gen_range(0..=f.view_loaded).max(f.view_count.min(f.view_loaded));
            if rng.gen_bool(0.05) { f.view_count = rng.gen_range(0..=f.view_count); f.view_loaded = f.view_count; }
            f.ledger_count = rng.gen_range(0..=n);
            f.block_service_count = rng.gen_range(0..=n);
            if rng.gen_bool(0.3) {
                f.hide_events = rng.gen_range(1..3);
            }
            let (b, _) = f.sync(&mut state).unwrap();
            f.assert_exact(&b);
            prop_assert!(b.block_count >= last, "step {}: {} after {}", step, b.block_count, last);
            last = b.block_count;
            if step % 7 == 0 {
                state = AccountState::from_bytes(&state.to_bytes()).unwrap();
            }
        }
        f.catch_up();
        let (b, _) = f.sync(&mut state).unwrap();
        f.assert_exact(&b);
        prop_assert_eq!(b.block_count, f.blocks.len() as u64);
    }
}
