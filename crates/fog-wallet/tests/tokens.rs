//! Two tokens end to end through the `fog-wallet` binary against the real services (see
//! `common`): the origin block funds Alice with MOB and token 1; she pays Bob some of each,
//! each fee paid in the token sent and, for token 1, learned from the node (no `--fee`);
//! both sides' balances of both tokens are exact, fees included; paying more token 1 than
//! she holds is refused in one line and changes nothing although she has plenty of MOB; a
//! token the node does not take is refused naming the tokens it does, and a fee below the
//! token's minimum is refused by the node; history shows the token of every entry, in text
//! and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeMap, path::Path};

use common::{balances_at_least, ok, text, wallet, MOB};
use fog_account::b58_encode_public_address;
use fog_system::network::{TokenFunding, TOKEN_1, TOKEN_1_MINIMUM_FEE};
use fog_transaction::validation::MOB_MINIMUM_FEE;

/// Alice's token-1 funding: 3 TxOuts of this many units.
const T1_TXOUT: u64 = 1_000_000;

/// The balances `balance --json` reports: (block count, {token: value}).
fn balances(mob: u128, t1: u128) -> BTreeMap<u64, u128> {
    BTreeMap::from([(0, mob), (1, t1)])
}

/// History's JSON: (block count, entries).
async fn history_json(file: &Path) -> (u64, Vec<serde_json::Value>) {
    let out = ok(
        &wallet(file, &["history", "--json", "--offline"]).await,
        "history --json",
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["block_count"].as_u64().unwrap(),
        v["entries"].as_array().unwrap().clone(),
    )
}

/// The entries of `kind` in `token`, as (amount, change, sender) sorted by amount.
fn entries(all: &[serde_json::Value], kind: &str, token: u64) -> Vec<(u64, bool, String)> {
    let mut found: Vec<(u64, bool, String)> = all
        .iter()
        .filter(|e| e["kind"] == kind && e["token_id"].as_u64() == Some(token))
        .map(|e| {
            (
                e["amount"].as_u64().unwrap(),
                e["change"].as_bool().unwrap(),
                e["sender"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_are_shown_and_paid_each_with_its_own_fee() {
    let net = common::start_funded(
        41,
        &[TokenFunding {
            token_id: TOKEN_1,
            txouts: 3,
            value: T1_TXOUT,
        }],
    )
    .await;
    let (alice, bob) = (&net.alice, &net.bob);
    let address = |k: &fog_account::AccountKey| b58_encode_public_address(&k.default_subaddress());
    ok(
        &wallet(alice, &["contact", "add", "bob", &address(&net.bob_key)]).await,
        "contact add",
    );
    ok(
        &wallet(bob, &["contact", "add", "alice", &address(&net.alice_key)]).await,
        "contact add",
    );
    let (mob, fee) = (u128::from(MOB), u128::from(MOB_MINIMUM_FEE));
    let (t1, t1_fee) = (u128::from(T1_TXOUT), u128::from(TOKEN_1_MINIMUM_FEE));

    // The origin block: Alice holds 40 MOB and 3,000,000 of token 1, Bob nothing.
    let (count, a) = balances_at_least(alice, 1).await;
    assert_eq!((count, a), (1, balances(40 * mob, 3 * t1)));
    let (_, b) = balances_at_least(bob, 1).await;
    assert_eq!(b, BTreeMap::from([(0, 0)]));
    let shown = ok(&wallet(alice, &["balance", "-q"]).await, "balance");
    println!("{shown}");
    assert!(shown.contains("  40 MOB\n"), "{shown}");
    assert!(shown.contains("  3000000 (token 1)\n"), "{shown}");

    // Alice pays Bob 1,250,000 of token 1 (two of her TxOuts) without --fee: the fee is the
    // node's minimum for token 1, paid in token 1.
    let out = wallet(
        alice,
        &["send", "--to", "bob", "--amount", "1250000", "--token", "1"],
    )
    .await;
    let sent = ok(&out, "send token 1");
    println!("{sent}");
    assert!(
        sent.contains("Sent 1250000 (token 1) to bob (fee 1024 (token 1))"),
        "{sent}"
    );
    // Then 2.5 MOB, at MOB's minimum fee.
    let sent = ok(
        &wallet(alice, &["send", "--to", "bob", "--amount", "2.5"]).await,
        "send MOB",
    );
    println!("{sent}");
    assert!(
        sent.contains("Sent 2.5 MOB to bob (fee 0.0004 MOB)"),
        "{sent}"
    );

    // Exact on both sides, for both tokens: MOB paid only the MOB payment and its fee,
    // token 1 only the token-1 payment and its fee.
    let (count, a) = balances_at_least(alice, 3).await;
    let alice_mob = 40 * mob - 5 * mob / 2 - fee;
    let alice_t1 = 3 * t1 - 1_250_000 - t1_fee;
    assert_eq!((count, a.clone()), (3, balances(alice_mob, alice_t1)));
    let (count, b) = balances_at_least(bob, 3).await;
    assert_eq!((count, b), (3, balances(5 * mob / 2, 1_250_000)));
    let shown = ok(&wallet(bob, &["balance", "-q"]).await, "balance");
    assert!(shown.contains("  2.5 MOB\n"), "{shown}");
    assert!(shown.contains("  1250000 (token 1)\n"), "{shown}");

    // More token 1 than Alice holds (her balance, so amount plus fee exceeds it) is refused
    // in one line, exit code 2, though she has plenty of MOB; nothing changes.
    let before = std::fs::read(alice).unwrap();
    let too_much = alice_t1.to_string();
    let out = wallet(
        alice,
        &[
            "send", "--to", "bob", "--amount", &too_much, "--token", "1", "-q",
        ],
    )
    .await;
    let err = text(&out.stderr);
    println!("{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "insufficient funds of token 1: {alice_t1} available, {} needed",
            alice_t1 + t1_fee
        )),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read(alice).unwrap(),
        before,
        "the wallet file changed"
    );

    // A token the node takes no fee for is refused before anything is built.
    let out = wallet(
        alice,
        &["send", "--to", "bob", "--amount", "5", "--token", "2"],
    )
    .await;
    let err = text(&out.stderr);
    println!("{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not accept token 2: it takes token(s) 0, 1"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(alice).unwrap(),
        before,
        "the wallet file changed"
    );
    let (count, a) = balances_at_least(alice, 3).await;
    assert_eq!((count, a), (3, balances(alice_mob, alice_t1)));

    // A fee below the node's minimum for token 1 is refused by the node; nothing changes.
    let bob_before = std::fs::read(bob).unwrap();
    let out = wallet(
        bob,
        &[
            "send", "--to", "alice", "--amount", "50000", "--token", "1", "--fee", "512", "-q",
        ],
    )
    .await;
    let err = text(&out.stderr);
    println!("{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the ledger node refused the transaction") && err.contains("TxFeeError"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(bob).unwrap(),
        bob_before,
        "the wallet file changed"
    );

    // Bob pays some token 1 back with a fee of his choosing (twice the minimum), in token 1.
    let sent = ok(
        &wallet(
            bob,
            &[
                "send", "--to", "alice", "--amount", "50000", "--token", "1", "--fee", "2048",
            ],
        )
        .await,
        "send token 1 back",
    );
    assert!(
        sent.contains("Sent 50000 (token 1) to alice (fee 2048 (token 1))"),
        "{sent}"
    );
    let (count, b) = balances_at_least(bob, 4).await;
    assert_eq!(
        (count, b),
        (4, balances(5 * mob / 2, 1_250_000 - 50_000 - 2048))
    );
    let (count, a) = balances_at_least(alice, 4).await;
    assert_eq!((count, a), (4, balances(alice_mob, alice_t1 + 50_000)));

    // History names each entry's token. Alice: three token-1 TxOuts received at the origin,
    // two of them spent, the token-1 change with its destination memo in token 1, Bob's
    // token 1; one MOB TxOut spent, the MOB change with a memo in MOB.
    let (count, h) = history_json(alice).await;
    assert_eq!(count, 4);
    let t1_change = 2 * T1_TXOUT - 1_250_000 - TOKEN_1_MINIMUM_FEE;
    assert_eq!(
        entries(&h, "received", 1),
        vec![
            (50_000, false, "bob".into()),
            (t1_change, true, String::new()),
            (T1_TXOUT, false, String::new()),
            (T1_TXOUT, false, String::new()),
            (T1_TXOUT, false, String::new()),
        ]
    );
    assert_eq!(
        entries(&h, "spent", 1),
        vec![(T1_TXOUT, false, String::new()); 2]
    );
    assert_eq!(
        entries(&h, "spent", 0),
        vec![(10 * MOB, false, String::new())]
    );
    let memo = |token: u64| {
        h.iter()
            .find(|e| e["token_id"].as_u64() == Some(token) && !e["destination"].is_null())
            .map(|e| e["destination"].clone())
            .unwrap_or_else(|| panic!("no destination memo in token {token}: {h:?}"))
    };
    let d1 = memo(1);
    assert_eq!(d1["total_outlay"], 1_250_000 + TOKEN_1_MINIMUM_FEE);
    assert_eq!(d1["fee"], TOKEN_1_MINIMUM_FEE);
    assert_eq!(d1["recipient"], "bob");
    let d0 = memo(0);
    assert_eq!(d0["total_outlay"], 5 * MOB / 2 + MOB_MINIMUM_FEE);
    assert_eq!(d0["fee"], MOB_MINIMUM_FEE);

    // Bob: each token received from Alice, authenticated; his token-1 spend and change.
    let (_, h) = history_json(bob).await;
    assert_eq!(
        entries(&h, "received", 0),
        vec![(5 * MOB / 2, false, "alice".into())]
    );
    assert_eq!(
        entries(&h, "received", 1),
        vec![
            (1_250_000 - 50_000 - 2048, true, String::new()),
            (1_250_000, false, "alice".into()),
        ]
    );
    assert_eq!(
        entries(&h, "spent", 1),
        vec![(1_250_000, false, String::new())]
    );
    let shown = ok(&wallet(bob, &["history", "--offline"]).await, "history");
    println!("{shown}");
    assert!(
        shown.contains("received  1250000 (token 1)  from alice (authenticated)"),
        "{shown}"
    );
    assert!(
        shown.contains("received  2.5 MOB  from alice (authenticated)"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "1197952 (token 1)  change; sent 52048 (token 1) in all (fee 2048 (token 1)) to 1 \
             recipient(s): alice"
        ),
        "{shown}"
    );
    assert!(shown.contains("spent     1250000 (token 1)"), "{shown}");
    net.stop().await;
}
