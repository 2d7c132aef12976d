//! `fogd node --minimum-fee TOKEN=FEE`: the fees a node is started with are the ones it
//! publishes in `GetLedgerInfo`, and a fee MobileCoin's rules refuse (or a malformed one)
//! stops it at once with a one-line error and exit code 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use fog_account::AccountKey;
use fog_api::fog_node::{ledger_node_client::LedgerNodeClient, GetLedgerInfoRequest};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use common::*;

/// A ledger DB with an origin block, in `dir`.
fn ledger(dir: &std::path::Path) -> String {
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let alice = keyfile(dir, "alice.json", &AccountKey::random(&mut rng));
    let db = dir.join("ledger.redb");
    let db = db.to_str().unwrap().to_owned();
    ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        &db,
        "--fund",
        &format!("{}:5", alice.display()),
    ]);
    db
}

#[test]
fn bad_minimum_fees_are_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let node = |extra: &[&str]| {
        let mut args = vec!["node", "--ledger-db", &db, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        assert_input_error(&args)
    };
    for (extra, words) in [
        (
            &["--minimum-fee", "1=1000"][..],
            "token 1's minimum fee 1000",
        ),
        (&["--minimum-fee", "1=0"][..], "token 1's minimum fee 0"),
        (
            &["--minimum-fee", "0=128"][..],
            "MOB's minimum fee 128 picoMOB",
        ),
        (&["--minimum-fee", "1"][..], "is not TOKEN=FEE"),
        (&["--minimum-fee", "one=1024"][..], "the token id"),
        (&["--minimum-fee", "1=1.5"][..], "the fee"),
        (
            &["--minimum-fee", "1=1024", "--minimum-fee", "1=2048"][..],
            "names token 1 twice",
        ),
    ] {
        let line = node(extra);
        println!("{extra:?}: {line}");
        assert!(line.contains(words), "{extra:?}: {line}");
    }
    // The environment takes a comma-separated list, checked the same way.
    let out = fogd()
        .args(["node", "--ledger-db", &db, "--listen", "127.0.0.1:0"])
        .env("FOG_MINIMUM_FEE", "1=1024,2=100")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token 2's minimum fee 100"), "{stderr}");
}

#[test]
fn a_node_publishes_the_minimum_fees_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = ledger(dir.path());
    let node = Service::start(
        "node",
        &[
            "node",
            "--ledger-db",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--minimum-fee",
            "1=1024",
            "--minimum-fee",
            "5=2560",
        ],
    );
    let addr = node.wait_for_addr("fogd node listening");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fees: BTreeMap<u64, u64> = runtime.block_on(async {
        let mut client = LedgerNodeClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let info = client
            .get_ledger_info(GetLedgerInfoRequest {})
            .await
            .unwrap()
            .into_inner();
        info.minimum_fees.into_iter().collect()
    });
    // The client's connection closes with its runtime, so the node can stop gracefully.
    drop(runtime);
    assert_eq!(
        fees,
        BTreeMap::from([(0, 400_000_000), (1, 1024), (5, 2560)])
    );
    node.stop();
}
