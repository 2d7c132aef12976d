//! Ingest peers on hosts of their own (network namespaces), on Postgres, driven through
//! `fogd ingest-admin` and inspected with `fogd recovery-db`:
//!
//! - `peers_share_one_key_fail_over_and_retire`: three peered idle servers with distinct
//!   keys; activating one gives all three its key, activating a second is refused naming the
//!   first; a peer restarted without its state gets the key back, one restarted with it keeps
//!   it; the whole system runs on the active one while wallets pay; the active one is killed
//!   with SIGKILL while blocks keep coming, a peer takes over within the timeout, and every
//!   balance stays exact, with no missed range and each block's records stored once; a
//!   wallet started from nothing finds exactly its TxOuts; a retire takes the active server
//!   idle exactly once the key's expiry block is scanned, and nothing can be activated on
//!   the retired key.
//! - `servers_on_one_key_are_fenced_to_one_writer`: three unpeered servers given one key
//!   (`sync-keys-from`), all made active: after one block exactly one is active and the DB
//!   attributes the block to its invocation; stopping it and activating another continues at
//!   the next block; and each admin command's refusals.
//!
//! Needs root, `ip` and Postgres (`FOG_TEST_POSTGRES_URL`); fails without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use common::{
    netns::Hosts,
    wallets::{all_cover, check, open_all, pay, Wallet},
    Service,
};
use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig};
use fog_recovery_db::{BlockIndex, RecoveryDb};
use fog_system::network::{Files, Plan, MOB};
use fog_wallet::{NetworkOverrides, NetworkSettings, Session};
use serde_json::Value;

const PORT: u16 = 3223;
const INGEST_PORT: u16 = 3226;
const TOKEN: &str = "cluster-test-admin-token-0123456789";
const FAILOVER_MS: u64 = 3000;

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// `fogd ingest-admin --uri <host's ingest> args...`, with the token.
fn admin(hosts: &Hosts, host: &str, args: &[&str]) -> Output {
    let uri = hosts.url(host, INGEST_PORT);
    let out = common::fogd()
        .args(["ingest-admin", "--uri", &uri])
        .args(args)
        .env("FOG_INGEST_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    println!(
        "ingest-admin {host} {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

fn admin_json(hosts: &Hosts, host: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = admin(hosts, host, &all);
    assert!(out.status.success(), "ingest-admin {host} {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The call fails with exit code 1 and a one-line reason containing `needle`.
fn admin_refused(hosts: &Hosts, host: &str, args: &[&str], needle: &str) -> String {
    let out = admin(hosts, host, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "ingest-admin {args:?} should be refused"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(needle),
        "ingest-admin {args:?}: {err:?} does not say {needle:?}"
    );
    err
}

fn status(hosts: &Hosts, host: &str) -> Value {
    admin_json(hosts, host, &["status"])
}

fn key_of(hosts: &Hosts, host: &str) -> String {
    status(hosts, host)["ingress_public_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn mode_of(hosts: &Hosts, host: &str) -> String {
    status(hosts, host)["mode"].as_str().unwrap().to_owned()
}

fn recovery_json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["recovery-db", "--recovery-db", url, "--json"];
    all.extend_from_slice(args);
    common::ok_json(&all)
}

/// An ingest server on `host` with its state under `dir/host`.
fn start_ingest(
    hosts: &Hosts,
    host: &'static str,
    dir: &Path,
    node: &str,
    recovery_url: &str,
    extra: &[String],
) -> Service {
    let own = dir.join(host);
    let mut args: Vec<String> = [
        "ingest",
        "--node",
        node,
        "--ledger-db",
        &own.join("ledger.redb").display().to_string(),
        "--state-dir",
        &own.join("state").display().to_string(),
        "--listen",
        &hosts.addr(host, INGEST_PORT).to_string(),
        "--user-capacity",
        "4096",
        "--pubkey-expiry-window",
        "3",
        "--failover-timeout-ms",
        &FAILOVER_MS.to_string(),
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.extend_from_slice(extra);
    let s = hosts.start(
        host,
        host,
        &args,
        &[
            ("FOG_RECOVERY_DB", recovery_url),
            ("FOG_INGEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    s.wait_for("admin API on");
    s
}

/// One simulated quoting key in each state directory: the enclaves trust each other (and
/// the wallets trust them).
fn share_quoting_key(dir: &Path, hosts: &[&str]) -> String {
    let quoting = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    for h in hosts {
        let state = dir.join(h).join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("sim-quoting.key"), quoting.as_bytes()).unwrap();
    }
    hex::encode(quoting.verifying_key().as_bytes())
}

fn peers_of(hosts: &Hosts, me: &str, all: &[&str]) -> Vec<String> {
    all.iter()
        .filter(|h| **h != me)
        .flat_map(|h| ["--peer".to_owned(), hosts.url(h, INGEST_PORT)])
        .collect()
}

/// `ledger-tool add-block --node` crediting `keyfile` with fog hints to `key`.
fn add_block(node: &str, keyfile: &Path, key: &str) -> u64 {
    let credit = format!("{}:{}", keyfile.display(), MOB);
    let v = common::ok_json(&[
        "ledger-tool",
        "add-block",
        "--node",
        node,
        "--credit",
        &credit,
        "--ingest-pubkey",
        key,
    ]);
    v[0]["block_index"].as_u64().unwrap()
}

#[test]
fn peers_share_one_key_fail_over_and_retire() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        return;
    };
    const INGESTS: [&str; 3] = ["a", "b", "c"];
    let hosts = Hosts::new(&["node", "a", "b", "c", "view", "ledger", "report"]);
    let recovery_url = hosts.forward_postgres(&runtime, db.url());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let attestation_key = share_quoting_key(&dir, &["a", "b", "c", "view", "ledger"]);
    let node_url = hosts.url("node", PORT);

    // Three peered servers, idle, each with its own key.
    let start = |h: &'static str| {
        start_ingest(
            &hosts,
            h,
            &dir,
            &node_url,
            &recovery_url,
            &peers_of(&hosts, h, &INGESTS),
        )
    };
    let mut ingest: Vec<Option<Service>> = INGESTS.iter().map(|h| Some(start(h))).collect();
    let keys: Vec<String> = INGESTS.iter().map(|h| key_of(&hosts, h)).collect();
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    for h in INGESTS {
        let s = status(&hosts, h);
        assert_eq!(s["mode"], "idle");
        assert_eq!(s["key_registered"], false);
        assert_eq!(s["peers"].as_array().unwrap().len(), 2);
    }

    // Activating a: all three end up with a's key; activating b is refused, naming a.
    let s = admin_json(&hosts, "a", &["activate"]);
    assert_eq!(s["mode"], "active");
    let key = keys[0].clone();
    eventually("b and c hold a's key", Duration::from_secs(20), || {
        key_of(&hosts, "b") == key && key_of(&hosts, "c") == key
    });
    admin_refused(
        &hosts,
        "b",
        &["activate"],
        &format!("peer {} is active", hosts.url("a", INGEST_PORT)),
    );
    assert_eq!(mode_of(&hosts, "b"), "idle");

    // The rest of the system, on a's key.
    let mut services = Vec::new();
    std::fs::create_dir_all(dir.join("node")).unwrap();
    {
        let ledger = LedgerDb::create(dir.join("node").join("ledger.redb")).unwrap();
        let plan = Plan {
            wallets: vec!["alice".into(), "bob".into(), "carol".into()],
            report_url: format!("insecure-fog://{}", hosts.addr("report", PORT)),
            network: NetworkSettings {
                node_url: node_url.clone(),
                view_url: hosts.url("view", PORT),
                ledger_url: hosts.url("ledger", PORT),
                attestation_key,
                attestation_policy: None,
            },
            funding_txouts: 3,
            funding_value: 20 * MOB,
            other_tokens: Vec::new(),
            strangers: 20,
        };
        let k = fog_crypto::RistrettoPublic::from_bytes(&hex::decode(&key).unwrap()).unwrap();
        fog_system::network::create(&Files { dir: dir.clone() }, &plan, &k, &ledger).unwrap();
    }
    let own = |h: &str, p: &str| dir.join(h).join(p).display().to_string();
    let rdb: &[(&str, &str)] = &[("FOG_RECOVERY_DB", &recovery_url)];
    let args = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    services.push(hosts.start(
        "node",
        "node",
        &args(&[
            "node",
            "--ledger-db",
            &own("node", "ledger.redb"),
            "--listen",
            &hosts.addr("node", PORT).to_string(),
            "--block-interval-ms",
            "250",
            "--allow-test-blocks",
        ]),
        &[],
    ));
    services.push(hosts.start(
        "view",
        "view",
        &args(&[
            "view",
            "--state-dir",
            &own("view", "state"),
            "--listen",
            &hosts.addr("view", PORT).to_string(),
            "--partitions",
            "2",
            "--capacity-per-partition",
            "16384",
        ]),
        rdb,
    ));
    services.push(hosts.start(
        "ledger",
        "ledger",
        &args(&[
            "ledger",
            "--node",
            &node_url,
            "--ledger-db",
            &own("ledger", "ledger.redb"),
            "--state-dir",
            &own("ledger", "state"),
            "--listen",
            &hosts.addr("ledger", PORT).to_string(),
            "--key-image-capacity",
            "16384",
        ]),
        &[],
    ));
    let authority = dir.join("authority");
    services.push(hosts.start(
        "report",
        "report",
        &args(&[
            "report",
            "--chain",
            &authority.join("chain.pem").display().to_string(),
            "--key",
            &authority.join("leaf.key").display().to_string(),
            "--listen",
            &hosts.addr("report", PORT).to_string(),
        ]),
        rdb,
    ));

    // A peer restarted without its state gets the shared key back from the active server;
    // one restarted with its state comes back with it.
    ingest[2].as_mut().unwrap().kill9();
    for f in ["ingress.sealed", "platform.key"] {
        std::fs::remove_file(dir.join("c").join("state").join(f)).unwrap();
    }
    ingest[2] = Some(start("c"));
    let fresh = status(&hosts, "c");
    assert_ne!(
        fresh["ingress_public_key"],
        key.as_str(),
        "a new key without state"
    );
    assert_eq!(fresh["keys_received"], 0);
    eventually("a gives c its key again", Duration::from_secs(20), || {
        key_of(&hosts, "c") == key
    });
    ingest[1].as_mut().unwrap().kill9();
    ingest[1] = Some(start("b"));
    let kept = status(&hosts, "b");
    assert_eq!(kept["ingress_public_key"], key.as_str());
    assert_eq!(
        kept["keys_received"], 0,
        "its own sealed copy, not a new push"
    );

    // An idle peer whose key changed (an operator's new-keys) gets the shared key back.
    let changed = admin_json(&hosts, "b", &["new-keys"]);
    assert_ne!(changed["ingress_public_key"], key.as_str());
    eventually("a gives b its key again", Duration::from_secs(20), || {
        key_of(&hosts, "b") == key
    });

    let files = Files { dir: dir.clone() };
    let keyfiles: Vec<PathBuf> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| {
            let s = Session::open(&files.wallet(n), &NetworkOverrides::default(), false).unwrap();
            common::keyfile(&dir, &format!("{n}.key.json"), s.account())
        })
        .collect();

    runtime.block_on(async {
        let oracle = LedgerDb::create(dir.join("oracle.redb")).unwrap();
        let follower = Follower::new(
            oracle.clone(),
            FollowerConfig::new(vec![node_url.clone()])
                .with_poll_interval(Duration::from_millis(50)),
        )
        .await
        .unwrap();
        tokio::spawn(follower.run(std::future::pending()));
        let mut wallets = open_all(&files, &["alice", "bob", "carol"]);
        let mut checked = 0u32;
        all_cover(&mut wallets, 1, &oracle, &mut checked).await;
        let landed = pay(&mut wallets, 0, 1).await;
        all_cover(&mut wallets, landed + 1, &oracle, &mut checked).await;

        // Failover: a is killed while blocks keep coming (credits to the wallets, with
        // hints to the shared key). A peer takes over within the timeout.
        println!("=== kill -9 a");
        let killed = Instant::now();
        let mut a = ingest[0].take().unwrap();
        a.kill9();
        let mut last = 0;
        for i in 0..4 {
            last = add_block(&node_url, &keyfiles[i % 3], &key);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let winner = loop {
            let active: Vec<&str> = ["b", "c"]
                .into_iter()
                .filter(|h| mode_of(&hosts, h) == "active")
                .collect();
            if !active.is_empty() {
                assert_eq!(active.len(), 1, "exactly one peer takes over");
                break active[0];
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no peer took over"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let took = killed.elapsed();
        println!("{winner} took over {took:?} after the kill");
        assert!(
            took < Duration::from_millis(FAILOVER_MS + 4000),
            "the takeover took {took:?}, over the {FAILOVER_MS} ms timeout plus a heartbeat"
        );
        let w = status(&hosts, winner);
        assert_eq!(w["takeovers"], 1);
        assert_eq!(w["ingress_public_key"], key.as_str());
        let loser = if winner == "b" { "c" } else { "b" };
        assert_eq!(mode_of(&hosts, loser), "idle");

        // Every payment and credit found, every balance exact along the way.
        all_cover(&mut wallets, last + 1, &oracle, &mut checked).await;
        let landed = pay(&mut wallets, 1, 2).await;
        all_cover(&mut wallets, landed + 1, &oracle, &mut checked).await;
        // A wallet started from nothing after the hand-over finds exactly its TxOuts.
        let mut fresh = Wallet {
            name: "alice from nothing".into(),
            session: Session::open(&files.wallet("alice"), &NetworkOverrides::default(), true)
                .unwrap(),
            last: 0,
        };
        assert!(check(&mut fresh, &oracle, &mut checked).await.unwrap() > landed);
        println!("{checked} balances checked, every one exact");

        // No missed range; each block stored once, under the one key; a's invocation was
        // fenced off (decommissioned) by the takeover, and the winner's is the one live one.
        let missed = recovery_json(&recovery_url, &["missed-ranges"]);
        assert_eq!(missed["missed_ranges"], serde_json::json!([]));
        let blocks = oracle.num_blocks().unwrap();
        let rdb = fog_recovery_db::open(&recovery_url).await.unwrap();
        let k =
            fog_crypto::CompressedRistrettoPublic(hex::decode(&key).unwrap().try_into().unwrap());
        for b in 0..blocks {
            let outputs = oracle.get_block_contents(b).unwrap().unwrap().outputs.len();
            let records = rdb
                .get_tx_outs_by_block_and_key(&k, BlockIndex(b))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("block {b} was never ingested"));
            assert_eq!(
                records.len(),
                outputs,
                "block {b}: records lost or duplicated"
            );
        }
        let invs = recovery_json(&recovery_url, &["invocations"]);
        let live: Vec<&Value> = invs["invocations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["decommissioned"] == false)
            .collect();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0]["id"], w["invocation"]);
    });

    // Retire: the active server scans to the key's expiry block, then goes idle by itself;
    // nothing can be activated on the key, and the retire cannot be undone.
    let winner = if mode_of(&hosts, "b") == "active" {
        "b"
    } else {
        "c"
    };
    let other = if winner == "b" { "c" } else { "b" };
    let r = admin_json(&hosts, winner, &["retire"]);
    assert_eq!(r["retired"], true);
    // Undone before it took effect, then retired for good.
    let u = admin_json(&hosts, winner, &["unretire"]);
    assert_eq!(u["retired"], false);
    let r = admin_json(&hosts, winner, &["retire"]);
    assert_eq!(r["retired"], true);
    assert_eq!(r["mode"], "active");
    let expiry = r["pubkey_expiry"].as_u64().unwrap();
    admin_refused(
        &hosts,
        other,
        &["activate"],
        &format!("peer {} is active", hosts.url(winner, INGEST_PORT)),
    );
    let mut blocks = 0;
    while mode_of(&hosts, winner) == "active" {
        add_block(&node_url, &keyfiles[0], &key);
        blocks += 1;
        assert!(blocks < 20, "the retired server never went idle");
        std::thread::sleep(Duration::from_millis(300));
    }
    let records = recovery_json(&recovery_url, &["keys"]);
    let rec = records["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == key.as_str())
        .unwrap()
        .clone();
    assert_eq!(rec["retired"], true);
    assert_eq!(
        rec["last_scanned_block"].as_u64().unwrap(),
        expiry,
        "idle exactly once the expiry block was scanned"
    );
    std::thread::sleep(Duration::from_millis(FAILOVER_MS + 1000));
    assert_eq!(
        mode_of(&hosts, other),
        "idle",
        "no takeover of a retired key"
    );
    admin_refused(&hosts, other, &["activate"], "is retired");
    admin_refused(&hosts, winner, &["activate"], "is retired");
    admin_refused(&hosts, winner, &["unretire"], "the retire took effect");

    for s in ingest.into_iter().flatten() {
        s.stop();
    }
    for s in services.into_iter().rev() {
        s.stop();
    }
    drop(hosts);
}

#[test]
fn servers_on_one_key_are_fenced_to_one_writer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        return;
    };
    const INGESTS: [&str; 3] = ["x", "y", "z"];
    let hosts = Hosts::new(&["node", "x", "y", "z"]);
    let recovery_url = hosts.forward_postgres(&runtime, db.url());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    share_quoting_key(&dir, &INGESTS);
    let node_url = hosts.url("node", PORT);

    // A ledger with an origin block (the node's), funding one account.
    let account = fog_account::AccountKey::random(&mut rand::rngs::OsRng);
    let keyfile = common::keyfile(&dir, "someone.json", &account);
    std::fs::create_dir_all(dir.join("node")).unwrap();
    let node_db = dir.join("node").join("ledger.redb").display().to_string();
    common::ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        &node_db,
        "--fund",
        &format!("{}:{}", keyfile.display(), 10 * MOB),
    ]);
    let node = hosts.start(
        "node",
        "node",
        &[
            "node",
            "--ledger-db",
            &node_db,
            "--listen",
            &hosts.addr("node", PORT).to_string(),
            "--allow-test-blocks",
        ]
        .map(String::from),
        &[],
    );
    let idle = ["--start".to_owned(), "idle".to_owned()];
    let mut ingest: Vec<Option<Service>> = INGESTS
        .iter()
        .map(|h| {
            Some(start_ingest(
                &hosts,
                h,
                &dir,
                &node_url,
                &recovery_url,
                &idle,
            ))
        })
        .collect();

    // One key for all three, copied enclave to enclave (they are not peers).
    let key = key_of(&hosts, "x");
    for h in ["y", "z"] {
        assert_ne!(key_of(&hosts, h), key);
        let s = admin_json(&hosts, h, &["sync-keys-from", &hosts.url("x", INGEST_PORT)]);
        assert_eq!(s["ingress_public_key"], key.as_str());
        assert_eq!(s["keys_received"], 1);
    }
    assert_eq!(status(&hosts, "x")["keys_sent"], 2);

    // Refusals while idle.
    admin_refused(
        &hosts,
        "x",
        &["rotate-egress-key"],
        "needs an active server",
    );
    admin_refused(&hosts, "x", &["retire"], "does not know this ingress key");
    admin_refused(&hosts, "x", &["set-expiry-window", "0"], "at least 1");
    let out = admin(&hosts, "x", &["set-peers", "not a uri"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad URI is refused before sending"
    );
    let out = admin(&hosts, "x", &["report-lost-key", "abcd"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad key is refused before sending"
    );
    let s = admin_json(&hosts, "x", &["set-expiry-window", "4"]);
    assert_eq!(s["pubkey_expiry_window"], 4);
    let s = admin_json(&hosts, "x", &["set-peers"]);
    assert_eq!(s["peers"], serde_json::json!([]));
    let out = common::fogd()
        .args(["ingest-admin", "--uri", "http://127.0.0.1:9", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));

    // All three made active, one after the other: each activation fences off the last.
    for h in INGESTS {
        assert_eq!(admin_json(&hosts, h, &["activate"])["mode"], "active");
    }
    let block = add_block(&node_url, &keyfile, &key);
    let rdb = runtime
        .block_on(fog_recovery_db::open(&recovery_url))
        .unwrap();
    let k = fog_crypto::CompressedRistrettoPublic(hex::decode(&key).unwrap().try_into().unwrap());
    eventually("the block is ingested", Duration::from_secs(30), || {
        runtime
            .block_on(rdb.get_last_scanned_block_index(&k))
            .unwrap()
            == Some(BlockIndex(block))
    });
    eventually(
        "exactly one server stays active",
        Duration::from_secs(15),
        || {
            INGESTS
                .iter()
                .filter(|h| mode_of(&hosts, h) == "active")
                .count()
                == 1
        },
    );
    let z = status(&hosts, "z");
    assert_eq!(z["mode"], "active", "the last activation holds the key");
    for h in ["x", "y"] {
        let s = status(&hosts, h);
        assert_eq!(s["mode"], "idle");
        assert_eq!(s["fenced"], 1, "{h} learned it was fenced off");
    }
    let writer = |b: u64| -> Value {
        let invs = recovery_json(&recovery_url, &["invocations", "--key", &key]);
        invs["invocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["start_block"].as_u64().unwrap() <= b
                    && i["last_ingested_block"].as_u64().is_some_and(|l| l >= b)
            })
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        writer(block)["id"],
        z["invocation"],
        "the DB names z's invocation"
    );

    // Refusals while active.
    admin_refused(&hosts, "z", &["new-keys"], "the server is active");
    admin_refused(
        &hosts,
        "z",
        &["sync-keys-from", &hosts.url("x", INGEST_PORT)],
        "the server is active",
    );
    admin_refused(&hosts, "z", &["report-lost-key", &key], "still scans");
    let s = admin_json(&hosts, "z", &["rotate-egress-key"]);
    assert_ne!(s["invocation"], z["invocation"], "a new RNG record");
    let recs = admin_json(&hosts, "z", &["key-records"]);
    assert_eq!(recs["keys"][0]["key"], key.as_str());
    let missed = admin_json(&hosts, "z", &["missed-ranges"]);
    assert_eq!(missed["missed_ranges"], serde_json::json!([]));

    // The winner stops; another is activated and continues at the next block.
    ingest[2].take().unwrap().stop();
    let y = admin_json(&hosts, "y", &["activate"]);
    assert_eq!(y["mode"], "active");
    assert_eq!(y["next_block"].as_u64().unwrap(), block + 1);
    let next = add_block(&node_url, &keyfile, &key);
    assert_eq!(next, block + 1);
    eventually("y ingests the next block", Duration::from_secs(30), || {
        status(&hosts, "y")["next_block"].as_u64().unwrap() == next + 1
    });
    assert_eq!(writer(next)["id"], status(&hosts, "y")["invocation"]);

    // y's host is lost: its key is reported lost from another server, and the blocks y
    // promised but never scanned become one missed range (once).
    let y = status(&hosts, "y");
    let promised = y["pubkey_expiry"].as_u64().unwrap();
    assert_eq!(promised, next + 1 + 3, "the promise moved with the scan");
    ingest[1].take().unwrap().kill9();
    admin_refused(
        &hosts,
        "x",
        &["report-lost-key", &"11".repeat(32)],
        "does not know this ingress key",
    );
    for _ in 0..2 {
        let out = admin(&hosts, "x", &["--json", "report-lost-key", &key]);
        assert!(out.status.success());
    }
    let missed = admin_json(&hosts, "x", &["missed-ranges"]);
    assert_eq!(
        missed["missed_ranges"],
        serde_json::json!([{ "start": next + 1, "end": promised }])
    );
    let recs = recovery_json(&recovery_url, &["keys"]);
    let lost = recs["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == key.as_str())
        .unwrap()
        .clone();
    assert_eq!(lost["lost"], true);
    admin_refused(&hosts, "x", &["activate"], "was reported lost");
    let x = admin_json(&hosts, "x", &["new-keys"]);
    assert_ne!(x["ingress_public_key"], key.as_str());
    let reports = recovery_json(&recovery_url, &["reports"]);
    assert_eq!(reports["reports"][0]["invocation"], y["invocation"]);
    assert_eq!(reports["reports"][0]["pubkey_expiry"], promised);
    admin_refused(
        &hosts,
        "x",
        &["sync-keys-from", &hosts.url("z", INGEST_PORT)],
        &format!("peer {}", hosts.url("z", INGEST_PORT)),
    );
    // Nothing to prune yet: the decommissioned invocations are younger than a day. Then
    // (older than 0 days) the fenced ones that stored nothing, listed, then removed.
    let pruned = recovery_json(&recovery_url, &["prune-empty-invocations"]);
    assert_eq!(pruned["removed"], false);
    assert_eq!(pruned["invocations"], serde_json::json!([]));
    let invs = recovery_json(&recovery_url, &["invocations"]);
    let empty: Vec<Value> = invs["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["decommissioned"] == true && i["last_ingested_block"].is_null())
        .filter(|i| i["id"] != reports["reports"][0]["invocation"])
        .map(|i| i["id"].clone())
        .collect();
    assert!(!empty.is_empty(), "fencing left empty invocations");
    let listed = recovery_json(
        &recovery_url,
        &["prune-empty-invocations", "--older-than-days", "0"],
    );
    assert_eq!(listed["invocations"], Value::Array(empty.clone()));
    let removed = recovery_json(
        &recovery_url,
        &["prune-empty-invocations", "--older-than-days", "0", "--yes"],
    );
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["invocations"], Value::Array(empty.clone()));
    let after = recovery_json(&recovery_url, &["invocations"]);
    assert!(after["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| !empty.contains(&i["id"])));

    for s in ingest.into_iter().flatten() {
        s.stop();
    }
    node.stop();
    drop(hosts);
}
