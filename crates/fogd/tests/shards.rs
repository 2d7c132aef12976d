//! View stores and key-image stores by block range behind a view router and a ledger
//! router, each on a host of its own (network namespaces), on Postgres; the wallets talk to
//! the routers as to one view and one fog ledger (their key-image checks, rings with proofs
//! and blocks all go through the ledger router):
//!
//! - the router is not ready until a store from block 0 answers (`/ready`, through the
//!   operations endpoint), and serves once stores are added with `fogd router-admin`;
//! - with stores for `0..3` and `3..6` only, balances stop at block count 6 however long the
//!   chain grows, and are exact; adding the newest store (`6..`) at run time lets them reach
//!   the chain's end;
//! - a store killed with SIGKILL while wallets poll: the count stops at the last contiguous
//!   cover, every balance stays exact, the router's admin API shows the store down; a
//!   replacement store (a new process on the same range) loads and the balances resume;
//! - a wallet started from nothing, through the router, finds exactly its TxOuts.
//!
//! Needs root, `ip` and Postgres (`FOG_TEST_POSTGRES_URL`); fails without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{
    netns::Hosts,
    wallets::{all_cover, check, open_all, pay, Wallet},
    Service,
};
use fog_ledger_db::LedgerDb;
use fog_ledger_follower::{Follower, FollowerConfig};
use fog_system::network::{Files, Plan, MOB};
use fog_wallet::{NetworkOverrides, NetworkSettings, Session};
use serde_json::Value;

const PORT: u16 = 3223;
const INGEST_PORT: u16 = 3226;
const ADMIN_PORT: u16 = 3229;
const LEDGER_ADMIN_PORT: u16 = 3230;
const OPS_PORT: u16 = 3300;
const TOKEN: &str = "router-test-admin-token-0123456789";

/// `GET path` on `addr`: the status code.
fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn router_admin(hosts: &Hosts, args: &[&str]) -> Value {
    admin_of(hosts, "router", ADMIN_PORT, args)
}

/// `fogd router-admin` against the router on `host`.
fn admin_of(hosts: &Hosts, host: &str, port: u16, args: &[&str]) -> Value {
    let uri = hosts.url(host, port);
    let out = common::fogd()
        .args(["router-admin", "--uri", &uri, "--json"])
        .args(args)
        .env("FOG_ROUTER_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    println!(
        "router-admin {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(out.status.success(), "router-admin {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
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

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A view store of `blocks` on `host`.
fn start_store(hosts: &Hosts, host: &'static str, dir: &Path, blocks: &str, rdb: &str) -> Service {
    let s = hosts.start(
        host,
        host,
        &args(&[
            "view",
            "--state-dir",
            &dir.join(host).join("state").display().to_string(),
            "--listen",
            &hosts.addr(host, PORT).to_string(),
            "--partitions",
            "2",
            "--capacity-per-partition",
            "4096",
            "--blocks",
            blocks,
        ]),
        &[("FOG_RECOVERY_DB", rdb)],
    );
    s.wait_for("FogViewAPI on");
    s
}

fn store_status<'a>(stores: &'a Value, uri: &str) -> &'a Value {
    stores["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uri"] == uri)
        .unwrap_or_else(|| panic!("{uri} is not listed"))
}

#[test]
fn stores_behind_a_router_serve_wallets_exactly_through_a_store_loss() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = fog_test_support::postgres::TempDatabase::create() else {
        panic!("this test needs Postgres: set FOG_TEST_POSTGRES_URL");
    };
    const STORES: [&str; 3] = ["store0", "store1", "store2"];
    let hosts = Hosts::new(&[
        "node", "ingest", "lrouter", "ki0", "ki1", "report", "router", "store0", "store1", "store2",
    ]);
    let recovery_url = hosts.forward_postgres(&runtime, db.url());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // One simulated quoting key for every enclave (stores and router trust each other).
    let quoting = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    for h in [
        "ingest", "lrouter", "ki0", "ki1", "router", "store0", "store1", "store2",
    ] {
        let state = dir.join(h).join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("sim-quoting.key"), quoting.as_bytes()).unwrap();
    }
    let attestation_key = hex::encode(quoting.verifying_key().as_bytes());
    let node_url = hosts.url("node", PORT);
    let own = |h: &str, p: &str| dir.join(h).join(p).display().to_string();
    let rdb: &[(&str, &str)] = &[("FOG_RECOVERY_DB", &recovery_url)];

    // Ingest first: the network's addresses carry its key.
    let ingest = hosts.start(
        "ingest",
        "ingest",
        &args(&[
            "ingest",
            "--node",
            &node_url,
            "--ledger-db",
            &own("ingest", "ledger.redb"),
            "--state-dir",
            &own("ingest", "state"),
            "--listen",
            &hosts.addr("ingest", INGEST_PORT).to_string(),
            "--user-capacity",
            "4096",
        ]),
        &[
            ("FOG_RECOVERY_DB", &recovery_url),
            ("FOG_INGEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    ingest.wait_for("admin API on");
    let status = {
        let out = common::fogd()
            .args([
                "ingest-admin",
                "--uri",
                &hosts.url("ingest", INGEST_PORT),
                "--json",
                "status",
            ])
            .env("FOG_INGEST_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let key = status["ingress_public_key"].as_str().unwrap().to_owned();
    std::fs::create_dir_all(dir.join("node")).unwrap();
    {
        let ledger = LedgerDb::create(dir.join("node").join("ledger.redb")).unwrap();
        let plan = Plan {
            wallets: vec!["alice".into(), "bob".into()],
            report_url: format!("insecure-fog://{}", hosts.addr("report", PORT)),
            network: NetworkSettings {
                node_url: node_url.clone(),
                // The wallets talk to the router as to a view.
                view_url: hosts.url("router", PORT),
                // And to the ledger router as to a fog ledger.
                ledger_url: hosts.url("lrouter", PORT),
                attestation_key,
                attestation_policy: None,
            },
            funding_txouts: 3,
            funding_value: 20 * MOB,
            other_tokens: Vec::new(),
            strangers: 10,
        };
        let k = fog_crypto::RistrettoPublic::from_bytes(&hex::decode(&key).unwrap()).unwrap();
        fog_system::network::create(&Files { dir: dir.clone() }, &plan, &k, &ledger).unwrap();
    }
    let _node = hosts.start(
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
    );
    // Key-image stores of blocks 0..5 and 5.., and the ledger router over them.
    let _key_image_stores: Vec<Service> = [("ki0", "0..5"), ("ki1", "5..")]
        .into_iter()
        .map(|(h, blocks)| {
            let s = hosts.start(
                h,
                h,
                &args(&[
                    "ledger",
                    "--node",
                    &node_url,
                    "--ledger-db",
                    &own(h, "ledger.redb"),
                    "--state-dir",
                    &own(h, "state"),
                    "--listen",
                    &hosts.addr(h, PORT).to_string(),
                    "--key-image-capacity",
                    "4096",
                    "--key-image-blocks",
                    blocks,
                ]),
                &[],
            );
            s.wait_for("gRPC on");
            s
        })
        .collect();
    let ledger_router = hosts.start(
        "lrouter",
        "lrouter",
        &args(&[
            "ledger-router",
            "--node",
            &node_url,
            "--ledger-db",
            &own("lrouter", "ledger.redb"),
            "--state-dir",
            &own("lrouter", "state"),
            "--listen",
            &hosts.addr("lrouter", PORT).to_string(),
            "--admin-listen",
            &hosts.addr("lrouter", LEDGER_ADMIN_PORT).to_string(),
            "--probe-interval-ms",
            "200",
            "--store",
            &hosts.url("ki0", PORT),
            "--store",
            &hosts.url("ki1", PORT),
        ]),
        &[("FOG_ROUTER_ADMIN_TOKEN", TOKEN)],
    );
    ledger_router.wait_for("gRPC on");
    let authority = dir.join("authority");
    let _report = hosts.start(
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
    );

    // The router, with no store yet: not ready.
    let router = hosts.start(
        "router",
        "router",
        &args(&[
            "view-router",
            "--state-dir",
            &own("router", "state"),
            "--listen",
            &hosts.addr("router", PORT).to_string(),
            "--admin-listen",
            &hosts.addr("router", ADMIN_PORT).to_string(),
            "--metrics",
            &hosts.addr("router", OPS_PORT).to_string(),
            "--probe-interval-ms",
            "200",
        ]),
        &[("FOG_ROUTER_ADMIN_TOKEN", TOKEN)],
    );
    router.wait_for("FogViewAPI on");
    let ops = hosts.addr("router", OPS_PORT);
    eventually("the ops endpoint answers", Duration::from_secs(20), || {
        http_status(ops, "/live") == 200
    });
    assert_eq!(http_status(ops, "/ready"), 503, "ready without a store");

    let mut stores: Vec<Option<Service>> = vec![
        Some(start_store(&hosts, "store0", &dir, "0..3", &recovery_url)),
        Some(start_store(&hosts, "store1", &dir, "3..6", &recovery_url)),
        None,
    ];
    for h in &STORES[..2] {
        router_admin(&hosts, &["add-store", &hosts.url(h, PORT)]);
    }
    eventually("the router is ready", Duration::from_secs(30), || {
        http_status(ops, "/ready") == 200
    });

    let files = Files { dir: dir.clone() };
    let keyfiles: Vec<PathBuf> = ["alice", "bob"]
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
        let mut wallets = open_all(&files, &["alice", "bob"]);
        let mut checked = 0u32;
        all_cover(&mut wallets, 1, &oracle, &mut checked).await;

        // The chain grows to 8 blocks: the two stores cover 0..6 and no further.
        let mut last = 0;
        for i in 0..7 {
            last = add_block(&node_url, &keyfiles[i % 2], &key);
        }
        assert!(last >= 7, "the chain reaches past the second store");
        all_cover(&mut wallets, 6, &oracle, &mut checked).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        for w in wallets.iter_mut() {
            let n = check(w, &oracle, &mut checked).await.unwrap();
            assert_eq!(n, 6, "{}: counted past the stores' cover", w.name);
        }
        let s = router_admin(&hosts, &["stores"]);
        assert_eq!(s["cover"], 6);

        // The newest store, added while running: the wallets reach the chain's end.
        stores[2] = Some(start_store(&hosts, "store2", &dir, "6..", &recovery_url));
        let s = router_admin(&hosts, &["add-store", &hosts.url("store2", PORT)]);
        assert_eq!(s["stores"].as_array().unwrap().len(), 3);
        all_cover(&mut wallets, last + 1, &oracle, &mut checked).await;
        let landed = pay(&mut wallets, 0, 1).await;
        all_cover(&mut wallets, landed + 1, &oracle, &mut checked).await;

        // store1 (blocks 3..6) is killed while the wallets poll and blocks keep coming: the
        // count stops at the cover (3 blocks, below what the wallets confirmed, so theirs
        // stays), every balance stays exact.
        println!("=== kill -9 store1");
        stores[1].as_mut().unwrap().kill9();
        stores[1] = None;
        let confirmed: Vec<u64> = wallets.iter().map(|w| w.last).collect();
        for i in 0..3 {
            last = add_block(&node_url, &keyfiles[i % 2], &key);
            for w in wallets.iter_mut() {
                check(w, &oracle, &mut checked).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (w, before) in wallets.iter_mut().zip(&confirmed) {
            let n = check(w, &oracle, &mut checked).await.unwrap();
            assert_eq!(
                n, *before,
                "{}: the count moved while store1 was down",
                w.name
            );
        }
        let s = router_admin(&hosts, &["stores"]);
        assert_eq!(s["cover"], 3);
        let down = store_status(&s, &hosts.url("store1", PORT));
        assert_eq!(down["up"], false);
        assert!(down["errors"].as_u64().unwrap() > 0);
        assert_eq!(store_status(&s, &hosts.url("store0", PORT))["up"], true);

        // A replacement store on the same range: it loads, the balances resume to the end.
        stores[1] = Some(start_store(&hosts, "store1", &dir, "3..6", &recovery_url));
        all_cover(&mut wallets, last + 1, &oracle, &mut checked).await;
        let s = router_admin(&hosts, &["stores"]);
        assert_eq!(s["cover"].as_u64().unwrap(), last + 1);
        assert_eq!(store_status(&s, &hosts.url("store1", PORT))["up"], true);

        // A wallet started from nothing finds exactly its TxOuts through the router.
        let mut fresh = Wallet {
            name: "bob from nothing".into(),
            session: Session::open(&files.wallet("bob"), &NetworkOverrides::default(), true)
                .unwrap(),
            last: 0,
        };
        assert_eq!(
            check(&mut fresh, &oracle, &mut checked).await.unwrap(),
            last + 1
        );
        println!("{checked} balances checked through the routers, every one exact");
        // The ledger router answered every key-image check from its two stores.
        let l = admin_of(&hosts, "lrouter", LEDGER_ADMIN_PORT, &["stores"]);
        assert_eq!(l["cover"].as_u64().unwrap(), last + 1);
        for st in l["stores"].as_array().unwrap() {
            assert_eq!(st["up"], true);
            assert!(st["queries"].as_u64().unwrap() > 0);
        }
    });
    drop(router);
}
