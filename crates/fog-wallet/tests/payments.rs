//! Payment features of `fog-wallet` against the real services (see `common`):
//! - `send --save-tx` builds and signs without submitting (balances unchanged), a corrupt or
//!   truncated file is refused without changing anything, `submit` lands it with exact
//!   balances on both sides, and submitting it again is refused as a double spend (exit 3),
//!   as is a saved payment whose inputs another send spent in the meantime;
//! - history shows the destination memo of a payment's change (total outlay, fee, recipients,
//!   the recipient's short address hash) in text and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{balance_at_least, ok, text, wallet, MOB};
use fog_account::b58_encode_public_address;
use fog_transaction::validation::MOB_MINIMUM_FEE;
use fog_wallet::WalletError;

const FEE: u64 = MOB_MINIMUM_FEE;

/// History's JSON entries with a destination memo.
async fn destinations(file: &std::path::Path) -> Vec<serde_json::Value> {
    let h = ok(
        &wallet(file, &["history", "--json", "--offline"]).await,
        "history --json",
    );
    let h: serde_json::Value = serde_json::from_str(h.trim()).unwrap();
    h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["destination"].is_null())
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_payment_is_submitted_once_and_refused_as_a_double_spend_after() {
    let net = common::start(21).await;
    let (alice, bob) = (&net.alice, &net.bob);
    let bob_address = b58_encode_public_address(&net.bob_key.default_subaddress());
    ok(
        &wallet(alice, &["contact", "add", "bob", &bob_address]).await,
        "contact add",
    );
    let (count, mob) = balance_at_least(alice, 1).await;
    assert_eq!((count, mob), (1, 40 * u128::from(MOB)));

    // Build and sign, don't submit.
    let saved = net.dir.path().join("pay-bob.fogtx");
    let out = wallet(
        alice,
        &[
            "send",
            "--to",
            "bob",
            "--amount",
            "3",
            "--save-tx",
            saved.to_str().unwrap(),
            "-q",
        ],
    )
    .await;
    let said = ok(&out, "send --save-tx");
    assert!(
        said.contains("Signed 3 MOB to bob (fee 0.0004 MOB)") && said.contains("NOT submitted"),
        "{said}"
    );
    let bytes = std::fs::read(&saved).unwrap();
    assert_eq!(&bytes[..8], b"FOG-STX\n");
    // An existing file is never replaced.
    let out = wallet(
        alice,
        &[
            "send",
            "--to",
            "bob",
            "--amount",
            "1",
            "--save-tx",
            saved.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&saved).unwrap(), bytes);

    // Nothing was submitted: give a wrongly submitted payment time to land, then both
    // balances are as before, at the same block count, and nothing is reserved.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (count, mob) = balance_at_least(alice, 1).await;
    assert_eq!((count, mob), (1, 40 * u128::from(MOB)));
    let human = ok(&wallet(alice, &["balance", "-q"]).await, "balance");
    assert!(!human.contains("not yet seen in a block"), "{human}");
    let (count, mob) = balance_at_least(bob, 1).await;
    assert_eq!((count, mob), (1, 0));

    // A corrupt or truncated file is refused, naming the file, and changes nothing.
    let alice_before = std::fs::read(alice).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    let bad = net.dir.path().join("flipped.fogtx");
    std::fs::write(&bad, &flipped).unwrap();
    let out = wallet(alice, &["submit", bad.to_str().unwrap()]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("error: {}: corrupt", bad.display()))
            && err.contains("nothing was submitted"),
        "{err}"
    );
    let short = net.dir.path().join("short.fogtx");
    std::fs::write(&short, &bytes[..bytes.len() - 100]).unwrap();
    let out = wallet(alice, &["submit", short.to_str().unwrap()]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("truncated"), "{err}");
    std::fs::write(&short, b"not a transaction").unwrap();
    let out = wallet(alice, &["submit", short.to_str().unwrap()]).await;
    assert!(text(&out.stderr).contains("not a saved Fog transaction"));
    assert_eq!(std::fs::read(alice).unwrap(), alice_before);
    // Another wallet cannot submit it as its own.
    let bob_before = std::fs::read(bob).unwrap();
    let out = wallet(bob, &["submit", saved.to_str().unwrap()]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("built by another wallet"), "{err}");
    assert_eq!(std::fs::read(bob).unwrap(), bob_before);

    // Submit: it lands, and both balances are exact, fee included.
    let out = wallet(alice, &["submit", saved.to_str().unwrap(), "-q"]).await;
    let said = ok(&out, "submit");
    assert!(
        said.contains("Sent 3 MOB to bob (fee 0.0004 MOB)") && said.contains("Landed in block 1."),
        "{said}"
    );
    let alice_after = 37 * u128::from(MOB) - u128::from(FEE);
    let (count, mob) = balance_at_least(alice, 2).await;
    assert_eq!((count, mob), (2, alice_after));
    let (count, mob) = balance_at_least(bob, 2).await;
    assert_eq!((count, mob), (2, 3 * u128::from(MOB)));
    // The history records it as `send` does: the change carries the destination memo.
    let d = destinations(alice).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["destination"]["total_outlay"], 3 * MOB + FEE);
    assert_eq!(d[0]["amount"], 7 * MOB - FEE);

    // Again: the node refuses it as a double spend; exit 3, one clear line, nothing changed.
    let alice_before = std::fs::read(alice).unwrap();
    let out = wallet(alice, &["submit", saved.to_str().unwrap(), "-q"]).await;
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(WalletError::EXIT_DOUBLE_SPEND),
        "{err}"
    );
    assert!(
        err.starts_with(
            "error: double spend: the ledger node refused the transaction (ContainsSpentKeyImage)"
        ) && err.contains("already landed"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(alice).unwrap(), alice_before);
    let (count, mob) = balance_at_least(alice, 2).await;
    assert_eq!((count, mob), (2, alice_after));

    // The wallet moved on between save and submit: a saved payment's input is spent by a
    // plain send (both take the largest TxOut, 10 MOB), so submitting it is a double spend.
    let stale = net.dir.path().join("stale.fogtx");
    ok(
        &wallet(
            alice,
            &[
                "send",
                "--to",
                "bob",
                "--amount",
                "1",
                "--save-tx",
                stale.to_str().unwrap(),
                "-q",
            ],
        )
        .await,
        "send --save-tx",
    );
    let said = ok(
        &wallet(alice, &["send", "--to", "bob", "--amount", "2", "-q"]).await,
        "send",
    );
    assert!(said.contains("Landed in block 2."), "{said}");
    let out = wallet(alice, &["submit", stale.to_str().unwrap()]).await;
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(WalletError::EXIT_DOUBLE_SPEND),
        "{err}"
    );
    assert!(err.contains("double spend"), "{err}");
    let alice_final = alice_after - 2 * u128::from(MOB) - u128::from(FEE);
    let (count, mob) = balance_at_least(alice, 3).await;
    assert_eq!((count, mob), (3, alice_final));
    let (count, mob) = balance_at_least(bob, 3).await;
    assert_eq!((count, mob), (3, 5 * u128::from(MOB)));

    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_the_destination_memo_of_a_payment() {
    let net = common::start(22).await;
    let (alice, bob) = (&net.alice, &net.bob);
    let bob_address = net.bob_key.default_subaddress();
    let bob_hash = hex::encode(bob_address.short_address_hash().0);
    ok(
        &wallet(
            alice,
            &[
                "contact",
                "add",
                "bob",
                &b58_encode_public_address(&bob_address),
            ],
        )
        .await,
        "contact add",
    );
    let (count, mob) = balance_at_least(alice, 1).await;
    assert_eq!((count, mob), (1, 40 * u128::from(MOB)));

    let said = ok(
        &wallet(alice, &["send", "--to", "bob", "--amount", "2.5", "-q"]).await,
        "send",
    );
    assert!(said.contains("Landed in block 1."), "{said}");
    let amount = 2_500_000_000_000u64;
    let (count, mob) = balance_at_least(alice, 2).await;
    assert_eq!(
        (count, mob),
        (2, u128::from(40 * MOB - amount - FEE)),
        "alice pays the amount and the fee"
    );
    let (count, mob) = balance_at_least(bob, 2).await;
    assert_eq!((count, mob), (2, u128::from(amount)));

    // JSON: the change entry carries the memo, with exact values.
    let d = destinations(alice).await;
    assert_eq!(d.len(), 1, "{d:?}");
    let e = &d[0];
    assert_eq!(e["kind"], "received");
    assert_eq!(e["change"], true);
    assert_eq!(e["block_index"], 1);
    assert_eq!(e["amount"], 10 * MOB - amount - FEE);
    let m = &e["destination"];
    assert_eq!(m["total_outlay"], amount + FEE);
    assert_eq!(m["fee"], FEE);
    assert_eq!(m["num_recipients"], 1);
    assert_eq!(m["recipient_hash"], bob_hash.as_str());
    assert_eq!(m["recipient"], "bob");
    // Entries without one say null; Bob's received TxOut has none.
    let h = ok(
        &wallet(bob, &["history", "--json", "--offline"]).await,
        "history",
    );
    let h: serde_json::Value = serde_json::from_str(h.trim()).unwrap();
    let entries = h["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0]["destination"].is_null(), "{h}");

    // Text: the same facts on the change line.
    let h = ok(&wallet(alice, &["history", "--offline"]).await, "history");
    let line = h
        .lines()
        .find(|l| l.contains("change"))
        .unwrap_or_else(|| panic!("no change line: {h}"));
    assert!(
        line.contains(&format!(
            "change; sent 2.5004 MOB in all (fee 0.0004 MOB) to 1 recipient(s): bob ({bob_hash})"
        )),
        "{line}"
    );
    assert!(line.contains("7.4996 MOB"), "{line}");

    // Without the contact, the hash alone.
    ok(
        &wallet(alice, &["contact", "remove", "bob"]).await,
        "contact remove",
    );
    let d = destinations(alice).await;
    assert!(d[0]["destination"]["recipient"].is_null());
    assert_eq!(d[0]["destination"]["recipient_hash"], bob_hash.as_str());

    net.stop().await;
}
