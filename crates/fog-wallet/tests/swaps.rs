//! Atomic swaps end to end through the `fog-wallet` binary against the real services (see
//! `common`): Alice (funded with MOB and token 1) pays Bob some token 1, then offers MOB for
//! token 1 (`offer`); Bob checks the offer (`check-offer`, text and JSON) and fills it
//! (`fill`): both sides' balances of both tokens move by exactly the traded amounts, Bob
//! paying the fee in MOB out of what he takes. Filling it again is a double spend (exit 3).
//! A second, partial offer with a minimum is refused below the minimum, refused when its file
//! is corrupt or its signed content tampered with (exit 2, Bob's wallet file untouched), then
//! filled in part: Alice gets the rest back. An offer whose last block has passed is refused
//! as expired (exit 4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeMap, path::Path};

use common::{balances_at_least, ok, text, wallet, MOB};
use fog_account::b58_encode_public_address;
use fog_system::network::{TokenFunding, TOKEN_1, TOKEN_1_MINIMUM_FEE};
use fog_transaction::{sci::SignedContingentInput, validation::MOB_MINIMUM_FEE};

/// Alice's token-1 funding: 2 TxOuts of this many units.
const T1_TXOUT: u64 = 1_000_000;

fn balances(mob: u128, t1: u128) -> BTreeMap<u64, u128> {
    BTreeMap::from([(0, mob), (1, t1)])
}

/// The offer file format (see `src/swap.rs`): magic, version, length, SCI, checksum.
fn offer_body(file: &[u8]) -> &[u8] {
    assert_eq!(&file[..8], b"FOG-SCI\n");
    let len = u32::from_be_bytes(file[12..16].try_into().unwrap()) as usize;
    assert_eq!(file.len(), 16 + len + 32);
    &file[16..16 + len]
}

/// An offer file around `body`, with a correct checksum.
fn offer_file(body: &[u8]) -> Vec<u8> {
    let mut out = b"FOG-SCI\n".to_vec();
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    let sum = fog_crypto::hash::blake2b256(&[b"fog-wallet offer v1", &out]);
    out.extend_from_slice(&sum);
    out
}

/// The current balances, after a fresh check.
async fn now(file: &Path) -> (u64, BTreeMap<u64, u128>) {
    balances_at_least(file, 0).await
}

fn refused(out: &std::process::Output, code: i32, needle: &str, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {}{err}",
        text(&out.stdout)
    );
    assert_eq!(err.trim().lines().count(), 1, "{what}: not one line: {err}");
    assert!(err.contains(needle), "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_made_checked_and_filled_by_the_wallet() {
    let net = common::start_funded(
        71,
        &[TokenFunding {
            token_id: TOKEN_1,
            txouts: 2,
            value: T1_TXOUT,
        }],
    )
    .await;
    let (alice, bob) = (&net.alice, &net.bob);
    let dir = net.dir.path();
    let (mob, fee) = (u128::from(MOB), u128::from(MOB_MINIMUM_FEE));
    let t1_fee = u128::from(TOKEN_1_MINIMUM_FEE);

    let (_, a) = balances_at_least(alice, 1).await;
    assert_eq!(a, balances(40 * mob, 2 * u128::from(T1_TXOUT)));

    // Bob gets 500000 of token 1 (Alice pays the token-1 fee).
    let bob_address = b58_encode_public_address(&net.bob_key.default_subaddress());
    ok(
        &wallet(
            alice,
            &[
                "send",
                "-q",
                "--to",
                &bob_address,
                "--amount",
                "500000",
                "--token",
                "1",
            ],
        )
        .await,
        "send token 1",
    );
    let (count, b) = now(bob).await;
    assert_eq!(b, balances(0, 500_000));
    let (_, a) = balances_at_least(alice, count).await;
    let mut alice_t1 = 2 * u128::from(T1_TXOUT) - 500_000 - t1_fee;
    assert_eq!(a, balances(40 * mob, alice_t1));

    // Offer 1: 10 MOB for 200000 of token 1, all or nothing.
    let offer1 = dir.join("offer1.fogsci");
    let out = ok(
        &wallet(
            alice,
            &[
                "offer",
                "-q",
                "--give",
                "10",
                "--want",
                "200000",
                "--want-token",
                "1",
                "--out",
                offer1.to_str().unwrap(),
            ],
        )
        .await,
        "offer",
    );
    assert!(out.contains("gives 10 MOB for 200000 (token 1)"), "{out}");
    // The file exists now: a second offer to it is refused, the file kept.
    let before = std::fs::read(&offer1).unwrap();
    let o = wallet(
        alice,
        &[
            "offer",
            "-q",
            "--give",
            "10",
            "--want",
            "1",
            "--want-token",
            "1",
            "--out",
            offer1.to_str().unwrap(),
        ],
    )
    .await;
    refused(&o, 2, "already exists", "offer to an existing file");
    assert_eq!(std::fs::read(&offer1).unwrap(), before);

    let out = ok(
        &wallet(bob, &["check-offer", offer1.to_str().unwrap()]).await,
        "check-offer",
    );
    assert!(
        out.contains("gives 10 MOB for 200000 (token 1) (full fill only)"),
        "{out}"
    );
    let json = ok(
        &wallet(bob, &["check-offer", "--json", offer1.to_str().unwrap()]).await,
        "check-offer --json",
    );
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["give"]["token_id"], 0);
    assert_eq!(v["give"]["amount"], 10 * MOB);
    assert_eq!(v["want"][0]["token_id"], 1);
    assert_eq!(v["want"][0]["amount"], 200_000);
    assert_eq!(v["fill"], "full");
    assert!(v["max_tombstone_block"].as_u64().unwrap() > v["block_count"].as_u64().unwrap());

    // A full offer cannot be taken in part.
    let o = wallet(
        bob,
        &["fill", "-q", offer1.to_str().unwrap(), "--take", "4"],
    )
    .await;
    refused(
        &o,
        2,
        "only be filled in full",
        "fill --take of a full offer",
    );

    let out = ok(
        &wallet(bob, &["fill", "-q", offer1.to_str().unwrap()]).await,
        "fill",
    );
    assert!(
        out.contains("took 10 MOB, paid 200000 (token 1) (fee 0.0004 MOB)"),
        "{out}"
    );
    assert!(out.contains("Landed in block"), "{out}");
    let (count, b) = now(bob).await;
    let (mut bob_mob, mut bob_t1) = (10 * mob - fee, 300_000);
    assert_eq!(b, balances(bob_mob, bob_t1));
    let (_, a) = balances_at_least(alice, count).await;
    alice_t1 += 200_000;
    let mut alice_mob = 30 * mob;
    assert_eq!(a, balances(alice_mob, alice_t1));

    // The same offer again: its input is spent.
    let o = wallet(bob, &["fill", "-q", offer1.to_str().unwrap()]).await;
    refused(&o, 3, "double spend", "a second fill");
    let (_, b) = now(bob).await;
    assert_eq!(b, balances(bob_mob, bob_t1));

    // Offer 2: 10 MOB for 100000 of token 1, partial fills of at least 2 MOB.
    let offer2 = dir.join("offer2.fogsci");
    let out = ok(
        &wallet(
            alice,
            &[
                "offer",
                "-q",
                "--give",
                "10",
                "--want",
                "100000",
                "--want-token",
                "1",
                "--partial",
                "--min-fill",
                "2",
                "--valid-for",
                "200",
                "--out",
                offer2.to_str().unwrap(),
            ],
        )
        .await,
        "offer --partial",
    );
    assert!(out.contains("taking at least 2 MOB"), "{out}");
    let json = ok(
        &wallet(bob, &["check-offer", "--json", offer2.to_str().unwrap()]).await,
        "check-offer --json",
    );
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["fill"], "partial");
    assert_eq!(v["min_fill"], 2 * MOB);
    assert_eq!(v["want"][0]["amount"], 100_000);

    // Refusals that change nothing: below the minimum, a corrupt file, a tampered offer.
    let bob_file = std::fs::read(bob).unwrap();
    let o = wallet(
        bob,
        &["fill", "-q", offer2.to_str().unwrap(), "--take", "1"],
    )
    .await;
    refused(
        &o,
        2,
        "take between 2 MOB and 10 MOB",
        "fill below the minimum",
    );
    let good = std::fs::read(&offer2).unwrap();
    let mut corrupt = good.clone();
    corrupt[40] ^= 0x10;
    let corrupt_path = dir.join("corrupt.fogsci");
    std::fs::write(&corrupt_path, &corrupt).unwrap();
    for cmd in ["check-offer", "fill"] {
        let o = wallet(bob, &[cmd, corrupt_path.to_str().unwrap()]).await;
        refused(&o, 2, "checksum does not match", cmd);
    }
    // Tampered with and re-checksummed: the maker's signature no longer holds.
    let mut sci = SignedContingentInput::decode(offer_body(&good)).unwrap();
    sci.pseudo_output_amount.value += MOB;
    let tampered_path = dir.join("tampered.fogsci");
    std::fs::write(&tampered_path, offer_file(&sci.encode_to_vec())).unwrap();
    for cmd in ["check-offer", "fill"] {
        let o = wallet(bob, &[cmd, tampered_path.to_str().unwrap()]).await;
        refused(&o, 2, "the offer is not valid", cmd);
    }
    // Offer 1's required payment claimed lower: refused as well (before the ledger is
    // asked whether offer 1 is spent).
    let mut sci = SignedContingentInput::decode(offer_body(&before)).unwrap();
    let mut lowered = 0;
    for a in &mut sci.required_output_amounts {
        if a.token_id == 1 {
            a.value = 1;
            lowered += 1;
        }
    }
    assert_eq!(lowered, 1);
    std::fs::write(&tampered_path, offer_file(&sci.encode_to_vec())).unwrap();
    let o = wallet(bob, &["fill", tampered_path.to_str().unwrap()]).await;
    refused(&o, 2, "not valid", "fill of a lowered offer");
    assert_eq!(
        std::fs::read(bob).unwrap(),
        bob_file,
        "a refusal wrote the wallet"
    );
    let (_, b) = now(bob).await;
    assert_eq!(b, balances(bob_mob, bob_t1));

    // Offer 3 (token 1 for MOB) is good for one block only: it expires once offer 2 lands.
    let offer3 = dir.join("offer3.fogsci");
    ok(
        &wallet(
            alice,
            &[
                "offer",
                "-q",
                "--give",
                "1000",
                "--give-token",
                "1",
                "--want",
                "1",
                "--want-token",
                "0",
                "--valid-for",
                "1",
                "--out",
                offer3.to_str().unwrap(),
            ],
        )
        .await,
        "offer --valid-for 1",
    );

    // Bob takes 4 MOB of offer 2 and pays 40000 of token 1; Alice gets 6 MOB back.
    let out = ok(
        &wallet(
            bob,
            &["fill", "-q", offer2.to_str().unwrap(), "--take", "4"],
        )
        .await,
        "fill --take 4",
    );
    assert!(
        out.contains("took 4 MOB, paid 40000 (token 1) (fee 0.0004 MOB)"),
        "{out}"
    );
    let (count, b) = now(bob).await;
    bob_mob += 4 * mob - fee;
    bob_t1 -= 40_000;
    assert_eq!(b, balances(bob_mob, bob_t1));
    let (_, a) = balances_at_least(alice, count).await;
    alice_mob -= 4 * mob;
    alice_t1 += 40_000;
    assert_eq!(a, balances(alice_mob, alice_t1));
    // The rest of offer 2 went back to Alice: the offer is used up.
    let o = wallet(
        bob,
        &["fill", "-q", offer2.to_str().unwrap(), "--take", "2"],
    )
    .await;
    refused(&o, 3, "double spend", "a fill of a used partial offer");

    let o = wallet(bob, &["check-offer", offer3.to_str().unwrap()]).await;
    refused(&o, 4, "expired", "check-offer of an expired offer");
    let o = wallet(bob, &["fill", "-q", offer3.to_str().unwrap()]).await;
    refused(&o, 4, "expired", "fill of an expired offer");
    let (_, b) = now(bob).await;
    assert_eq!(b, balances(bob_mob, bob_t1));
    let (_, a) = now(alice).await;
    assert_eq!(a, balances(alice_mob, alice_t1));

    net.stop().await;
}
