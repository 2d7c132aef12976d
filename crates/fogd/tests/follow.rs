//! `fogd` services on ledgers of their own, following nodes: scripted blocks given to nodes
//! (`--allow-test-blocks`, `ledger-tool add-block --node`, `append-block`), ingest and fog
//! ledger following different nodes, lagging and catching up, and `ledger-tool sync` killed
//! in the middle and resumed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use fog_account::AccountKey;
use fog_api::fog_ledger::{fog_block_api_client::FogBlockApiClient, BlockRequest};
use fog_ledger_db::LedgerDb;
use fog_recovery_db::{BlockIndex, RecoveryDb, SqliteRecoveryDb};
use fog_test_support::{chain::SyntheticChain, node::ScriptedNode};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use common::*;

fn node(ledger: &Path, test_blocks: bool) -> (Service, String) {
    let mut args = vec![
        "node",
        "--ledger-db",
        ledger.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--block-interval-ms",
        "100",
    ];
    if test_blocks {
        args.push("--allow-test-blocks");
    }
    let service = Service::start("node", &args);
    let addr = service.wait_for_addr("fogd node listening");
    (service, format!("http://{addr}"))
}

/// `GET path` over HTTP/1.1 from `addr`: the whole answer.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// Polls `check` every 50 ms for up to a minute.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ingest_and_fog_ledger_follow_their_own_nodes_lag_and_catch_up() {
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let dir = tempfile::tempdir().unwrap();
    let alice = keyfile(dir.path(), "alice.json", &AccountKey::random(&mut rng));
    let bob = keyfile(dir.path(), "bob.json", &AccountKey::random(&mut rng));
    let origin = dir.path().join("origin.redb");
    ok_json(&[
        "ledger-tool",
        "init",
        "--ledger-db",
        origin.to_str().unwrap(),
        "--fund",
        &format!("{}:5", alice.display()),
    ]);
    // Three nodes on copies of one origin: A and B take test blocks, C does not.
    let copy = |name: &str| {
        let path = dir.path().join(name);
        std::fs::copy(&origin, &path).unwrap();
        path
    };
    let (a, b, c) = (copy("a.redb"), copy("b.redb"), copy("c.redb"));
    let (node_a, url_a) = node(&a, true);
    let (_node_b, url_b) = node(&b, true);
    let (_node_c, url_c) = node(&c, false);

    // Ingest follows A, fog ledger follows B, each into a ledger of its own (created).
    let state = dir.path().join("ingest-state");
    let ingest_ledger = dir.path().join("ingest-ledger.redb");
    let ingest_args = [
        "ingest",
        "--node",
        &url_a,
        "--ledger-db",
        ingest_ledger.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let mut ingest = Service::start("ingest", &ingest_args);
    let key_line = ingest.wait_for("ingress key");
    let ingress = hex::decode(key_line.rsplit(' ').next().unwrap()).unwrap();
    let ingress = fog_crypto::CompressedRistrettoPublic(ingress.try_into().unwrap());
    let ledger_state = dir.path().join("ledger-state");
    let ledger_copy = dir.path().join("fog-ledger.redb");
    // Fog ledger is configured by a file, the environment (its metrics address) and one
    // flag (its listen address, which the file gets wrong on purpose).
    let config = dir.path().join("fog.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\nnode = [{url_b:?}]\nledger-db = {:?}\nstate-dir = {:?}\n\
             listen = \"127.0.0.1:1\"\nkey-image-capacity = 1024\n\n\
             [view]\nlisten = \"not an address\"\n",
            ledger_copy.to_str().unwrap(),
            ledger_state.to_str().unwrap(),
        ),
    )
    .unwrap();
    let fog_ledger = Service::start_env(
        "ledger",
        &[
            "ledger",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[("FOG_METRICS", "127.0.0.1:0")],
    );
    let ledger_url = format!(
        "http://{}",
        fog_ledger.wait_for_addr("fogd ledger: gRPC on")
    );
    let ops_line = fog_ledger.wait_for("fogd ledger: metrics on http://");
    let ops = ops_line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let recovery = SqliteRecoveryDb::open(state.join("recovery.db")).unwrap();
    let ingested = |block: u64| {
        rt.block_on(recovery.get_tx_outs_by_block_and_key(&ingress, BlockIndex(block)))
            .unwrap()
            .is_some()
    };
    let fog_ledger_blocks = || {
        rt.block_on(async {
            let Ok(mut client) = FogBlockApiClient::connect(ledger_url.clone()).await else {
                return 0;
            };
            client
                .get_blocks(BlockRequest { ranges: vec![] })
                .await
                .map(|r| r.into_inner().num_blocks)
                .unwrap_or(0)
        })
    };
    eventually("ingest processes the origin", || ingested(0));
    eventually("fog ledger holds the origin", || fog_ledger_blocks() == 1);

    // Block 1 to both nodes; block 2 to A only, saved for B.
    let credit = format!("{}:7", bob.display());
    let ingest_hex = hex::encode(ingress.0);
    let block1 = dir.path().join("block1.bin");
    let block2 = dir.path().join("block2.bin");
    let printed = ok_json(&[
        "ledger-tool",
        "add-block",
        "--node",
        &url_a,
        "--node",
        &url_b,
        "--credit",
        &credit,
        "--ingest-pubkey",
        &ingest_hex,
        "--out",
        block1.to_str().unwrap(),
    ]);
    assert_eq!(printed[0]["block_index"], 1);
    ok_json(&[
        "ledger-tool",
        "add-block",
        "--node",
        &url_a,
        "--credit",
        &credit,
        "--ingest-pubkey",
        &ingest_hex,
        "--out",
        block2.to_str().unwrap(),
    ]);
    eventually("ingest processes block 2 from A", || ingested(2));
    eventually("fog ledger holds block 1 from B", || {
        fog_ledger_blocks() == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fog_ledger_blocks(), 2, "B does not have block 2 yet");

    // B gets block 2 later, from the file: fog ledger catches up.
    let out = ok_json(&[
        "ledger-tool",
        "append-block",
        "--node",
        &url_b,
        block2.to_str().unwrap(),
    ]);
    assert_eq!(out["block_index"], 2);
    eventually("fog ledger catches up", || fog_ledger_blocks() == 3);
    // Its operations endpoint shows the follower beside the service, and says ready.
    eventually("fog ledger is ready", || {
        http_get(&ops, "/ready").starts_with("HTTP/1.1 200")
    });
    eventually("the key-image store holds block 2", || {
        http_get(&ops, "/metrics").contains("fog_ledger_store_blocks 3\n")
    });
    let metrics = http_get(&ops, "/metrics");
    assert!(
        metrics.contains("fog_ledger_follower_local_blocks 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fog_ledger_follower_contradictions_total 0\n"),
        "{metrics}"
    );

    // The same block again, or to a node without the flag: clear refusals, exit code 2.
    let again = run(&[
        "ledger-tool",
        "append-block",
        "--node",
        &url_b,
        block2.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refused the block"));
    let refused = run(&[
        "ledger-tool",
        "add-block",
        "--node",
        &url_c,
        "--credit",
        &credit,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--allow-test-blocks"), "{stderr}");

    // Ingest killed -9 and restarted on its own ledger copy: it resumes and goes on.
    ingest.kill9();
    ok_json(&[
        "ledger-tool",
        "add-block",
        "--node",
        &url_a,
        "--credit",
        &credit,
        "--ingest-pubkey",
        &ingest_hex,
    ]);
    let ingest = Service::start("ingest", &ingest_args);
    eventually("restarted ingest processes block 3", || ingested(3));
    ingest.stop();
    fog_ledger.stop();
    node_a.stop();

    // Every copy holds the same chain as node A.
    let ids = |path: &Path| {
        let db = LedgerDb::open(path).unwrap();
        (0..db.num_blocks().unwrap())
            .map(|i| db.get_block(i).unwrap().unwrap().id)
            .collect::<Vec<_>>()
    };
    let chain = ids(&a);
    assert_eq!(chain.len(), 4);
    assert_eq!(ids(&ingest_ledger), chain);
    assert_eq!(ids(&ledger_copy), chain[..3]);
}

#[test]
fn ledger_tool_sync_killed_mid_way_resumes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut chain = SyntheticChain::new(77);
    chain.grow(300, 2);
    let node = rt.block_on(ScriptedNode::spawn(chain.blocks().to_vec()));
    node.hang_from(150);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.redb");
    let args = [
        "ledger-tool",
        "sync",
        "--node",
        &node.url(),
        "--ledger-db",
        path.to_str().unwrap(),
    ];
    let mut sync = Service::start("sync", &args);
    // Wait for a committed batch past the first, then for the call that hangs.
    let mut held = 0u64;
    while held < 100 {
        let line = sync.wait_for("the ledger holds");
        held = line.split(' ').nth(4).unwrap().parse().unwrap();
    }
    rt.block_on(node.wait_for_call_from(150));
    sync.kill9();
    drop(sync);

    node.release();
    let out = run(&args);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first: u64 = stderr
        .lines()
        .find(|l| l.contains("the ledger holds"))
        .and_then(|l| l.split(' ').nth(4))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        first >= held,
        "resumed at {first}, held {held} before the kill"
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["block_count"], 300);
    let db = LedgerDb::open(&path).unwrap();
    for i in 0..300 {
        assert_eq!(
            db.get_block(i).unwrap().unwrap().id,
            chain.block(i as usize).0.id
        );
    }
}
